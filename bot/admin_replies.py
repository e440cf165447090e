"""The replies to the admins' commands (the conversation checks the admin list first)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot import commands
from bot.chat import Button, Reply, Turn
from bot.metrics import DatabaseFigures
from digest.catalog import t
from digest.compose.render import render_telegram
from digest.html import esc
from digest.urls import display_url


async def preview(turn: Turn) -> list[Reply]:
    edition = commands.check_editions(turn.ctx, turn.args[:1])[0]
    composed = await asyncio.to_thread(  # a model may write it: seconds, off the loop
        commands.compose_digest, turn.ctx, edition=edition, language=turn.language
    )
    return [Reply(m) for m in render_telegram(composed.digest, marks=turn.ctx.writer is not None)]


async def push(turn: Turn) -> list[Reply]:
    edition = commands.check_editions(turn.ctx, turn.args[:1])[0]
    pending = await asyncio.to_thread(
        commands.request_push, turn.ctx, edition, turn.caller.user_id, turn.language
    )
    buttons = (
        (
            Button(t("push.approve", turn.language), f"approve:{pending.token}"),
            Button(t("push.cancel", turn.language), f"cancel:{pending.token}"),
        ),
    )
    marks = turn.ctx.writer is not None  # say which points the model wrote
    messages = [Reply(m) for m in render_telegram(pending.digest, marks=marks)]
    return [*messages, Reply(turn.t("push.ask", count=pending.subscribers), buttons)]


async def decide_push(turn: Turn, decision: str, token: str) -> list[Reply]:
    """Approve or Cancel pressed under a preview."""
    if not turn.is_admin:
        return turn.reply("refuse.admin_action")
    if decision == "approve" and turn.broadcast is None:  # decided later, where it can be
        return turn.reply("push.cannot_send")
    outcome = await commands.decide_push(turn.ctx, token, decision, turn.broadcast)
    params: dict[str, int] = {}
    if not outcome.decided:
        key = "push.already_handled"
    elif decision == "cancel":
        key = "push.cancelled"
    elif outcome.queued:
        key, params = "push.queued", {"count": outcome.queued}
    else:
        key = "push.sent"
        params = {
            "sent": outcome.sent,
            "failed": outcome.failed,
            "blocked": outcome.blocked,
            "seconds": round(outcome.seconds),
        }
    return [Reply(turn.t(key, **params), edit=True)]


async def fetch(turn: Turn) -> list[Reply]:
    """One summary line ("12 unchanged, 2 with news: 4 new, 3 relevant, 1 failed"), then a
    line for each source that brought news or failed — never one per unchanged source."""
    outcomes = sorted(await commands.fetch(turn.ctx), key=lambda o: o.source_id)
    fresh = [o for o in outcomes if o.status == "ok" and o.new]
    failed = [o for o in outcomes if o.status == "error"]
    summary = turn.t(
        "fetch.summary",
        unchanged=len(outcomes) - len(fresh) - len(failed),
        fresh=len(fresh),
        new=sum(o.new for o in fresh),
        relevant=sum(o.relevant for o in fresh),
        failed=len(failed),
    )
    lines = [f"<b>{turn.t('fetch.title')}</b>", summary]
    for o in fresh:
        detail = t("fetch.new", turn.language, count=o.new)
        lines.append(f"✓ {o.source_id}. {esc(o.title or o.url)}: {esc(detail)}")
    for o in failed:
        lines.append(f"✗ {o.source_id}. {esc(o.title or o.url)}: {esc(o.error or o.status)}")
    return [Reply("\n".join(lines[:40]))]


async def stats(turn: Turn) -> list[Reply]:
    # The same figures as the Prometheus metrics (bot/metrics.py), so the two agree.
    figures = DatabaseFigures.read(turn.ctx.db)
    lines = [
        f"<b>{turn.t('stats.title')}</b>",
        turn.t("stats.subscribers", counts=_pairs(figures.chats)),
        turn.t("stats.items", count=figures.items),
        turn.t("stats.deliveries", counts=_pairs(figures.deliveries)),
        turn.t("stats.pending", count=figures.pending_deliveries),
        turn.t("stats.failing", count=figures.failing_sources),
        *_model_use(turn),
        f"<b>{turn.t('stats.process')}</b>",
        *(esc(f"{name}: {value:g}") for name, value in turn.ctx.metrics.process_figures()),
        f"<b>{turn.t('stats.sources')}</b>",
    ]
    for s in turn.ctx.db.sources.all():
        state = t("stats.on" if s.enabled else "stats.off", turn.language)
        name = s.title or display_url(s.url)
        if s.error_count:
            line = turn.t(
                "stats.source_failing",
                id=s.id,
                name=name,
                state=state,
                count=s.error_count,
                error=s.last_error,
            )
        else:
            line = turn.t("stats.source_ok", id=s.id, name=name, state=state)
        lines.append(line)
    return [Reply("\n".join(lines[:80]))]


async def addsource(turn: Turn) -> list[Reply]:
    if not turn.args:
        return turn.reply("addsource.usage")
    source, created = commands.add_source(turn.ctx, turn.args[0])
    key = "addsource.added" if created else "addsource.present"
    return turn.reply(key, id=source.id, url=display_url(source.url))


async def delsource(turn: Turn) -> list[Reply]:
    if not turn.args or not turn.args[0].isdigit():
        return turn.reply("delsource.usage")
    commands.remove_source(turn.ctx, int(turn.args[0]))
    return turn.reply("delsource.done", id=turn.args[0])


def _model_use(turn: Turn) -> list[str]:
    """The language model's last day, when one is configured: what it wrote, what the check
    refused, what failed."""
    writer = turn.ctx.writer
    if writer is None:
        return []
    counts = turn.ctx.db.writings.call_counts(turn.ctx.clock() - timedelta(hours=24))
    return [
        turn.t(
            "stats.model",
            model=esc(writer.model),
            calls=sum(counts.values()),
            ok=counts["ok"],
            rejected=counts["rejected"],
            failed=counts["failed"],
            skipped=counts["skipped"],
        )
    ]


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"
