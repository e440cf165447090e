"""The leader's work: fetch and alert, compose and deliver each edition at its time, finish
what is pending, catch up after downtime. One :class:`Runtime` per process; only the leader's
scheduler runs it (see :mod:`bot.leadership`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from telegram.error import TelegramError

from bot import commands
from bot.alerts import send_alerts
from bot.commands import CommandError
from bot.context import AppContext
from bot.delivery import Blocked, Broadcaster, BroadcastReport, Messages, Sender
from digest.catalog import t
from digest.errors import DigestError
from digest.html import esc
from storage import StorageError
from storage.types import Chat

log = logging.getLogger(__name__)

RESUME_WINDOW = timedelta(hours=6)
# A delivery failing for a passing reason is tried again for this long at most (a newer
# digest of its edition supersedes it sooner).
RETRY_WINDOW = timedelta(hours=24)
ALERT_MAX_WAIT = 30.0  # seconds of flood control an alert waits; longer: the next run


def last_fire_time(cron: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` that ``cron`` fired (within eight days)."""
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    fire = trigger.get_next_fire_time(None, now - timedelta(days=8))
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


@dataclass
class Runtime:
    """What the scheduled jobs need, built once the bot is up."""

    ctx: AppContext
    broadcaster: Broadcaster
    sender: Sender
    scheduler: AsyncIOScheduler | None = None
    jobs: list[str] = field(default_factory=list)
    # Whether this process sends broadcasts itself; a standby only queues them for the leader.
    sends_itself: Callable[[], bool] = lambda: True
    sending: set[int] = field(default_factory=set)  # digests this process is delivering now
    alerting: asyncio.Task[int] | None = None  # the alerts of the last fetch, while they run

    async def fetch_and_alert(self) -> None:
        self.ensure_edition_jobs()
        try:
            outcomes = await commands.fetch(self.ctx)
        except (DigestError, StorageError) as exc:  # a setting or the database: say it once
            log.error("fetch cycle failed: %s", exc)
            return
        log.info(
            "fetch cycle: %d sources, %d new items, %d failed",
            len(outcomes),
            sum(o.new for o in outcomes),
            sum(o.status == "error" for o in outcomes),
        )
        # Alerts go on their own: a chat under a long flood-control wait must not hold up the
        # next fetch ("maximum number of running instances reached").
        if self.alerting is None or self.alerting.done():
            self.alerting = asyncio.create_task(self.alert())

    async def alert(self) -> int:
        try:
            sent = await send_alerts(self.ctx, self.sender, self.ctx.settings.alerts_per_hour)
        except (DigestError, StorageError) as exc:
            log.error("alerts failed: %s", exc)
            return 0
        if sent:
            log.info("alerts: %d messages", sent)
        return sent

    def window_key(self, edition: str, zone: str) -> str:
        """Each (edition, time zone) has its own window: Berlin's morning digest is not
        Shanghai's."""
        return edition if zone == self.ctx.settings.timezone else f"{edition}@{zone}"

    async def run_edition(self, edition: str, zone: str | None = None) -> BroadcastReport:
        """Compose the window of the edition in ``zone``, save it, deliver it to the
        edition's subscribers who live in that zone."""
        zone = zone or self.ctx.settings.timezone
        key = self.window_key(edition, zone)
        # off the event loop: a language model may take seconds to write it
        result = await asyncio.to_thread(commands.compose_digest, self.ctx, edition=key, save=True)
        assert result.saved_id is not None
        chats = self.ctx.db.chats.subscribers(edition, zone)
        messages = commands.messages_for_chats(self.ctx, result.digest, result.saved_id)
        report = await self.broadcast(result.saved_id, messages, chats)
        log.info("edition %s: digest %s to %d chats: %s", key, result.saved_id, len(chats), report)
        return report

    def _zones(self, edition: str) -> set[str]:
        return {self.ctx.settings.timezone} | self.ctx.db.chats.timezones(edition)

    async def broadcast(
        self, digest_id: int, messages: Messages, chats: list[Chat] | None
    ) -> BroadcastReport:
        """Deliver now if this process sends (the leader, or the only process); otherwise
        queue the deliveries: the leader's delivery job picks them up within seconds, so one
        process spends the bot's send rate."""
        if not self.sends_itself():
            queued = self.ctx.db.deliveries.enqueue(digest_id, chats or [], self.ctx.clock())
            log.info("digest %s: %d deliveries queued for the leader", digest_id, queued)
            return BroadcastReport(queued=queued)
        self._learn_username()
        self.sending.add(digest_id)
        try:
            return await self.broadcaster.broadcast(digest_id, messages, chats)
        finally:
            self.sending.discard(digest_id)

    async def report_push(self, digest_id: int) -> None:
        """Tell the admin who approved a push how it went, once its deliveries have ended
        (a standby queued it; this process, the leader, sent it)."""
        report = commands.push_report(self.ctx, digest_id)
        if report is None:
            return
        known = self.ctx.db.chats.get(report.admin_id)
        language = known.language if known else self.ctx.settings.digest_language
        text = t(
            "push.report",
            language,
            edition=report.edition,
            sent=report.sent,
            failed=report.failed,
            blocked=report.blocked,
            seconds=round(report.seconds),
        )
        admin = known or Chat(0, report.admin_id, "private", None, language, "UTC", True)
        try:
            await self.sender.send(admin, esc(text), BroadcastReport())
        except (TelegramError, Blocked) as exc:
            log.warning("push %s: could not tell admin %s: %s", digest_id, report.admin_id, exc)

    def _learn_username(self) -> None:
        """The bot's @username, for the digest's links to company cards (known once the bot
        has asked getMe)."""
        if self.ctx.bot_username is None:
            with contextlib.suppress(RuntimeError):  # not initialised: plain names this time
                self.ctx.bot_username = self.sender.bot.username

    async def deliver_pending(self) -> None:
        """Finish deliveries left pending by anyone: queued by a standby, or interrupted when
        the process sending them died."""
        since = self.ctx.clock() - RETRY_WINDOW
        expired = self.ctx.db.deliveries.expire(since, self.ctx.clock())
        if expired:
            log.warning("gave up %d deliveries still failing after %s", expired, RETRY_WINDOW)
        for digest_id in self.ctx.db.deliveries.digests_with_pending(since):
            if digest_id in self.sending:
                continue
            try:
                digest = commands.digest_by_id(self.ctx, digest_id)
                log.info("delivering the pending messages of digest %s", digest_id)
                await self.broadcast(
                    digest_id, commands.messages_for_chats(self.ctx, digest, digest_id), None
                )
                await self.report_push(digest_id)
            except (CommandError, DigestError, KeyError, ValueError) as exc:
                # One digest that cannot be sent must not come back every interval and hold up
                # the others: its deliveries fail, with the reason admins see.
                reason = f"the digest cannot be delivered: {exc!r}"
                log.error("digest %s: %s", digest_id, reason)
                self.ctx.db.deliveries.fail_pending(digest_id, reason, self.ctx.clock())

    async def catch_up(self) -> None:
        """An edition whose last scheduled time passed while the bot was down runs once now;
        deliveries an interrupted broadcast left pending are finished."""
        now = self.ctx.clock()
        for edition, cron in self.ctx.settings.editions.items():
            for zone in sorted(self._zones(edition)):
                key = self.window_key(edition, zone)
                latest = self.ctx.db.digests.latest(key)
                if latest is None:
                    continue
                await self.resume(latest.id, edition, zone, latest.created_at)
                fired = last_fire_time(cron, ZoneInfo(zone), now)
                if fired is not None and latest.created_at < fired:
                    log.info("edition %s missed its %s run: running it now", key, fired)
                    await self.run_edition(edition, zone)

    async def resume(self, digest_id: int, edition: str, zone: str, created_at: datetime) -> None:
        """Finish deliveries left pending; a digest saved just before a crash that had no
        time to queue its deliveries gets them now."""
        counts = self.ctx.db.deliveries.counts(digest_id)
        fresh = self.ctx.clock() - created_at < RESUME_WINDOW
        if not counts.get("pending") and (counts or not fresh):
            return
        digest = commands.digest_by_id(self.ctx, digest_id)
        chats = None if counts else self.ctx.db.chats.subscribers(edition, zone)
        log.info("resuming the delivery of digest %s", digest_id)
        await self.broadcast(
            digest_id, commands.messages_for_chats(self.ctx, digest, digest_id), chats
        )

    def schedule(self) -> AsyncIOScheduler:
        zone = ZoneInfo(self.ctx.settings.timezone)
        scheduler = AsyncIOScheduler(timezone=zone)
        scheduler.add_job(
            self.fetch_and_alert,
            "interval",
            minutes=self.ctx.settings.fetch_interval_minutes,
            id="fetch",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(zone),
        )
        scheduler.add_job(
            self.deliver_pending,
            "interval",
            seconds=self.ctx.settings.leader_check_seconds,  # how soon a queued push goes
            id="deliveries",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(zone),
        )
        self.scheduler = scheduler
        self.ensure_edition_jobs()
        return scheduler

    def ensure_edition_jobs(self) -> None:
        """A job per (edition, time zone) that has subscribers; a chat that moves to a new
        zone gets its job at the next fetch cycle."""
        if self.scheduler is None:
            return
        for edition, cron in self.ctx.settings.editions.items():
            for zone in self._zones(edition):
                job_id = f"edition:{self.window_key(edition, zone)}"
                if self.scheduler.get_job(job_id) is None:
                    self.scheduler.add_job(
                        self.run_edition,
                        CronTrigger.from_crontab(cron, timezone=ZoneInfo(zone)),
                        args=[edition, zone],
                        id=job_id,
                        coalesce=True,
                        max_instances=1,
                        misfire_grace_time=3600,
                    )
