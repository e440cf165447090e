"""Digests: compose a window, save it, render it for each chat, and the admin's push workflow."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot import charts
from bot.chat import Button, Buttons, Reply
from bot.commands.errors import CommandError, parse_duration
from bot.context import AppContext
from bot.delivery import BroadcastReport, Messages, Part
from bot.reply import Upload
from digest.catalog import t
from digest.compose.model import Digest, rest_of
from digest.compose.render import render_telegram
from digest.html import esc
from storage.types import Chat, PushRequest

DEFAULT_EDITION = "default"
WEEKLY = "weekly"  # the edition that carries a chart of the week's companies
FIRST_WINDOW = timedelta(hours=24)  # an edition's first digest looks back this far


@dataclass(frozen=True, slots=True)
class DigestResult:
    digest: Digest
    saved_id: int | None = None


def compose_digest(
    ctx: AppContext,
    *,
    since: str | None = None,
    edition: str | None = None,
    language: str | None = None,
    save: bool = False,
) -> DigestResult:
    """Compose the digest of an edition's window (everything stored since its last saved
    digest) or of the last ``since``; ``save`` records it as the edition's latest."""
    if since and edition:
        raise CommandError("error.since_and_edition")
    if since and save:
        raise CommandError("error.save_needs_edition")
    language = language or ctx.settings.digest_language
    if language not in ("zh", "en"):
        raise CommandError("error.language", language=language)
    edition = edition or DEFAULT_EDITION
    now = ctx.clock()
    last_id = ctx.db.items.max_id()  # the window ends here even if a fetch stores more meanwhile
    if since:
        start = now - parse_duration(since)
        after_id = 0
        items = ctx.db.items.window(after_id=0, last_id=last_id, published_since=start)
    else:
        start = None
        previous = ctx.db.digests.latest(edition)
        after_id = previous.last_item_id if previous else 0
        # A source's backlog older than this window never enters a digest.
        window_start = previous.created_at if previous else now - FIRST_WINDOW
        items = ctx.db.items.window(after_id=after_id, last_id=last_id, backlog_before=window_start)
    with ctx.metrics.compose_seconds.time():
        digest = ctx.composer.compose(
            items,
            edition=edition,
            language=language,
            created_at=now,
            after_item_id=after_id,
            last_item_id=last_id,
            since=start,
        )
    return DigestResult(digest, save_digest(ctx, digest) if save else None)


def save_digest(ctx: AppContext, digest: Digest) -> int:
    """Record a composed digest as its edition's latest (its window is now digested)."""
    return ctx.db.digests.save(
        edition=digest.edition,
        created_at=digest.created_at,
        after_item_id=digest.after_item_id,
        last_item_id=digest.last_item_id,
        since=digest.since,
        language=digest.language,
        structure=json.dumps(digest.to_dict()),
        item_ids=digest.item_ids,
    )


def messages_for_chats(
    ctx: AppContext, digest: Digest, digest_id: int | None = None
) -> Callable[[Chat], list[Part]]:
    """Each chat's Telegram messages of ``digest`` in the chat's language; when the edition
    has more than it shows (and is saved), the last carries a button for the rest."""
    rendered: dict[str, list[Part]] = {}

    def messages(chat: Chat) -> list[Part]:
        language = chat.language if chat.language in ("zh", "en") else digest.language
        if language not in rendered:
            rendered[language] = edition_messages(ctx, digest, language, digest_id)
        return rendered[language]

    return messages


def edition_messages(
    ctx: AppContext, digest: Digest, language: str, digest_id: int | None
) -> list[Part]:
    reader = ctx.composer.in_language(digest, language)
    messages: list[Part] = list(render_telegram(reader, company_link=card_link(ctx)))
    if digest_id is not None and reader.more and messages:
        last = messages[-1]
        assert isinstance(last, str)
        messages[-1] = Reply(last, rest_button(language, digest_id, 0, reader.omitted))
    if digest.edition.split("@")[0] == WEEKLY and reader.companies:
        messages.append(week_chart(ctx, reader))
    return messages


def week_chart(ctx: AppContext, reader: Digest) -> Reply:
    """The weekly edition's chart: the companies most of the week's stories named."""
    english = {c.id: c.name_en for c in ctx.companies}
    chart = charts.companies_chart(reader.companies, english, reader.language)
    caption = t("trend.week_title", reader.language)
    return Reply(esc(caption), file=Upload("photo", "week-companies.png", chart.png))


def card_link(ctx: AppContext) -> str | None:
    """The deep link that opens a company's card (``{id}`` for the company), once the bot's
    username is known."""
    return f"https://t.me/{ctx.bot_username}?start=c_{{id}}" if ctx.bot_username else None


def rest_button(language: str, digest_id: int, start: int, count: int) -> Buttons:
    """The button that sends the next points of a saved edition (from its ``start``-th)."""
    text = t("digest.rest_button", language, count=count)
    return ((Button(text, f"rest:{digest_id}:{start}"),),)


def rest_page(ctx: AppContext, digest_id: int, start: int, language: str) -> list[Reply]:
    """A page of the points an edition did not show, and a button for the next page."""
    reader = ctx.composer.in_language(digest_by_id(ctx, digest_id), language)
    if not 0 <= start < reader.omitted:
        raise CommandError("error.no_more_points")
    end = min(start + ctx.composer.size.points, reader.omitted)
    title = t("digest.rest_title", language, title=reader.title, first=start + 1, last=end)
    page = rest_of(reader, title, start, end - start)
    replies = [Reply(m) for m in render_telegram(page)]
    if end < reader.omitted:
        buttons = rest_button(language, digest_id, end, reader.omitted - end)
        replies[-1] = Reply(replies[-1].text, buttons)
    return replies


def digest_by_id(ctx: AppContext, digest_id: int) -> Digest:
    record = ctx.db.digests.get(digest_id)
    if record is None:
        raise CommandError("error.no_digest_id", id=digest_id)
    return Digest.from_dict(json.loads(record.structure))


def latest_digest(ctx: AppContext, edition: str | None = None) -> Digest:
    """The latest saved digest, exactly as it was composed."""
    return latest_saved(ctx, edition)[1]


def latest_saved(ctx: AppContext, edition: str | None = None) -> tuple[int, Digest]:
    """The latest saved digest and its id."""
    record = ctx.db.digests.latest(edition)
    if record is None:
        if edition:
            raise CommandError("error.no_digest_edition", edition=edition)
        raise CommandError("error.no_digest")
    return record.id, Digest.from_dict(json.loads(record.structure))


# --- the admin's push: preview, then Approve or Cancel, decided once on any process -------


@dataclass(frozen=True, slots=True)
class PushPreview:
    token: str
    digest: Digest
    subscribers: int


def request_push(ctx: AppContext, edition: str, admin_id: int, language: str) -> PushPreview:
    """Compose ``edition`` now and keep it, waiting for the admin's decision."""
    digest = compose_digest(ctx, edition=edition, language=language).digest
    token = secrets.token_hex(6)
    structure = json.dumps(digest.to_dict())
    ctx.db.push_requests.add(PushRequest(token, edition, admin_id, structure, ctx.clock()))
    return PushPreview(token, digest, len(ctx.db.chats.subscribers(edition)))


@dataclass(frozen=True, slots=True)
class PushOutcome:
    decided: bool  # False: already handled by someone, or expired
    queued: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    seconds: float = 0.0


BroadcastFn = Callable[[int, Messages, list[Chat]], Awaitable[BroadcastReport]]


async def decide_push(
    ctx: AppContext, token: str, decision: str, broadcast: BroadcastFn | None
) -> PushOutcome:
    """Approve (save and broadcast) or cancel a pending push; once, whoever clicks first."""
    pending = ctx.db.push_requests.decide(token, decision, ctx.clock())
    if pending is None:
        return PushOutcome(decided=False)
    if decision != "approve" or broadcast is None:
        return PushOutcome(decided=True)
    digest = Digest.from_dict(json.loads(pending.structure))
    digest_id = save_digest(ctx, digest)
    ctx.db.push_requests.attach_digest(token, digest_id)
    chats = ctx.db.chats.subscribers(pending.edition)
    report = await broadcast(digest_id, messages_for_chats(ctx, digest, digest_id), chats)
    finished = push_report(ctx, digest_id)  # None: queued, or some chats still to retry
    seconds = finished.seconds if finished else 0.0
    return PushOutcome(True, report.queued, report.sent, report.failed, report.blocked, seconds)


@dataclass(frozen=True, slots=True)
class PushReport:
    admin_id: int
    edition: str
    sent: int
    failed: int
    blocked: int
    seconds: float


def push_report(ctx: AppContext, digest_id: int) -> PushReport | None:
    """How an approved push went, once its last delivery has ended — claimed once, so its
    admin is told once, by whichever process finished it."""
    counts = ctx.db.deliveries.counts(digest_id)
    if counts.get("pending"):
        return None
    request = ctx.db.push_requests.claim_report(digest_id, ctx.clock())
    if request is None:
        return None
    started = request.decided_at or request.created_at
    return PushReport(
        request.admin_id,
        request.edition,
        counts.get("sent", 0),
        counts.get("failed", 0),
        counts.get("blocked", 0),
        max((ctx.clock() - started).total_seconds(), 0.0),
    )
