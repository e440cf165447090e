"""Export and import of what a deployment cannot re-fetch: its sources, its chats (with their
language, time zone and editions) and what they follow. JSON, so a deployment can move from
SQLite to PostgreSQL (export, ``db upgrade`` on the new one, import) or keep a backup.

Items and digests are not exported: the sources are fetched again on the new database.
Import merges: sources by URL, chats by Telegram id; running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.commands import CommandError
from bot.commands.follows import Target
from bot.commands.sources import check_source
from bot.config import ZoneName
from bot.context import AppContext

FORMAT: Final = "chip-digest export"
VERSION: Final = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Telegram's chat ids have at most 52 significant bits; anything past this is not a chat.
CHAT_ID_BOUND = 2**53


class SourceRecord(_Record):
    url: str = Field(max_length=2048)
    title: str | None = Field(default=None, max_length=512)
    enabled: bool = True


class ChatRecord(_Record):
    chat_id: int = Field(ge=-CHAT_ID_BOUND, le=CHAT_ID_BOUND)
    kind: Literal["private", "group", "supergroup", "channel"]
    title: str | None = Field(default=None, max_length=256)
    language: Literal["zh", "en"] = "zh"
    timezone: ZoneName = "Asia/Shanghai"
    active: bool = True
    editions: list[str] = Field(default_factory=list, max_length=50)
    follows: list[str] = Field(default_factory=list, max_length=500)


class Export(_Record):
    format: Literal["chip-digest export"]
    version: Literal[1]
    exported_at: datetime
    sources: list[SourceRecord]
    chats: list[ChatRecord]


@dataclass
class ImportReport:
    sources_added: int = 0
    sources_updated: int = 0
    chats_added: int = 0
    chats_updated: int = 0
    follows_added: int = 0
    unknown_companies: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # sources that failed the checks

    def __str__(self) -> str:
        text = (
            f"sources: {self.sources_added} added, {self.sources_updated} updated; "
            f"chats: {self.chats_added} added, {self.chats_updated} updated; "
            f"follows: {self.follows_added} added"
        )
        if self.refused:
            text += f"; sources refused: {'; '.join(self.refused)}"
        if self.unknown_companies:
            text += (
                f"; not followed (unknown companies): {', '.join(sorted(self.unknown_companies))}"
            )
        return text


def export_state(ctx: AppContext) -> dict[str, Any]:
    db = ctx.db
    sources = [SourceRecord(url=s.url, title=s.title, enabled=s.enabled) for s in db.sources.all()]
    chats = [
        ChatRecord(
            chat_id=c.chat_id,
            kind=c.kind,  # type: ignore[arg-type]
            title=c.title,
            language=c.language,  # type: ignore[arg-type]
            timezone=c.timezone,
            active=c.active,
            editions=list(c.editions),
            follows=db.follows.following(c.id),
        )
        for c in db.chats.everyone()
    ]
    export = Export(
        format=FORMAT, version=VERSION, exported_at=ctx.clock(), sources=sources, chats=chats
    )
    return export.model_dump(mode="json")


def parse_export(data: object) -> Export:
    """The export, validated; a CommandError saying where it is wrong otherwise."""
    try:
        return Export.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        raise CommandError("error.not_export", where=where, reason=error["msg"]) from exc


def import_state(ctx: AppContext, export: Export) -> ImportReport:
    db, now, report = ctx.db, ctx.clock(), ImportReport()
    for record in export.sources:
        try:
            url = check_source(ctx, record.url)
        except CommandError as exc:  # checked like /addsource; the rest goes on
            report.refused.append(str(exc))
            continue
        source, created = db.sources.add(url, now, record.title)
        report.sources_added += created
        if source.enabled != record.enabled:
            db.sources.set_enabled(source.id, record.enabled)
            report.sources_updated += not created
    last_item = db.items.max_id()  # follows start from now: no flood of old alerts
    for chat_record in export.chats:
        known = db.chats.get(chat_record.chat_id)
        chat = db.chats.upsert(chat_record.chat_id, chat_record.kind, chat_record.title, now)
        db.chats.configure(
            chat.id, now, language=chat_record.language, timezone=chat_record.timezone
        )
        known_editions = [e for e in chat_record.editions if e in ctx.settings.editions]
        report.refused += [
            f"edition {e!r} of chat {chat_record.chat_id} is not configured here"
            for e in chat_record.editions
            if e not in ctx.settings.editions
        ]
        db.chats.subscribe(chat.id, known_editions)
        if not chat_record.active:
            db.chats.deactivate(chat.id, now)
        for company in chat_record.follows:
            is_known = Target(company).kind != "company" or ctx.companies.get(company) is not None
            if not is_known:
                report.unknown_companies.add(company)
                continue
            report.follows_added += db.follows.follow(chat.id, company, last_item)
        if known is None:
            report.chats_added += 1
        else:
            report.chats_updated += 1
    return report
