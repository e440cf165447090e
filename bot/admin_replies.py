"""The replies to the admins' commands (the conversation checks the admin list first)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot import commands
from bot.chat import Button, Reply, Turn
from bot.commands import CommandError
from digest.catalog import t
from digest.compose.render import render_telegram
from digest.html import esc
from digest.text import shorten
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
    """What an admin wants to know, in sentences (the raw figures are at /metrics)."""
    view = commands.overview(turn.ctx)
    zone = turn.chat().timezone
    lines = [
        f"<b>{turn.t('stats.title')}</b>",
        turn.t(
            "stats.items",
            today=view.today[0],
            today_relevant=view.today[1],
            week=view.week[0],
            week_relevant=view.week[1],
        ),
        _editions(turn, view, zone),
        turn.t(
            "stats.deliveries",
            sent=view.deliveries.get("sent", 0),
            failed=view.deliveries.get("failed", 0),
            blocked=view.deliveries.get("blocked", 0),
            pending=view.deliveries.get("pending", 0),
        ),
        turn.t("stats.chats", counts=_kinds(turn, view.chats)),
        *_model_use(turn, view),
    ]
    if view.failing:
        lines.append(turn.t("stats.failing", count=len(view.failing)))
        for s in view.failing[:15]:
            name = esc(s.title or display_url(s.url))
            error = esc(shorten(s.last_error or s.last_status or "", 120))
            lines.append(
                turn.t("stats.source_failing", id=s.id, name=name, count=s.error_count, error=error)
            )
    else:
        lines.append(turn.t("stats.no_failing"))
    return [Reply("\n".join(lines))]


def _editions(turn: Turn, view: commands.Overview, zone: str) -> str:
    """ "上一期：morning，11月25日 08:30。下一期：evening，11月25日 20:00。" """

    def said(key: str, edition: tuple[str, datetime]) -> str:
        return turn.t(key, edition=esc(edition[0]), when=turn.when(edition[1], zone))

    last = said("stats.last_edition", view.last_edition) if view.last_edition else ""
    upcoming = said("stats.next_edition", view.next_edition) if view.next_edition else ""
    return (last or turn.t("stats.no_edition")) + upcoming


def _kinds(turn: Turn, chats: dict[str, int]) -> str:
    if not chats:
        return t("common.none", turn.language)
    return t("stats.separator", turn.language).join(
        f"{t('chat_kind.' + kind, turn.language)} {count}" for kind, count in sorted(chats.items())
    )


async def addsource(turn: Turn) -> list[Reply]:
    """Fetch the feed first; say what it would bring; add it when the admin confirms."""
    if not turn.args:
        return turn.reply("addsource.usage")
    source, preview = await commands.propose_source(turn.ctx, turn.args[0])
    if preview is None:
        return turn.reply("addsource.present", id=source.id, url=esc(display_url(source.url)))
    text = turn.t(
        "addsource.preview",
        title=esc(preview.title or display_url(source.url)),
        url=esc(display_url(source.url)),
        items=preview.items,
        relevant=preview.relevant,
    )
    buttons = (
        (
            Button(turn.t("addsource.confirm"), f"source:{source.id}:add"),
            Button(turn.t("common.cancel"), f"source:{source.id}:cancel"),
        ),
    )
    return [Reply(text, buttons)]


async def delsource(turn: Turn) -> list[Reply]:
    """Say what becomes of the source's items; delete when the admin confirms."""
    if not turn.args or not turn.args[0].isdigit():
        return turn.reply("delsource.usage")
    source = turn.ctx.db.sources.get(int(turn.args[0]))
    if source is None:
        raise CommandError("error.no_source", id=turn.args[0])
    text = turn.t(
        "delsource.ask",
        id=source.id,
        name=esc(source.title or display_url(source.url)),
        items=turn.ctx.db.items.count_for_source(source.id),
    )
    buttons = (
        (
            Button(turn.t("delsource.confirm"), f"source:{source.id}:delete"),
            Button(turn.t("common.cancel"), f"source:{source.id}:keep"),
        ),
    )
    return [Reply(text, buttons)]


async def decide_source(turn: Turn, source_id: int, action: str) -> list[Reply]:
    """The admin's answer under /addsource or /delsource."""
    if not turn.is_admin:
        return turn.reply("refuse.admin_action")
    if action in ("add", "cancel"):
        source = commands.confirm_source(turn.ctx, source_id, action == "add")
        if source is None:
            return [Reply(turn.t("push.already_handled"), edit=True)]
        key = "addsource.added" if action == "add" else "addsource.dropped"
        return [Reply(turn.t(key, id=source.id, url=esc(display_url(source.url))), edit=True)]
    if action == "delete":
        commands.remove_source(turn.ctx, source_id)
        return [Reply(turn.t("delsource.done", id=source_id), edit=True)]
    return [Reply(turn.t("delsource.kept", id=source_id), edit=True)]


def _model_use(turn: Turn, view: commands.Overview) -> list[str]:
    """The language model's last day, when one is configured."""
    counts, writer = view.model_calls, turn.ctx.writer
    if counts is None or writer is None:
        return []
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


WHY_TEXT_CHARS = 300


async def why(turn: Turn) -> list[Reply]:
    """``/why 1234``: why an item was kept or dropped."""
    found = commands.explain_item(turn.ctx, turn.rest)
    item = found.item
    verdict = "why.kept" if item.relevant else "why.dropped"

    def names(ids: tuple[str, ...]) -> str:
        shown = [
            (c.display_name(turn.language) if (c := turn.ctx.companies.get(i)) else i) for i in ids
        ]
        return esc(", ".join(shown)) or t("common.none", turn.language)

    anchors = ", ".join(f"{names((name,))} +{points:g}" for name, points in found.anchors)
    lines = [
        f"<b>#{item.id}</b> {esc(item.title)} — {esc(item.outlet)}",
        turn.t(verdict, score=f"{item.relevance:g}", threshold=f"{found.threshold:g}"),
        turn.t("why.anchors", anchors=anchors or t("common.none", turn.language)),
        turn.t("why.companies", about=names(found.about), mentioned=names(found.mentioned)),
        turn.t("why.story", id=item.story_id, count=len(found.story)),
        *(f"  #{o.id} {esc(shorten(o.title, 60))} — {esc(o.outlet)}" for o in found.story[:5]),
    ]
    if found.removed:
        lines.append(turn.t("why.removed", text=esc(shorten(found.removed, WHY_TEXT_CHARS))))
    return [Reply("\n".join(lines))]
