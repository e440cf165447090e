"""Render a composed digest: Telegram HTML (a list of messages), plain text, Markdown.

Every renderer checks the citations first (a digest that fails is never rendered). Feed text
is escaped for the target: Telegram HTML gets only the tags Telegram accepts (b, i, a) with all
feed text through ``html.escape``; Markdown gets its special characters backslash-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from digest.catalog import t
from digest.compose.model import Digest, KeyPoint, verify_citations
from digest.html import MESSAGE_LIMIT, esc, link, strip_tags, telegram_length
from digest.text import shorten


def _citations(point: KeyPoint, language: str) -> str:
    return "".join(f"[{n}]" for n in point.citations) + _uncited(point, language)


def _text(point: KeyPoint, language: str, marks: bool = False) -> str:
    """The point, marked when it is not in the reader's language (its story was told only in
    the other one); with ``marks`` (the admin's preview), marked as the model's or extracted."""
    text = point.text
    if point.language != language and point.language in ("zh", "en"):
        name = t(f"digest.language_{point.language}", language)
        text = f"{t('digest.foreign', language, language=name)} {text}"
    if marks:
        text = f"{t('digest.by_' + point.by, language)} {text}"
    return text


def _day(point: KeyPoint, digest: Digest) -> str:
    """ "11月23日 " before a point when the digest's points are of several days."""
    if not (point.day and digest.spans_days):
        return ""
    _, month, day = (int(part) for part in point.day.split("-"))
    return t("digest.day", digest.language, month=month, day=day) + " "


def _more_line(digest: Digest) -> list[str]:
    return [t("digest.more", digest.language, count=digest.omitted), ""] if digest.more else []


def _linked_citations(point: KeyPoint, language: str, links: dict[int, str | None]) -> str:
    """Each [n] a link to its source, so a tap opens it (Telegram HTML)."""
    numbers = "".join(link(links.get(n), f"[{n}]") for n in point.citations)
    return numbers + esc(_uncited(point, language))


def _uncited(point: KeyPoint, language: str) -> str:
    return " " + t("digest.uncited", language, count=point.uncited) if point.uncited else ""


COMPANIES_SHOWN = 12


def _companies_line(digest: Digest) -> str:
    """The companies most stories named, the others counted."""
    line = ", ".join(f"{c.name} ({c.stories})" for c in digest.companies[:COMPANIES_SHOWN])
    others = len(digest.companies) - COMPANIES_SHOWN
    return (
        f"{line} {t('digest.more_companies', digest.language, count=others)}"
        if others > 0
        else line
    )


# --- plain text -------------------------------------------------------------------------


def render_text(digest: Digest, *, marks: bool = False) -> str:
    verify_citations(digest)
    lines = [digest.title, ""]
    if digest.is_empty:
        return "\n".join([*lines, digest.headings["empty"]])
    for section in digest.sections:
        lines.append(section.heading)
        lines.extend(
            f"• {_day(p, digest)}{_text(p, digest.language, marks)} "
            f"{_citations(p, digest.language)}"
            for p in section.key_points
        )
        lines.append("")
    lines += _more_line(digest)
    if digest.companies:
        lines += [digest.headings["companies"], _companies_line(digest), ""]
    lines.append(digest.headings["sources"])
    lines.extend(
        f"[{s.number}] {s.headline(digest.language)} — {s.outlet}"
        + (f" {s.link}" if s.link else "")
        for s in digest.shown_sources()
    )
    return "\n".join(lines)


# --- Markdown ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def render_markdown(digest: Digest, *, marks: bool = False) -> str:
    verify_citations(digest)
    lines = [f"# {md_escape(digest.title)}", ""]
    if digest.is_empty:
        return "\n".join([*lines, md_escape(digest.headings["empty"])])
    for section in digest.sections:
        lines += [f"## {md_escape(section.heading)}", ""]
        lines.extend(
            f"- {md_escape(_day(p, digest) + _text(p, digest.language, marks))} "
            + "".join(f"[\\[{n}\\]](#source-{n})" for n in p.citations)
            + md_escape(_uncited(p, digest.language))
            for p in section.key_points
        )
        lines.append("")
    lines += [md_escape(line) for line in _more_line(digest)]
    if digest.companies:
        lines += [
            f"## {md_escape(digest.headings['companies'])}",
            "",
            md_escape(_companies_line(digest)),
            "",
        ]
    lines += [f"## {md_escape(digest.headings['sources'])}", ""]
    for s in digest.shown_sources():
        title = md_escape(s.headline(digest.language))
        linked = f"[{title}](<{s.link}>)" if s.link else title
        lines.append(f'{s.number}. <a id="source-{s.number}"></a>{linked} — {md_escape(s.outlet)}')
    return "\n".join(lines) + "\n"


# --- Telegram HTML ----------------------------------------------------------------------


SOURCE_TITLE_CHARS = 40  # in Telegram: the link opens the whole report
QUOTE_CHARS = 1500
Block = tuple[str, str | None]  # (HTML, the heading to repeat if a message starts with it)


def telegram_blocks(
    digest: Digest, marks: bool = False, company_link: str | None = None
) -> list[Block]:
    """Units that are never split: the title, each section heading with its first bullet,
    each further bullet, the companies, each source line. A further bullet or source line
    carries its section's heading: a message that starts with it repeats the heading."""
    blocks: list[Block] = [(f"<b>{esc(digest.title)}</b>", None)]
    if digest.is_empty:
        return [(blocks[0][0] + "\n\n" + esc(digest.headings["empty"]), None)]
    language = digest.language
    links = {s.number: s.link for s in digest.sources}
    for section in digest.sections:
        bullets = [
            f"• {esc(_day(p, digest) + _text(p, language, marks))} "
            f"{_linked_citations(p, language, links)}"
            for p in section.key_points
        ]
        blocks += _group(section.heading, bullets, language)
    if digest.more:
        blocks.append((f"\n<i>{esc(t('digest.more', language, count=digest.omitted))}</i>", None))
    if digest.companies:
        line = _linked_companies(digest, company_link) if company_link else _companies_line(digest)
        blocks += _group(
            digest.headings["companies"], [line if company_link else esc(line)], language
        )
    source_lines = [
        f"[{s.number}] {link(s.link, shorten(s.headline(language), SOURCE_TITLE_CHARS))}"
        f" — {esc(s.outlet)}"
        for s in digest.shown_sources()
    ]
    return blocks + _folded(digest.headings["sources"], source_lines, language)


def _folded(heading: str, lines: list[str], language: str) -> list[Block]:
    """Lines in expandable blockquotes (Bot API 7.4): the reader sees a few and taps for the
    rest. Each quote holds what fits in a part of a message, so packing never cuts one."""
    again = f"<b>{esc(heading)}</b> {esc(t('digest.continued', language))}"
    chunks: list[list[str]] = [[]]
    for line in lines:
        if chunks[-1] and telegram_length("\n".join([*chunks[-1], line])) > QUOTE_CHARS:
            chunks.append([])
        chunks[-1].append(line)
    quotes = [f"<blockquote expandable>{chr(10).join(chunk)}</blockquote>" for chunk in chunks]
    first = (f"\n<b>{esc(heading)}</b>\n{quotes[0]}", None)
    return [first, *((quote, again) for quote in quotes[1:])]


def _group(heading: str, lines: list[str], language: str) -> list[Block]:
    again = f"<b>{esc(heading)}</b> {esc(t('digest.continued', language))}"
    first = (f"\n<b>{esc(heading)}</b>\n{lines[0]}", None)
    return [first, *((line, again) for line in lines[1:])]


def _linked_companies(digest: Digest, company_link: str) -> str:
    """The companies line with each name a link to its card (a bot deep link)."""
    shown = digest.companies[:COMPANIES_SHOWN]
    line = ", ".join(f"{link(company_link.format(id=c.id), c.name)} ({c.stories})" for c in shown)
    others = len(digest.companies) - len(shown)
    more = t("digest.more_companies", digest.language, count=others)
    return f"{line} {esc(more)}" if others > 0 else line


def render_telegram(
    digest: Digest,
    limit: int = MESSAGE_LIMIT,
    *,
    marks: bool = False,
    company_link: str | None = None,
) -> list[str]:
    """Messages of at most ``limit`` characters, split only between blocks; a section that
    goes on in the next message takes its heading along. ``marks``: say which points the
    model wrote (the admin's preview); ``company_link``: a URL template with ``{id}`` that
    links each company name to its card."""
    verify_citations(digest)
    return pack(telegram_blocks(digest, marks, company_link), limit)


def pack(blocks: Iterable[Block], limit: int) -> list[str]:
    messages: list[str] = []
    current = ""
    for block, heading in blocks:
        candidate = f"{current}\n{block}" if current else block.lstrip("\n")
        if telegram_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block.lstrip("\n") if heading is None else f"{heading}\n{block}"
        while telegram_length(current) > limit:  # one block over the limit: cut at a line
            head, current = _split_block(current, limit)
            messages.append(head)
    if current:
        messages.append(current)
    return messages


def _split_block(block: str, limit: int) -> tuple[str, str]:
    lines = block.split("\n")
    for cut in range(len(lines) - 1, 0, -1):
        head = "\n".join(lines[:cut])
        if telegram_length(head) <= limit:
            return head, "\n".join(lines[cut:])
    # One line alone is over the limit (a hostile feed's title, say): it is sent as plain text,
    # cut to fit, rather than making the whole digest unsendable.
    return esc(shorten(strip_tags(lines[0]), limit // 2)), "\n".join(lines[1:])


RENDERERS = {"text": render_text, "markdown": render_markdown}
