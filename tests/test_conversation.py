"""The command layer without Telegram: what a user types and what the bot answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot import commands
from bot.alerts import pending_alerts, render_alert
from bot.config import load_settings
from bot.context import AppContext
from bot.conversation import Caller, Conversation, Reply
from bot.delivery import BroadcastReport, Messages
from digest.compose.render import render_telegram
from storage.types import Chat
from tests.support.feedserver import FeedServer
from tests.support.helpers import FakeClock, add_more_huawei_stories, ingest

ADMIN = 42
USER = Caller(chat_id=1001, chat_kind="private", user_id=7)
ADMIN_CALLER = Caller(chat_id=4242, chat_kind="private", user_id=ADMIN)


@pytest.fixture
async def ctx(database_url: str, clock: FakeClock) -> AsyncIterator[AppContext]:
    context = AppContext(load_settings(), database_url=database_url, clock=clock)
    context.prepare()
    await commands.ingest_samples(context)
    yield context
    context.close()


def first_line(replies: list[Reply]) -> str:
    return replies[0].text.split("\n")[0]


async def test_company_by_name_alias_ticker_and_typo_is_one_company(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    cards = [
        await talk.handle(USER, f"/company {q}")
        for q in ("寒武纪", "Cambricon", "cambricon", "688256", "Cambrcon")
    ]
    assert {first_line(c) for c in cards} == {"<b>寒武纪 · Cambricon</b>"}
    card = cards[0][0].text
    assert "688256" in card and "AI芯片" in card and "芯智观察" in card and "<a href=" in card
    # The counts are of stories, as the lines are: 3 stories, the 6 reports of them in one line
    lines = [line for line in card.split("\n") if line.startswith("• ")]
    assert "近7天 3 个，近30天 3 个，近90天 3 个" in card and len(lines) == 3


async def test_ambiguous_company_offers_buttons_and_unknown_suggests(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    [ambiguous] = await talk.handle(USER, "/company 华")
    datas = [b.data for row in ambiguous.buttons for b in row]
    assert "company:huawei:0" in datas and "company:hua-hong:0" in datas
    [card] = await talk.callback(USER, "company:huawei:0")
    assert card.text.startswith("<b>华为 · Huawei</b>")
    [unknown] = await talk.handle(USER, "/company qwertyuiop")
    assert "/companies" in unknown.text


async def test_more_button_pages_through_stories(ctx: AppContext) -> None:
    add_more_huawei_stories(ctx)
    talk = Conversation(ctx)
    [card] = await talk.handle(USER, "/company 华为")
    [more], *related = card.buttons  # paging first, then the related companies
    assert more.data == "company:huawei:5" and all("huawei" not in b.data for b in related[0])
    [page_two] = await talk.callback(USER, more.data)
    assert page_two.edit and page_two.text.count("•") >= 1
    assert set(page_two.text.split("\n")[4:]).isdisjoint(card.text.split("\n")[4:])


async def test_search_uses_the_full_text_index_in_both_scripts(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    [found] = await talk.handle(USER, "/search 昇腾 超节点")
    assert found.text.count("•") == 3  # two simplified reports and the traditional forum post
    [traditional] = await talk.handle(USER, "/search 昇騰")
    assert "超节点" in traditional.text or "超節點" in traditional.text
    [english] = await talk.handle(USER, "/search export controls")
    assert "H20" in english.text
    [nothing] = await talk.handle(USER, "/search 火星基地")
    assert "没有找到" in nothing.text


async def test_search_finds_reports_in_the_other_language(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    [controls] = await talk.handle(USER, "/search 出口管制")
    assert "export controls" in controls.text.lower() and "出口管制" in controls.text
    [supernode] = await talk.handle(USER, "/search supernode")
    assert "超节点" in supernode.text
    [company] = await talk.handle(USER, "/search Cambricon 市值")
    assert "寒武纪" in company.text


async def test_subscribe_settings_and_language(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    [hello] = await talk.handle(USER, "/start")
    assert "/subscribe" in hello.text
    [done] = await talk.handle(USER, "/subscribe morning weekly")
    assert "morning, weekly" in done.text
    [bad] = await talk.handle(USER, "/subscribe hourly")
    assert "未知期次 hourly" in bad.text and "morning" in bad.text  # in the chat's language
    [english] = await talk.handle(USER, "/settings lang en")
    assert "Language: en" in english.text
    assert "Editions: morning 08:30, weekly Mon 09:00" in english.text
    [tz] = await talk.handle(USER, "/settings tz Mars/Base")
    assert "unknown time zone" in tz.text
    [gone] = await talk.handle(USER, "/unsubscribe")
    assert gone.text == "Unsubscribed."
    assert [c.chat_id for c in ctx.db.chats.subscribers("morning")] == []


async def test_follow_following_unfollow(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    await talk.handle(USER, "/follow 摩尔线程")
    await talk.handle(USER, "/follow Hygon")
    [listed] = await talk.handle(USER, "/following")
    assert "摩尔线程" in listed.text and "海光信息" in listed.text
    await talk.handle(USER, "/unfollow 688041")
    [listed] = await talk.handle(USER, "/following")
    assert "海光信息" not in listed.text


async def test_admin_commands_are_refused_to_others(ctx: AppContext) -> None:
    talk = Conversation(ctx, admins=frozenset({ADMIN}))
    for command in (
        "/push",
        "/preview",
        "/fetch",
        "/stats",
        "/addsource https://a.example/f",
        "/delsource 1",
    ):
        [refused] = await talk.handle(USER, command)
        assert "管理员命令" in refused.text, command
    [stats] = await talk.handle(ADMIN_CALLER, "/stats")
    assert "今天收录 67 条，其中相关" in stats.text  # in sentences, in the chat's language
    assert "下一期：weekly，11月23日 09:00" in stats.text and "chipdigest_" not in stats.text
    assert "#7 A feed that went away：连续 1 次出错" in stats.text


async def test_only_group_admins_change_group_settings(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    member = Caller(chat_id=-100, chat_kind="supergroup", user_id=8, check_chat_admin=_no)
    [refused] = await talk.handle(member, "/subscribe")
    assert "群管理员" in refused.text
    [reply] = await talk.handle(member, "/company 寒武纪")  # asking is for everyone
    assert "Cambricon" in reply.text


async def test_unknown_input_gets_help_not_silence(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    for text in ("hello", "/nonsense"):
        [reply] = await talk.handle(USER, text)
        assert "/company" in reply.text and "/push" not in reply.text


async def test_push_previews_then_broadcasts_once_on_approval(ctx: AppContext) -> None:
    sent: list[tuple[int, int, list[int]]] = []

    async def broadcast(digest_id: int, messages: Messages, chats: list[Chat]) -> BroadcastReport:
        assert callable(messages)  # each chat's messages, in its language
        sent.append((digest_id, len(messages(chats[0])), [c.chat_id for c in chats]))
        return BroadcastReport(sent=len(chats))

    talk = Conversation(ctx, admins=frozenset({ADMIN}), broadcast=broadcast)
    await talk.handle(USER, "/subscribe morning")
    replies = await talk.handle(ADMIN_CALLER, "/push morning")
    assert "核心要点" in replies[0].text
    [[approve, cancel]] = replies[-1].buttons
    assert approve.data.startswith("approve:") and cancel.data.startswith("cancel:")
    [refused] = await talk.callback(USER, approve.data)
    assert "管理员" in refused.text and not sent
    [done] = await talk.callback(ADMIN_CALLER, approve.data)
    assert "成功 1" in done.text and done.edit
    [again] = await talk.callback(ADMIN_CALLER, approve.data)
    assert "已处理" in again.text
    assert len(sent) == 1 and sent[0][2] == [1001]
    assert ctx.db.digests.latest("morning") is not None


async def test_a_push_previewed_on_one_process_is_approved_on_another_once(
    ctx: AppContext, database_url: str, clock: FakeClock
) -> None:
    """Webhook processes share the work: the Approve tap may reach another process."""
    sent: list[int] = []

    async def broadcast(digest_id: int, messages: Messages, chats: list[Chat]) -> BroadcastReport:
        sent.append(digest_id)
        return BroadcastReport(sent=len(chats))

    other_process = AppContext(load_settings(), database_url=database_url, clock=clock)
    here = Conversation(ctx, admins=frozenset({ADMIN}), broadcast=broadcast)
    there = Conversation(other_process, admins=frozenset({ADMIN}), broadcast=broadcast)
    replies = await here.handle(ADMIN_CALLER, "/push morning")
    [[approve, _]] = replies[-1].buttons
    [done] = await there.callback(ADMIN_CALLER, approve.data)
    [again] = await here.callback(ADMIN_CALLER, approve.data)
    other_process.close()
    assert "成功" in done.text and "已处理" in again.text and len(sent) == 1


async def test_digest_command_shows_the_latest(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    before = await talk.handle(USER, "/digest")  # no edition has run: the last day, now
    assert "核心要点" in before[0].text and ctx.db.digests.latest() is None  # nothing used up
    commands.compose_digest(ctx, edition="morning", save=True)
    replies = await talk.handle(USER, "/digest")
    latest = ctx.composer.in_language(commands.latest_digest(ctx, "morning"), "zh")
    assert "核心要点" in replies[0].text
    assert [r.text for r in replies] == render_telegram(latest)  # the whole digest, every part


async def test_a_channel_with_a_real_sized_id_is_registered_by_an_admin(ctx: AppContext) -> None:
    """Channel ids are -100 followed by ten digits: beyond 32 bits (PostgreSQL's integer)."""
    talk = Conversation(ctx, admins=frozenset({ADMIN}))
    await talk.handle(ADMIN_CALLER, "/subscribe -1001234567890 morning")
    channel = ctx.db.chats.get(-1001234567890)
    assert channel is not None and channel.kind == "channel" and channel.editions == ("morning",)
    assert [c.chat_id for c in ctx.db.chats.subscribers("morning")] == [-1001234567890]


async def _no() -> bool:
    return False


async def test_follow_takes_several_and_unfollow_says_when_there_was_nothing(
    ctx: AppContext,
) -> None:
    talk = Conversation(ctx)
    [done] = await talk.handle(USER, "/follow 寒武纪 华为")
    assert "寒武纪" in done.text and "华为" in done.text
    [listed] = await talk.handle(USER, "/following")
    assert "寒武纪" in listed.text and "华为" in listed.text
    [one] = await talk.handle(USER, "/follow Moore Threads")  # one name of two words
    assert "摩尔线程" in one.text
    [gone] = await talk.handle(USER, "/unfollow 华为")
    assert "已取消关注" in gone.text
    [nothing] = await talk.handle(USER, "/unfollow 华为")
    assert "本来就没有关注" in nothing.text
    [unknown] = await talk.handle(USER, "/follow 寒武纪 火星芯片")
    assert "火星芯片" in unknown.text


async def test_digest_citations_are_links_to_their_sources(ctx: AppContext) -> None:
    commands.compose_digest(ctx, edition="morning", save=True)
    replies = await Conversation(ctx).handle(USER, "/digest")
    first = next(line for line in replies[0].text.split("\n") if line.startswith("• "))
    assert '<a href="' in first and ">[1]</a>" in first


async def test_odd_input_gets_a_clear_answer_within_one_message(ctx: AppContext) -> None:
    talk = Conversation(ctx, bot_username="chip_digest_bot")
    assert await talk.handle(USER, "/start@some_other_bot") == []  # for another bot
    [mine] = await talk.handle(USER, "/start@chip_digest_bot")
    assert "/subscribe" in mine.text
    [card] = await talk.handle(USER, "/company 寒\u200b武\u200d纪")  # zero-width, pasted
    assert "寒武纪 · Cambricon" in card.text
    [long] = await talk.handle(USER, "/company " + "芯" * 10_000)
    assert len(long.text) < 4096
    for data in ("company:cambricon:abc", "company:x:0", "company:cambricon:400000024", "zz"):
        [expired] = await talk.callback(USER, data)
        assert "失效" in expired.text


async def test_a_message_that_is_just_a_company_name_gets_its_card(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    for name in ("寒武纪", "Cambricon", "688256"):
        [card] = await talk.handle(USER, name)
        assert card.text.startswith("<b>寒武纪 · Cambricon</b>")
    [unknown] = await talk.handle(USER, "你好")
    assert "没看懂" in unknown.text and "/company" in unknown.text


async def test_addsource_reads_the_feed_first_and_adds_it_when_confirmed(
    database_url: str,
    clock: FakeClock,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHIPDIGEST_ALLOW_PRIVATE_SOURCES", "true")
    ctx = AppContext(load_settings(), database_url=database_url, clock=clock)
    ctx.prepare()
    talk = Conversation(ctx, admins=frozenset({ADMIN}))
    feed = feed_server.add_file("/feed.xml", "rdf.xml", "application/rdf+xml")
    page = feed_server.add(
        "/readme.md", body=b"# not a feed", headers={"Content-Type": "text/markdown"}
    )

    [refused] = await talk.handle(ADMIN_CALLER, f"/addsource {page}")
    assert "不是订阅源" in refused.text and not ctx.db.sources.all()
    [offer] = await talk.handle(ADMIN_CALLER, f"/addsource {feed}")
    assert "现有 2 条" in offer.text and "添加吗" in offer.text
    [[add, cancel]] = offer.buttons
    assert not ctx.db.sources.all()[0].enabled  # nothing is read before the admin says so
    [stranger] = await talk.callback(USER, add.data)
    assert "管理员" in stranger.text and not ctx.db.sources.all()[0].enabled
    [added] = await talk.callback(ADMIN_CALLER, add.data)
    assert "已添加订阅源 #1" in added.text and added.edit and ctx.db.sources.all()[0].enabled
    [again] = await talk.callback(ADMIN_CALLER, cancel.data)  # a late tap changes nothing
    assert ctx.db.sources.all()[0].enabled and "已处理" in again.text

    await commands.fetch(ctx)
    [ask] = await talk.handle(ADMIN_CALLER, "/delsource 1")
    assert "删除订阅源 #1" in ask.text and "2 条仍留在" in ask.text and ctx.db.sources.all()
    [[delete, keep]] = ask.buttons
    [kept] = await talk.callback(ADMIN_CALLER, keep.data)
    assert "已保留" in kept.text and ctx.db.sources.all()
    [deleted] = await talk.callback(ADMIN_CALLER, delete.data)
    assert "已删除订阅源 #1" in deleted.text and not ctx.db.sources.all()
    assert ctx.db.items.count() == 2  # its items stay
    ctx.close()


async def test_why_explains_a_kept_and_a_dropped_item(ctx: AppContext, clock: FakeClock) -> None:
    talk = Conversation(ctx, admins=frozenset({ADMIN}))
    items = ctx.db.items.latest(limit=100)
    kept = next(i for i in items if i.relevant and i.title_companies)
    dropped = next(i for i in items if not i.relevant)

    [reply] = await talk.handle(ADMIN_CALLER, f"/why {kept.id}")
    assert f"<b>#{kept.id}</b>" in reply.text and "保留：相关度" in reply.text
    assert "得分来自：" in reply.text and "以其为主题：" in reply.text
    company = ctx.companies.get(kept.title_companies[0])
    assert company is not None and company.display_name("zh") in reply.text
    [reply] = await talk.handle(ADMIN_CALLER, f"/why {dropped.id}")
    assert "未选入：相关度" in reply.text and "低于门槛 3" in reply.text

    row = {
        "outlet": "芯片周刊",
        "title": "寒武纪发布新一代训练芯片思元690",
        "summary": "寒武纪今日发布思元690训练芯片，面向大模型训练。\n责任编辑：王五",
        "published": "2026-11-23T00:30:00+00:00",
    }
    ingest(ctx.pipeline(), ctx.db, clock, [row])
    [reply] = await talk.handle(ADMIN_CALLER, f"/why {ctx.db.items.max_id()}")
    assert "清理时去掉了：责任编辑：王五" in reply.text
    [refused] = await talk.handle(USER, f"/why {kept.id}")
    assert "管理员" in refused.text
    [usage] = await talk.handle(ADMIN_CALLER, "/why abc")
    assert "/why 1234" in usage.text
    [unknown] = await talk.handle(ADMIN_CALLER, "/why 999999")
    assert "没有编号为 999999 的条目" in unknown.text


async def test_sources_show_admins_the_health_of_each_source(ctx: AppContext) -> None:
    talk = Conversation(ctx, admins=frozenset({ADMIN}))
    [health] = await talk.handle(ADMIN_CALLER, "/sources")
    lines = health.text.split("\n")
    good = next(line for line in lines if "#1 " in line)
    assert good.startswith("✓") and "正常，上次成功 11月23日" in good and "相关" in good
    broken = lines.index(next(line for line in lines if "#7 " in line))
    assert lines[broken].startswith("⚠") and "出错中" in lines[broken]
    assert "连续 1 次出错：not a feed" in lines[broken + 1] and "下次尝试" in lines[broken + 1]
    [plain] = await talk.handle(USER, "/sources")
    assert "上次成功" not in plain.text and "芯智观察" in plain.text  # readers see the list


async def test_follow_a_segment_and_a_keyword_and_get_their_alerts(
    ctx: AppContext, clock: FakeClock
) -> None:
    talk = Conversation(ctx)
    [done] = await talk.handle(USER, "/follow GPU HBM")
    assert "GPU（板块）" in done.text and "“hbm”（关键词）" in done.text
    rows = [
        {
            "outlet": "存储观察",
            "title": "长鑫存储HBM3E通过客户验证，明年量产",
            "summary": "长鑫存储的HBM3E高带宽内存通过国内AI芯片客户验证。",
            "published": "2026-11-23T00:40:00+00:00",
        },
        {
            "outlet": "GPU周刊",
            "title": "沐曦发布新一代训练GPU曦云C600",
            "summary": "国产GPU企业沐曦发布曦云C600训练芯片，面向大模型训练。",
            "published": "2026-11-23T00:45:00+00:00",
        },
    ]
    ingest(ctx.pipeline(), ctx.db, clock, rows)
    batches = pending_alerts(ctx)
    [batch] = [b for b in batches if b.chat.chat_id == USER.chat_id]
    assert [i.title for i in batch.items["keyword:hbm"]] == [rows[0]["title"]]
    assert rows[1]["title"] in [i.title for i in batch.items["segment:gpu"]]
    text = "\n".join(m.text for m in render_alert(ctx, batch))
    assert "<b>GPU（板块）</b>" in text and "<b>“hbm”（关键词）</b>" in text
    [partial] = await talk.handle(USER, "/unfollow hbm 寒武纪")
    assert "已取消关注 “hbm”（关键词）" in partial.text and "本来就没有关注 寒武纪" in partial.text


async def test_a_card_offers_the_companies_most_often_in_the_same_reports(
    ctx: AppContext,
) -> None:
    talk = Conversation(ctx)
    [card] = await talk.handle(USER, "/company 英伟达")
    related = [b for row in card.buttons for b in row if b.data.endswith(":0")]
    assert related and all(not b.data.startswith("company:nvidia:") for b in related)
    counts = dict(ctx.db.items.co_mentioned("nvidia", ctx.clock() - timedelta(days=90)))
    assert [b.data.split(":")[1] for b in related] == list(counts)[: len(related)]
    [other] = await talk.callback(USER, related[0].data)  # a tap: that company's card
    assert other.text.startswith("<b>") and not other.edit


async def test_the_card_describes_the_company_in_the_chats_language(ctx: AppContext) -> None:
    talk = Conversation(ctx)
    [chinese] = await talk.handle(USER, "/company 寒武纪")
    assert "北京AI芯片设计公司" in chinese.text and "上市信息核对于 2026-11-25" in chinese.text
    await talk.handle(USER, "/settings lang en")
    [english] = await talk.handle(USER, "/company 寒武纪")
    assert "Beijing AI-chip designer" in english.text and "listing as of 2026-11-25" in english.text
    assert all(c.description_zh and c.description for c in ctx.companies)  # every one, both


async def test_a_company_alert_is_for_news_about_it_not_a_passing_mention(
    ctx: AppContext, clock: FakeClock
) -> None:
    talk = Conversation(ctx)
    await talk.handle(USER, "/follow 寒武纪")
    rows = [
        {
            "outlet": "芯片周刊",
            "title": "寒武纪思元690完成客户验证",
            "summary": "寒武纪新一代训练芯片思元690完成互联网客户验证，预计明年放量。",
            "published": "2026-11-23T00:40:00+00:00",
        },
        {
            "outlet": "算力观察",
            "title": "国产AI芯片板块午后走强",
            "summary": "国产AI芯片板块午后走强，海光信息、寒武纪、摩尔线程等个股上涨。",
            "published": "2026-11-23T00:45:00+00:00",
        },
    ]
    ingest(ctx.pipeline(), ctx.db, clock, rows)
    [batch] = [b for b in pending_alerts(ctx) if b.chat.chat_id == USER.chat_id]
    assert [i.title for i in batch.items["cambricon"]] == [rows[0]["title"]]
