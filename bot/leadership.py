"""Leadership: the scheduler runs only in the process that holds the leader lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.runtime import Runtime
from storage.leader import LeaderLock

log = logging.getLogger(__name__)


class Leadership:
    """Runs the leader's work (scheduler, catch-up, resumed broadcasts) while this process
    holds the leader lock; a standby tries to take it every ``interval`` seconds.

    Only the leader fetches and broadcasts, so several webhook processes can serve users
    while Telegram's per-bot send rate is spent by one. A leader that dies releases the lock
    (see :mod:`storage.leader`); the next try of a standby takes over, catches up and
    finishes the deliveries the dead leader left pending.

    Never two leaders at work: the leader checks its lock every ``interval`` (a check that
    does not answer within it counts as lost) and stops its work at once when it is lost; a
    new leader waits ``1.5 × interval`` after taking the lock before it starts, by which time
    an old leader that lost the lock without dying has stopped.
    """

    def __init__(self, runtime: Runtime, lock: LeaderLock, interval: float) -> None:
        self.runtime = runtime
        self.lock = lock
        self.interval = interval
        self.grace = interval * 1.5
        self.is_leader = False
        self._loop_task: asyncio.Task[None] | None = None
        self._work: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="leadership")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await self._step_down()
        await asyncio.to_thread(self.lock.release)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # one bad round must not end the election
                log.exception("leadership check failed")
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        if self.is_leader:
            if not await self._still_held():
                log.error("lost the leader lock: stopping the scheduler and broadcasts")
                await self._step_down()
            return
        if not await asyncio.to_thread(self.lock.try_acquire):
            return
        await asyncio.sleep(self.grace)
        if not await self._still_held():
            return
        log.info("this process is now the leader: it runs the scheduler and broadcasts")
        self.is_leader = True
        self.runtime.ctx.metrics.is_leader.set(1)
        self._work = asyncio.get_running_loop().create_task(self._lead(), name="leader")

    async def _lead(self) -> None:
        try:
            await self.runtime.catch_up()
        except Exception:
            log.exception("catching up failed; the scheduler starts all the same")
        if self.is_leader:
            self.runtime.schedule().start()

    async def _still_held(self) -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.lock.still_held), self.interval)
        except TimeoutError:
            log.error("the leader lock did not answer within %.1f s: giving it up", self.interval)
            self.lock.abandon()
            return False

    async def _step_down(self) -> None:
        self.is_leader = False
        self.runtime.ctx.metrics.is_leader.set(0)
        scheduler, self.runtime.scheduler = self.runtime.scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)  # also cancels the jobs running on the loop
        for work in (self._work, self.runtime.alerting):
            if work is not None and not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
        self._work = self.runtime.alerting = None
