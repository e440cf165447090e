"""The command layer: what every front end (CLI, console, Telegram) calls.

Functions here take an :class:`~bot.context.AppContext` and plain arguments, return plain data,
and raise :class:`CommandError` with a catalog key, so each front end words it in its reader's
language. One module per subject; this package re-exports them all.
"""

from bot.commands.chats import change_settings, check_editions, edition_label, migrate_chat
from bot.commands.companies import (
    COMPANY_PAGE,
    CardLine,
    CompanyCard,
    CompanyMatch,
    companies_named,
    company_card,
    find_company,
    list_items,
    require_company,
    search,
)
from bot.commands.digests import (
    DEFAULT_EDITION,
    DigestResult,
    PushOutcome,
    PushPreview,
    PushReport,
    compose_digest,
    decide_push,
    digest_by_id,
    edition_messages,
    latest_digest,
    latest_saved,
    messages_for_chats,
    push_report,
    request_push,
    rest_button,
    rest_page,
    save_digest,
)
from bot.commands.errors import CommandError, check_feed_url, parse_duration
from bot.commands.exports import Export, export_company
from bot.commands.sources import (
    add_source,
    enable_source,
    export_opml,
    fetch,
    import_opml,
    ingest_samples,
    list_sources,
    remove_source,
)
from bot.commands.status import Overview, overview
from bot.commands.trends import Trend, company_trend

__all__ = [
    "COMPANY_PAGE",
    "DEFAULT_EDITION",
    "CardLine",
    "CommandError",
    "CompanyCard",
    "CompanyMatch",
    "DigestResult",
    "Export",
    "Overview",
    "PushOutcome",
    "PushPreview",
    "PushReport",
    "Trend",
    "add_source",
    "change_settings",
    "check_editions",
    "check_feed_url",
    "companies_named",
    "company_card",
    "company_trend",
    "compose_digest",
    "decide_push",
    "digest_by_id",
    "edition_label",
    "edition_messages",
    "enable_source",
    "export_company",
    "export_opml",
    "fetch",
    "find_company",
    "import_opml",
    "ingest_samples",
    "latest_digest",
    "latest_saved",
    "list_items",
    "list_sources",
    "messages_for_chats",
    "migrate_chat",
    "overview",
    "parse_duration",
    "push_report",
    "remove_source",
    "request_push",
    "require_company",
    "rest_button",
    "rest_page",
    "save_digest",
    "search",
]
