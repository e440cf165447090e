"""The replies to everyone's commands: each takes a :class:`~bot.chat.Turn`, asks the command
layer, and words the answer from the catalog in the chat's language."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot import charts, commands
from bot.chat import Button, Reply, Turn
from bot.commands import CardLine, CommandError, CompanyCard
from bot.reply import InlineCard, Upload
from digest.catalog import t
from digest.companies import Company
from digest.compose.render import render_telegram
from digest.html import esc, link
from digest.text import is_traditional, shorten, to_simplified
from digest.urls import display_url
from storage.types import Chat

CARD_LINK_PREFIX = "c_"  # t.me/<bot>?start=c_cambricon opens Cambricon's card


async def start(turn: Turn) -> list[Reply]:
    if turn.args and turn.args[0].startswith(CARD_LINK_PREFIX):  # a deep link to a card
        company = turn.ctx.companies.get(turn.args[0][len(CARD_LINK_PREFIX) :])
        if company is not None:
            return [card(turn, commands.company_card(turn.ctx, company))]
    chat = turn.chat()
    editions = ", ".join(chat.editions) or t("common.none", turn.language)
    return turn.reply("start.hello", editions=editions)


def target_chat(turn: Turn) -> Chat:
    """A bot admin can act for a channel: ``/subscribe -1001234 morning``."""
    args = turn.args
    if args and args[0].lstrip("-").isdigit() and turn.is_admin:
        turn.args = args[1:]
        return turn.ctx.db.chats.upsert(
            int(args[0]),
            "channel",
            None,
            turn.ctx.clock(),
            language=turn.ctx.settings.digest_language,
            timezone=turn.ctx.settings.timezone,
        )
    return turn.chat()


async def subscribe(turn: Turn) -> list[Reply]:
    target = target_chat(turn)
    editions = commands.check_editions(turn.ctx, turn.args)
    turn.ctx.db.chats.subscribe(target.id, editions)
    chat = turn.ctx.db.chats.get(target.chat_id)
    return turn.reply("subscribe.done", editions=", ".join(chat.editions if chat else editions))


async def unsubscribe(turn: Turn) -> list[Reply]:
    target = target_chat(turn)
    editions = commands.check_editions(turn.ctx, turn.args) if turn.args else None
    turn.ctx.db.chats.unsubscribe(target.id, editions)
    return turn.reply("unsubscribe.done")


async def digest(turn: Turn) -> list[Reply]:
    """The latest digest; before any edition has run, the last day's news composed now (not
    saved: it uses up no edition's window)."""
    try:
        digest_id, latest = commands.latest_saved(turn.ctx, turn.args[0] if turn.args else None)
    except CommandError:
        composed = await asyncio.to_thread(  # a model may write it: seconds, off the loop
            commands.compose_digest, turn.ctx, since="24h", language=turn.language
        )
        reader = turn.ctx.composer.in_language(composed.digest, turn.language)
        return [Reply(m) for m in render_telegram(reader)]
    parts = commands.edition_messages(turn.ctx, latest, turn.language, digest_id)
    return [p if isinstance(p, Reply) else Reply(p) for p in parts]


async def rest(turn: Turn, digest_id: int, start: int) -> list[Reply]:
    """The next points of an edition (its "more" button)."""
    return commands.rest_page(turn.ctx, digest_id, start, turn.language)


async def companies(turn: Turn) -> list[Reply]:
    by_segment: dict[str, list[Company]] = {}
    for company in turn.ctx.companies:
        by_segment.setdefault(company.segment, []).append(company)
    lines = [f"<b>{turn.t('companies.title')}</b>"]
    for segment, members in by_segment.items():
        names = ", ".join(esc(c.display_name(turn.language)) for c in members)
        lines.append(f"<i>{esc(t(f'segment.{segment}', turn.language))}</i>: {names}")
    return [Reply("\n".join(lines))]


async def company(turn: Turn) -> list[Reply]:
    if not turn.rest:
        return turn.reply("company.usage")
    match = commands.find_company(turn.ctx, turn.rest)
    if match.company is not None:
        return [card(turn, commands.company_card(turn.ctx, match.company))]
    query = turn.rest[:100]
    if not match.suggestions:
        return turn.reply("company.not_found", query=query)
    buttons = tuple(
        (Button(c.display_name(turn.language), f"company:{c.id}:0"),) for c in match.suggestions
    )
    return [Reply(turn.t("company.which", query=query), buttons)]


INLINE_RESULTS = 5


def inline_cards(turn: Turn, query: str) -> list[InlineCard]:
    """Company cards for an inline query: the company it names, or the closest names."""
    query = query.strip()[:100]
    if not query:
        return []
    match = commands.find_company(turn.ctx, query)
    found = [match.company] if match.company else []
    results = []
    for company in [*found, *match.suggestions][:INLINE_RESULTS]:
        reply = card(turn, commands.company_card(turn.ctx, company), buttons=False)
        name = company.display_name(turn.language)
        results.append(InlineCard(company.id, name, company.describe(turn.language), reply.text))
    return results


def card(turn: Turn, card: CompanyCard, *, buttons: bool = True) -> Reply:
    """The card; ``buttons``: with paging (not in an inline result, whose buttons would come
    back without a chat)."""
    firm = card.company
    tickers = ", ".join(firm.tickers) or t("company.unlisted", turn.language)
    segment = t(f"segment.{firm.segment}", turn.language)
    last = card.last_mentioned
    lines = [
        f"<b>{esc(firm.name_zh)} · {esc(firm.name_en)}</b>",
        f"{esc(tickers)} · {esc(segment)}" + _checked(turn),
        esc(firm.describe(turn.language)),
        turn.t(
            "company.counts",
            week=card.week,
            month=card.month,
            quarter=card.quarter,
            last=f"{last:%Y-%m-%d}" if last else "-",
        ),
    ]
    for line in card.lines:
        lines.append(_card_line(turn, line))
    if not card.lines:
        lines.append(turn.t("company.no_news"))
    rows = (*_paging(turn, card), *_related(turn, card)) if buttons else ()
    return Reply("\n".join(lines), rows, edit=card.offset > 0)


def _checked(turn: Turn) -> str:
    checked = turn.ctx.companies.checked
    return f" · {esc(turn.t('company.checked', date=checked))}" if checked else ""


def _related(turn: Turn, card: CompanyCard) -> tuple[tuple[Button, ...], ...]:
    """The companies most often in the same reports, a tap away."""
    row = tuple(Button(c.display_name(turn.language), f"company:{c.id}:0") for c in card.related)
    return (row,) if row else ()


def _card_line(turn: Turn, line: CardLine) -> str:
    """Date · the headline in the reader's language where the story has one — its point
    and outlets."""
    items = line.story.items
    theirs = [i for i in items if i.language == turn.language] or list(items)
    lead = min(theirs, key=lambda i: is_traditional(i.title))  # simplified first, for zh
    title = to_simplified(lead.title) if turn.language == "zh" else lead.title
    outlets = ", ".join(dict.fromkeys(i.outlet for i in items))
    headline = link(lead.link, title)
    return f"• {lead.published_at:%m-%d} {headline} — {esc(outlets)}\n  {esc(line.point)}"


def _paging(turn: Turn, card: CompanyCard) -> tuple[tuple[Button, ...], ...]:
    page = commands.COMPANY_PAGE
    buttons = []
    if card.offset > 0:
        back = max(card.offset - page, 0)
        buttons.append(
            Button(t("company.back", turn.language), f"company:{card.company.id}:{back}")
        )
    if card.has_more:
        ahead = card.offset + page
        buttons.append(
            Button(t("company.more", turn.language), f"company:{card.company.id}:{ahead}")
        )
    return (tuple(buttons),) if buttons else ()


async def search(turn: Turn) -> list[Reply]:
    if not turn.rest:
        return turn.reply("search.usage")
    items = commands.search(turn.ctx, turn.rest)
    query = turn.rest[:100]
    if not items:
        return turn.reply("search.nothing", query=query)
    lines = [f"<b>{esc(query)}</b>"]
    for item in items:
        when = f"{item.published_at:%Y-%m-%d}"
        lines.append(f"• {link(item.link, item.title)} — {esc(item.outlet)} · {when}")
    return [Reply("\n".join(lines))]


async def follow(turn: Turn) -> list[Reply]:
    """``/follow 寒武纪 gpu HBM``: companies, segments and keywords, several at once."""
    targets = commands.follow_targets(turn.ctx, turn.rest)
    chat = turn.chat()
    newest = turn.ctx.db.items.max_id()
    for target in targets:
        turn.ctx.db.follows.follow(chat.id, target.key, newest)
    return turn.reply("follow.done", name=esc(_labels(turn, targets)))


async def unfollow(turn: Turn) -> list[Reply]:
    targets = commands.follow_targets(turn.ctx, turn.rest)
    chat = turn.chat()
    gone = [x for x in targets if turn.ctx.db.follows.unfollow(chat.id, x.key)]
    kept = [x for x in targets if x not in gone]
    if kept and gone:  # say which were not followed, and which were dropped
        done = esc(_labels(turn, gone))
        return turn.reply("unfollow.partial", done=done, name=esc(_labels(turn, kept)))
    if kept:
        return turn.reply("unfollow.not_followed", name=esc(_labels(turn, kept)))
    return turn.reply("unfollow.done")


async def following(turn: Turn) -> list[Reply]:
    keys = turn.ctx.db.follows.following(turn.chat().id)
    if not keys:
        return turn.reply("following.none")
    return [Reply(esc(_labels(turn, [commands.Target(k) for k in keys])))]


def _labels(turn: Turn, targets: list[commands.Target]) -> str:
    return t("stats.separator", turn.language).join(
        x.label(turn.ctx, turn.language) for x in targets
    )


async def settings(turn: Turn) -> list[Reply]:
    chat = commands.change_settings(turn.ctx, turn.chat(), turn.args)
    none = t("common.none", chat.language)
    editions = turn.ctx.settings.editions
    available = ", ".join(commands.edition_label(n, c, chat.language) for n, c in editions.items())
    subscribed = ", ".join(
        commands.edition_label(n, editions.get(n, ""), chat.language) for n in chat.editions
    )
    text = esc(
        t(
            "settings.summary",
            chat.language,
            language=chat.language,
            timezone=chat.timezone,
            editions=subscribed or none,
            available=available,
        )
    )
    return [Reply(text)]


async def sources(turn: Turn) -> list[Reply]:
    if turn.is_admin:
        return [source_health_reply(turn)]
    lines = [f"<b>{turn.t('sources.title')}</b>"]
    for s in turn.ctx.db.sources.all():
        state = "✓" if s.enabled and not s.error_count else ("⚠" if s.enabled else "✗")
        lines.append(f"{state} {s.id}. {esc(s.title or display_url(s.url))}")
    return [Reply("\n".join(lines[:60]))]


HEALTH_MARK = {"ok": "✓", "failing": "⚠", "off": "✗", "new": "…", "waiting": "?"}


def source_health_reply(turn: Turn) -> Reply:
    """Each source as an admin acts on it: state, last success, volume and share relevant,
    the error and when it is tried again."""
    zone = turn.chat().timezone

    def when(moment: datetime | None) -> str:
        return turn.when(moment, zone)

    lines = [f"<b>{turn.t('sources.title')}</b>"]
    for h in commands.source_health(turn.ctx)[:60]:
        s = h.source
        share = f"{h.relevant_share:.0%}" if h.relevant_share is not None else "-"
        lines.append(
            f"{HEALTH_MARK[h.state]} #{s.id} {esc(shorten(s.title or display_url(s.url), 40))} — "
            + turn.t(
                f"sources.{h.state}",
                last=when(s.last_success_at),
                per_day=f"{h.per_day:.1f}",
                share=share,
            )
        )
        if s.error_count:
            error = esc(shorten(s.last_error or "", 100))
            lines.append(
                "    "
                + turn.t(
                    "sources.error", count=s.error_count, error=error, next=when(h.waiting_until)
                )
            )
    return Reply("\n".join(lines))


async def export(turn: Turn) -> list[Reply]:
    """``/export 寒武纪 [30d]``: the company's reports as a CSV document."""
    result = commands.export_company(turn.ctx, turn.args)
    caption = turn.t(
        "export.caption",
        name=esc(result.company.display_name(turn.language)),
        span=esc(result.span),
        count=result.rows,
    )
    return [Reply(caption, file=Upload("document", result.filename, result.content))]


TREND_TITLE_CHARS = 60


async def trend(turn: Turn) -> list[Reply]:
    """``/trend 寒武纪 [90d]``: a chart of the company's stories over time."""
    result = commands.company_trend(turn.ctx, turn.args)
    chart = await asyncio.to_thread(charts.trend_chart, result, turn.language)  # ~0.3 s of CPU
    lines = [
        turn.t(
            "trend.caption",
            name=esc(result.company.display_name(turn.language)),
            span=esc(result.span),
            stories=result.stories,
            about=sum(result.about),
            mentioned=sum(result.mentioned),
        )
    ]
    for number, story in enumerate(result.biggest, 1):
        title = esc(shorten(story.title, TREND_TITLE_CHARS))
        lines.append(f"{number}. {story.day:%m-%d} {title} ({story.reports})")
    photo = Upload("photo", f"{result.company.id}-trend.png", chart.png)
    return [Reply("\n".join(lines), file=photo)]
