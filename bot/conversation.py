"""What the bot says: every chat command, as plain async functions of a caller and its text.

Telegram handlers (``bot/handlers.py``), ``chipdigest ask`` and ``chipdigest console`` all call
:meth:`Conversation.handle` and :meth:`Conversation.callback`; replies are Telegram HTML with
every piece of feed or user text escaped, plus optional inline buttons.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import commands
from bot.commands import CommandError
from bot.context import AppContext
from bot.delivery import BroadcastReport, Messages, plain_text
from bot.metrics import DatabaseFigures
from digest.companies import Company
from digest.keypoints import StoryInput
from digest.model import Digest
from digest.render import esc, render_telegram
from digest.text import match_form
from storage.types import Chat, Item, PushRequest

ADMIN_COMMANDS = frozenset({"push", "preview", "fetch", "stats", "addsource", "delsource"})
GROUP_ADMIN_COMMANDS = frozenset({"subscribe", "unsubscribe", "settings", "follow", "unfollow"})
COMPANY_PAGE = 5

HELP = {
    "start": ("开始使用", "start"),
    "help": ("命令说明", "show the commands"),
    "subscribe": ("订阅简报，如 /subscribe morning evening", "subscribe, e.g. /subscribe morning"),
    "unsubscribe": ("取消订阅", "unsubscribe"),
    "digest": ("查看最新一期简报", "the latest digest"),
    "company": ("查询公司，如 /company 寒武纪", "a company, e.g. /company Cambricon"),
    "companies": ("跟踪的公司列表", "the companies tracked"),
    "search": ("搜索新闻，如 /search 昇腾 超节点", "search news, e.g. /search Ascend"),
    "follow": ("关注公司，有新消息即提醒", "alerts about a company"),
    "unfollow": ("取消关注", "stop alerts about a company"),
    "following": ("已关注的公司", "companies you follow"),
    "settings": ("语言、时区与订阅，如 /settings lang en", "language, time zone, editions"),
    "sources": ("新闻来源", "the news sources"),
    "push": ("（管理员）立即生成并推送简报", "(admin) compose and send a digest now"),
    "preview": ("（管理员）预览简报", "(admin) preview a digest"),
    "fetch": ("（管理员）立即抓取", "(admin) fetch now"),
    "stats": ("（管理员）运行状态", "(admin) statistics"),
    "addsource": ("（管理员）添加来源", "(admin) add a source"),
    "delsource": ("（管理员）删除来源", "(admin) remove a source"),
}


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # Telegram HTML
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: bool = False  # replace the message the button was on


@dataclass(frozen=True, slots=True)
class Caller:
    chat_id: int
    chat_kind: str  # private, group, supergroup, channel
    user_id: int
    chat_title: str | None = None
    is_chat_admin: bool = True  # the front end asks Telegram for groups
    language: str = "zh"


BroadcastFn = Callable[[int, Messages, list[Chat]], Awaitable[BroadcastReport]]


@dataclass
class Conversation:
    ctx: AppContext
    admins: frozenset[int] = frozenset()
    broadcast: BroadcastFn | None = None  # set by the app; None in ask / console

    # --- dispatch -------------------------------------------------------------------------

    async def handle(self, caller: Caller, text: str) -> list[Reply]:
        text = text.strip()
        if not text.startswith("/"):
            return [self._help(caller, unknown=text)]
        command, _, rest = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()
        args = rest.split()
        if command not in HELP:
            return [self._help(caller, unknown=text)]
        if command in ADMIN_COMMANDS and caller.user_id not in self.admins:
            return [
                Reply(
                    self._t(
                        caller,
                        "这是管理员命令，你没有权限使用。",
                        "That is an admin command; you are not an admin.",
                    )
                )
            ]
        if (
            command in GROUP_ADMIN_COMMANDS
            and caller.chat_kind in ("group", "supergroup")
            and not caller.is_chat_admin
        ):
            return [
                Reply(
                    self._t(
                        caller,
                        "只有群管理员可以修改本群的设置。",
                        "Only the group's admins can change its settings.",
                    )
                )
            ]
        try:
            return await getattr(self, f"_cmd_{command}")(caller, args, rest.strip())
        except CommandError as exc:
            return [Reply(esc(str(exc)))]

    async def callback(self, caller: Caller, data: str) -> list[Reply]:
        kind, _, value = data.partition(":")
        if kind == "company":
            company_id, _, offset = value.partition(":")
            company = self.ctx.companies.get(company_id)
            if company is None:
                return [Reply(esc(f"unknown company {company_id}"))]
            return [self._company_card(caller, company, int(offset or 0))]
        if kind in ("approve", "cancel"):
            return await self._decide_push(caller, kind, value)
        return [Reply(self._t(caller, "这个按钮已失效。", "That button has expired."))]

    # --- helpers ------------------------------------------------------------------------------

    def _t(self, caller: Caller, zh: str, en: str) -> str:
        return zh if self._language(caller) == "zh" else en

    def _language(self, caller: Caller) -> str:
        chat = self.ctx.db.chats.get(caller.chat_id)
        return chat.language if chat else caller.language

    def _chat(self, caller: Caller) -> Chat:
        return self.ctx.db.chats.upsert(
            caller.chat_id, caller.chat_kind, caller.chat_title, self.ctx.clock()
        )

    def _help(self, caller: Caller, unknown: str | None = None) -> Reply:
        zh = self._language(caller) == "zh"
        lines = []
        if unknown:
            lines.append(esc(("没看懂：" if zh else "I did not understand: ") + unknown[:100]))
        lines.append("<b>" + ("可用命令" if zh else "Commands") + "</b>")
        for name, (zh_text, en_text) in HELP.items():
            if name in ADMIN_COMMANDS and caller.user_id not in self.admins:
                continue
            lines.append(f"/{name} — {esc(zh_text if zh else en_text)}")
        return Reply("\n".join(lines))

    # --- everyone ---------------------------------------------------------------------------

    async def _cmd_start(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        chat = self._chat(caller)
        editions = ", ".join(chat.editions) or self._t(caller, "无", "none")
        text = self._t(
            caller,
            f"你好！我会跟踪国产AI算力产业：芯片、GPU、智算中心和相关公司。\n"
            f"当前订阅：{esc(editions)}。发送 /subscribe 订阅早报，/help 查看全部命令。",
            f"Hello! I follow China's AI-compute industry: chips, GPUs, computing centres and "
            f"the companies around them.\nSubscribed: {esc(editions)}. Send /subscribe for "
            f"the morning digest, /help for every command.",
        )
        return [Reply(text)]

    async def _cmd_help(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        return [self._help(caller)]

    def _editions(self, args: Sequence[str]) -> list[str]:
        known = self.ctx.settings.editions
        wanted = [a.lower() for a in args] or [next(iter(known))]
        unknown = [e for e in wanted if e not in known]
        if unknown:
            raise CommandError(f"unknown edition {unknown[0]!r}; editions: {', '.join(known)}")
        return wanted

    async def _cmd_subscribe(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        target, args = self._target_chat(caller, args)
        editions = self._editions(args)
        self.ctx.db.chats.subscribe(target.id, editions)
        chat = self.ctx.db.chats.get(target.chat_id)
        names = ", ".join(chat.editions if chat else editions)
        return [Reply(self._t(caller, f"已订阅：{esc(names)}。", f"Subscribed: {esc(names)}."))]

    def _target_chat(self, caller: Caller, args: list[str]) -> tuple[Chat, list[str]]:
        """A bot admin can act for a channel: /subscribe -1001234 morning."""
        if args and args[0].lstrip("-").isdigit() and caller.user_id in self.admins:
            chat = self.ctx.db.chats.upsert(int(args[0]), "channel", None, self.ctx.clock())
            return chat, args[1:]
        return self._chat(caller), args

    async def _cmd_unsubscribe(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        target, args = self._target_chat(caller, args)
        self.ctx.db.chats.unsubscribe(target.id, self._editions(args) if args else None)
        return [Reply(self._t(caller, "已取消订阅。", "Unsubscribed."))]

    async def _cmd_digest(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        try:
            digest = commands.latest_digest(self.ctx, args[0] if args else None)
        except CommandError:
            return [Reply(self._t(caller, "还没有生成过简报。", "No digest has been made yet."))]
        digest = self.ctx.composer.in_language(digest, self._language(caller))
        return [Reply(m) for m in render_telegram(digest)]

    async def _cmd_companies(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        zh = self._language(caller) == "zh"
        by_segment: dict[str, list[Company]] = {}
        for company in self.ctx.companies:
            by_segment.setdefault(company.segment, []).append(company)
        lines = ["<b>" + ("跟踪的公司" if zh else "Companies tracked") + "</b>"]
        for segment, companies in by_segment.items():
            names = ", ".join(esc(c.name_zh if zh else c.name_en) for c in companies)
            lines.append(f"<i>{esc(segment)}</i>: {names}")
        return [Reply("\n".join(lines))]

    async def _cmd_company(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        if not rest:
            raise CommandError(
                self._t(
                    caller,
                    "用法：/company 寒武纪（或 Cambricon、688256）",
                    "usage: /company Cambricon (or 寒武纪, 688256)",
                )
            )
        match = commands.find_company(self.ctx, rest)
        if match.company is not None:
            return [self._company_card(caller, match.company, 0)]
        if not match.suggestions:
            return [
                Reply(
                    self._t(
                        caller,
                        f"没有找到“{esc(rest)}”。发送 /companies 查看列表。",
                        f"No company called {esc(rest)!s}. Send /companies for the list.",
                    )
                )
            ]
        buttons = tuple(
            (Button(c.display_name(self._language(caller)), f"company:{c.id}:0"),)
            for c in match.suggestions
        )
        return [
            Reply(
                self._t(
                    caller, f"“{esc(rest)}”是指哪一家？", f"Which one do you mean by {esc(rest)}?"
                ),
                buttons,
            )
        ]

    def _company_card(self, caller: Caller, company: Company, offset: int) -> Reply:
        language = self._language(caller)
        now = self.ctx.clock()
        week = self.ctx.db.items.company_count(company.id, now - timedelta(days=7))
        month = self.ctx.db.items.company_count(company.id, now - timedelta(days=30))
        stories = self._latest_stories(company.id, offset + COMPANY_PAGE + 1)
        page, more = stories[offset : offset + COMPANY_PAGE], len(stories) > offset + COMPANY_PAGE
        tickers = ", ".join(company.tickers) or ("未上市" if language == "zh" else "unlisted")
        lines = [
            f"<b>{esc(company.name_zh)} · {esc(company.name_en)}</b>",
            f"{esc(tickers)} · {esc(company.segment)}",
            esc(company.description),
            esc(
                f"近7天 {week} 条，近30天 {month} 条"
                if language == "zh"
                else f"{week} items in 7 days, {month} in 30 days"
            ),
        ]
        for story, point in zip(page, self._points(page), strict=True):
            lead = story.items[0]
            outlets = ", ".join(dict.fromkeys(i.outlet for i in story.items))
            link = f' <a href="{esc(lead.link)}">↗</a>' if lead.link else ""
            lines.append(f"• {esc(point)} — {esc(outlets)}{link}")
        if not page:
            lines.append(esc("暂无相关新闻。" if language == "zh" else "No news about it yet."))
        buttons = (
            (
                (
                    Button(
                        "更多" if language == "zh" else "More",
                        f"company:{company.id}:{offset + COMPANY_PAGE}",
                    ),
                ),
            )
            if more
            else ()
        )
        return Reply("\n".join(lines), buttons, edit=offset > 0)

    def _latest_stories(self, company_id: str, count: int) -> list[StoryInput]:
        """The company's latest stories (items of one story together), newest first."""
        items = self.ctx.db.items.latest(company=company_id, relevant_only=True, limit=count * 4)
        stories: dict[int, list[Item]] = {}
        for item in items:
            stories.setdefault(item.story_id, []).append(item)
        return [StoryInput(sid, tuple(group)) for sid, group in list(stories.items())[:count]]

    def _points(self, stories: Sequence[StoryInput]) -> list[str]:
        """A key point for each story, by the digest's own extractor."""
        ids = [i.id for s in stories for i in s.items]
        if not ids:
            return []
        window = self.ctx.db.items.by_ids(ids)
        full = {i.id: i for i in window}
        with_tokens = [
            StoryInput(s.story_id, tuple(full.get(i.id, i) for i in s.items)) for s in stories
        ]
        return [p.text for p in self.ctx.composer.extractor.extract(with_tokens)]

    async def _cmd_search(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        if not rest:
            raise CommandError(
                self._t(caller, "用法：/search 昇腾 超节点", "usage: /search Ascend supernode")
            )
        words = [
            w.lower()
            for w in self.ctx.enricher.segmenter.cut(match_form(rest))
            if w.strip() and any(ch.isalnum() for ch in w)
        ]
        items = self.ctx.db.items.search(words, limit=8)
        if not items:
            return [
                Reply(
                    self._t(
                        caller,
                        f"没有找到与“{esc(rest)}”相关的新闻。",
                        f"Nothing found for {esc(rest)}.",
                    )
                )
            ]
        lines = [f"<b>{esc(rest)}</b>"]
        for item in items:
            link = (
                f'<a href="{esc(item.link)}">{esc(item.title)}</a>'
                if item.link
                else esc(item.title)
            )
            lines.append(f"• {link} — {esc(item.outlet)} · {item.published_at:%Y-%m-%d}")
        return [Reply("\n".join(lines))]

    async def _cmd_follow(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        company = commands.require_company(self.ctx, rest)
        chat = self._chat(caller)
        self.ctx.db.follows.follow(chat.id, company.id, self.ctx.db.items.max_id())
        name = esc(company.display_name(self._language(caller)))
        return [
            Reply(
                self._t(
                    caller,
                    f"已关注 {name}，有新消息会提醒你。",
                    f"Following {name}: new items about it will come as alerts.",
                )
            )
        ]

    async def _cmd_unfollow(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        company = commands.require_company(self.ctx, rest)
        self.ctx.db.follows.unfollow(self._chat(caller).id, company.id)
        return [Reply(self._t(caller, "已取消关注。", "Unfollowed."))]

    async def _cmd_following(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        ids = self.ctx.db.follows.following(self._chat(caller).id)
        language = self._language(caller)
        names = [c.display_name(language) for i in ids if (c := self.ctx.companies.get(i))]
        if not names:
            return [
                Reply(
                    self._t(
                        caller,
                        "还没有关注任何公司。试试 /follow 寒武纪",
                        "You follow no company yet. Try /follow Cambricon",
                    )
                )
            ]
        return [Reply(esc(", ".join(names)))]

    async def _cmd_settings(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        chat = self._chat(caller)
        if len(args) >= 2 and args[0] in ("lang", "language"):
            if args[1] not in ("zh", "en"):
                raise CommandError("language must be zh or en")
            chat = self.ctx.db.chats.configure(chat.id, self.ctx.clock(), language=args[1]) or chat
        elif len(args) >= 2 and args[0] in ("tz", "timezone"):
            try:
                ZoneInfo(args[1])
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise CommandError(f"unknown time zone {args[1]!r}") from exc
            chat = self.ctx.db.chats.configure(chat.id, self.ctx.clock(), timezone=args[1]) or chat
        elif len(args) >= 2 and args[0] == "editions":
            editions = self._editions(",".join(args[1:]).replace(",", " ").split())
            self.ctx.db.chats.unsubscribe(chat.id)
            self.ctx.db.chats.subscribe(chat.id, editions)
            chat = self.ctx.db.chats.get(chat.chat_id) or chat
        elif args:
            raise CommandError(
                "usage: /settings lang zh|en · /settings tz Asia/Shanghai · "
                "/settings editions morning,evening"
            )
        known = ", ".join(f"{n} ({c})" for n, c in self.ctx.settings.editions.items())
        text = self._t(
            caller,
            f"语言：{chat.language}\n时区：{esc(chat.timezone)}\n"
            f"订阅：{esc(', '.join(chat.editions) or '无')}\n可选：{esc(known)}",
            f"Language: {chat.language}\nTime zone: {esc(chat.timezone)}\n"
            f"Editions: {esc(', '.join(chat.editions) or 'none')}\nAvailable: {esc(known)}",
        )
        return [Reply(text)]

    async def _cmd_sources(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        sources = self.ctx.db.sources.all()
        lines = ["<b>" + self._t(caller, "新闻来源", "Sources") + "</b>"]
        for s in sources:
            state = "✓" if s.enabled and not s.error_count else ("⚠" if s.enabled else "✗")
            lines.append(f"{state} {s.id}. {esc(s.title or s.url)}")
        return [Reply("\n".join(lines[:60]))]

    # --- admins -----------------------------------------------------------------------------

    def _compose(self, caller: Caller, edition: str) -> Digest:
        return commands.compose_digest(
            self.ctx, edition=edition, language=self._language(caller)
        ).digest

    async def _cmd_preview(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        edition = self._editions(args[:1])[0]
        return [Reply(m) for m in render_telegram(self._compose(caller, edition))]

    async def _cmd_push(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        edition = self._editions(args[:1])[0]
        digest = self._compose(caller, edition)
        token = secrets.token_hex(6)
        self.ctx.db.push_requests.add(
            PushRequest(
                token, edition, caller.user_id, json.dumps(digest.to_dict()), self.ctx.clock()
            )
        )
        subscribers = len(self.ctx.db.chats.subscribers(edition))
        messages = [Reply(m) for m in render_telegram(digest)]
        ask = self._t(
            caller,
            f"以上是预览。发送给 {subscribers} 个订阅者？",
            f"That is the preview. Send it to {subscribers} subscribers?",
        )
        buttons = (
            (
                Button(self._t(caller, "批准发送", "Approve"), f"approve:{token}"),
                Button(self._t(caller, "取消", "Cancel"), f"cancel:{token}"),
            ),
        )
        return [*messages, Reply(ask, buttons)]

    async def _decide_push(self, caller: Caller, decision: str, token: str) -> list[Reply]:
        if caller.user_id not in self.admins:
            return [Reply(self._t(caller, "这是管理员操作。", "That is for admins."))]
        if decision == "approve" and self.broadcast is None:  # decided later, where it can be
            return [
                Reply(
                    self._t(
                        caller,
                        "这里无法发送（没有连接 Telegram）。",
                        "Nothing can be sent from here (no Telegram connection).",
                    )
                )
            ]
        pending = self.ctx.db.push_requests.decide(token, decision, self.ctx.clock())
        if pending is None:
            return [
                Reply(
                    self._t(
                        caller, "这个预览已处理或已过期。", "That preview was already handled."
                    ),
                    edit=True,
                )
            ]
        if decision == "cancel":
            return [Reply(self._t(caller, "已取消。", "Cancelled."), edit=True)]
        assert self.broadcast is not None  # checked before the decision was taken
        digest = Digest.from_dict(json.loads(pending.structure))
        digest_id = commands.save_digest(self.ctx, digest)
        chats = self.ctx.db.chats.subscribers(pending.edition)
        messages = commands.messages_for_chats(self.ctx, digest)
        report = await self.broadcast(digest_id, messages, chats)
        if report.queued:
            text = self._t(
                caller,
                f"已排队：{report.queued} 个订阅者，由负责推送的进程在几秒内发送。",
                f"Queued for {report.queued} subscribers: the sending process delivers them "
                "within seconds.",
            )
        else:
            text = self._t(
                caller,
                f"已发送：成功 {report.sent}，失败 {report.failed}，已屏蔽 {report.blocked}。",
                f"Sent: {report.sent} delivered, {report.failed} failed, {report.blocked} blocked.",
            )
        return [Reply(text, edit=True)]

    async def _cmd_fetch(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        outcomes = await commands.fetch(self.ctx)
        lines = [f"<b>{self._t(caller, '抓取完成', 'Fetched')}</b>"]
        for o in sorted(outcomes, key=lambda o: o.source_id):
            detail = f"{o.new} new" if o.status == "ok" else (o.error or o.status)
            lines.append(f"{o.source_id}. {esc(o.title or o.url)}: {esc(detail)}")
        return [Reply("\n".join(lines[:80]))]

    async def _cmd_stats(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        # The same figures as the Prometheus metrics (bot/metrics.py), so the two agree.
        figures = DatabaseFigures.read(self.ctx.db)
        lines = [
            "<b>Stats</b>",
            esc("subscribers: " + _pairs(figures.chats)),
            esc(f"items: {figures.items}"),
            esc("deliveries: " + _pairs(figures.deliveries)),
            esc(f"pending deliveries: {figures.pending_deliveries}"),
            esc(f"failing sources: {figures.failing_sources}"),
            "<b>This process since it started</b>",
            *(esc(f"{name}: {value:g}") for name, value in self.ctx.metrics.process_figures()),
            "<b>Sources</b>",
        ]
        for s in self.ctx.db.sources.all():
            health = "ok" if not s.error_count else f"{s.error_count} errors: {s.last_error}"
            lines.append(
                esc(f"{s.id}. {s.title or s.url} — {'on' if s.enabled else 'off'}, {health}")
            )
        return [Reply("\n".join(lines[:80]))]

    async def _cmd_addsource(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        if not args:
            raise CommandError("usage: /addsource https://example.com/feed.xml")
        source, created = commands.add_source(self.ctx, args[0])
        return [
            Reply(esc(f"{'added' if created else 'already present'}: #{source.id} {source.url}"))
        ]

    async def _cmd_delsource(self, caller: Caller, args: list[str], rest: str) -> list[Reply]:
        if not args or not args[0].isdigit():
            raise CommandError("usage: /delsource 12")
        commands.remove_source(self.ctx, int(args[0]))
        return [Reply(esc(f"removed source #{args[0]}"))]


def plain(reply: Reply) -> str:
    """A reply as terminal text (for ask and console)."""
    text = plain_text(reply.text)
    for row in reply.buttons:
        text += "\n" + "  ".join(f"[{b.text}]" for b in row)
    return text


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
