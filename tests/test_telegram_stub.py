"""The Bot API stand-in is as strict as Telegram: a real aiogram Bot, over real HTTP, is
refused what Telegram would refuse (and let through what Telegram lets through)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)

from tests.telegram_stub import (
    GET_FILE_LIMIT,
    QUERY_TOO_OLD,
    Entity,
    TelegramStub,
    Upload,
    parse_html,
)

TOKEN = "123456:TEST-TOKEN-not-real"
CHAT = 777
ESCAPE_IT = 'it must be escaped as "&amp;"'


@pytest.fixture
async def stub() -> AsyncIterator[TelegramStub]:
    server = TelegramStub()
    await server.start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def bot_for(stub: TelegramStub) -> AsyncIterator[Bot]:
    bot = Bot(
        TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(stub.base_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def bot(stub: TelegramStub) -> AsyncIterator[Bot]:
    async with bot_for(stub) as running:
        yield running


def keyboard(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(buttons)])


# -- message text ------------------------------------------------------------------------


async def test_4096_characters_are_sent_and_4097_refused(stub: TelegramStub, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "x" * 4096)
    assert stub.messages[(CHAT, sent.message_id)]["text"] == "x" * 4096

    with pytest.raises(TelegramBadRequest, match=r"Bad Request: message is too long$"):
        await bot.send_message(CHAT, "x" * 4097)
    assert len(stub.messages) == 1
    assert len(stub.sent(chat_id=CHAT)) == 2  # the refused call is still recorded


async def test_the_limit_counts_the_visible_text(stub: TelegramStub, bot: Bot) -> None:
    # Each &lt; is one character on screen, the tags none.
    await bot.send_message(CHAT, "&lt;" * 4096)
    await bot.send_message(CHAT, "<b>" + "x" * 4095 + "</b>&amp;")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "&lt;" * 4097)
    assert [r.text for r in stub.rendered.values()] == ["<" * 4096, "x" * 4095 + "&"]


async def test_the_limit_counts_utf16_code_units(bot: Bot) -> None:
    await bot.send_message(CHAT, "😀" * 2048)  # 4096 code units
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "😀" * 2048 + "x")


@pytest.mark.parametrize("text", ["<b></b>", " \n ", "<i>\n</i>"])
async def test_a_text_with_nothing_to_show_is_refused(bot: Bot, text: str) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Bad Request: message text is empty$"):
        await bot.send_message(CHAT, text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<br>line", 'Unsupported start tag "br" at byte offset 0'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("привет <b", "Unclosed start tag at byte offset 13"),
        ('<a href="x">y', 'Can\'t find end tag corresponding to start tag "a"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("Tom & Jerry", 'Character "&" at byte offset 4 starts no entity; ' + ESCAPE_IT),
        ("&nbsp;", 'Character "&" at byte offset 0 starts no entity; ' + ESCAPE_IT),
    ],
)
async def test_html_telegram_cannot_parse_is_refused(
    stub: TelegramStub, bot: Bot, text: str, reason: str
) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.send_message(CHAT, text)
    assert refused.value.message == f"Bad Request: can't parse entities: {reason}"
    assert not stub.messages


async def test_telegrams_tags_and_entities_are_accepted(stub: TelegramStub, bot: Bot) -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del><a href='https://x.example/?a=1&amp;b=2'>a</a>"
        '<code>c</code><pre><code class="language-py">p</code></pre><tg-spoiler>t</tg-spoiler>'
        '<span class="tg-spoiler">o</span><blockquote>q</blockquote>'
        " &lt;&gt;&amp;&quot; &#65;&#x42;"
    )
    sent = await bot.send_message(CHAT, html)
    rendered = stub.rendered[(CHAT, sent.message_id)]
    assert rendered.text == 'bsieunskdacptoq <>&" AB'
    assert Entity("text_link", 9, 1, url="https://x.example/?a=1&b=2") in rendered.entities
    assert Entity("pre", 11, 1, language="py") in rendered.entities
    assert {e.type for e in rendered.entities} == {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "text_link",
        "code",
        "pre",
        "spoiler",
        "blockquote",
    }


def test_entity_offsets_are_utf16() -> None:
    rendered = parse_html("😀 <b>é😀</b>")
    assert rendered.entities == (Entity("bold", 3, 3),)


async def test_a_bare_ampersand_can_be_let_through_as_telegram_does() -> None:
    lenient = TelegramStub(bare_ampersand_ok=True)
    await lenient.start()
    try:
        async with bot_for(lenient) as bot:
            sent = await bot.send_message(CHAT, "Tom & Jerry &copy; <b>&amp;</b>")
            assert lenient.rendered[(CHAT, sent.message_id)].text == "Tom & Jerry &copy; &"
            with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
                await bot.send_message(CHAT, "a < b")
    finally:
        await lenient.stop()


async def test_a_text_that_looks_like_json_stays_text(stub: TelegramStub, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "[1, 2]")
    assert stub.messages[(CHAT, sent.message_id)]["text"] == "[1, 2]"
    assert stub.texts(CHAT) == ["[1, 2]"]


async def test_text_without_a_parse_mode_is_taken_as_it_is(stub: TelegramStub, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "<b>x & y", parse_mode=None)
    assert stub.rendered[(CHAT, sent.message_id)].text == "<b>x & y"


async def test_edits_are_parsed_and_compared_as_shown(stub: TelegramStub, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "<b>Open</b>")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.edit_message_text("<b>Closed", chat_id=CHAT, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.edit_message_text("x" * 4097, chat_id=CHAT, message_id=sent.message_id)
    # <strong> is <b> to Telegram: the same content, so not modified.
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<strong>Open</strong>", chat_id=CHAT, message_id=sent.message_id
        )
    await bot.edit_message_text("<i>Open</i>", chat_id=CHAT, message_id=sent.message_id)
    assert stub.messages[(CHAT, sent.message_id)]["text"] == "<i>Open</i>"


# -- inline keyboards --------------------------------------------------------------------


async def test_callback_data_is_1_to_64_bytes(stub: TelegramStub, bot: Bot) -> None:
    await bot.send_message(
        CHAT, "ok", reply_markup=keyboard(InlineKeyboardButton(text="a", callback_data="é" * 32))
    )
    with pytest.raises(TelegramBadRequest, match=r"Bad Request: BUTTON_DATA_INVALID$"):
        await bot.send_message(
            CHAT,
            "too long",
            reply_markup=keyboard(InlineKeyboardButton(text="a", callback_data="é" * 32 + "x")),
        )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(
            CHAT, "x", reply_markup=keyboard(InlineKeyboardButton(text="a", callback_data="x" * 65))
        )
    assert len(stub.messages) == 1


async def test_a_button_needs_text_and_an_action(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Bad Request: BUTTON_TEXT_INVALID$"):
        await bot.send_message(
            CHAT, "x", reply_markup=keyboard(InlineKeyboardButton(text="", callback_data="d"))
        )
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(CHAT, "x", reply_markup=keyboard(InlineKeyboardButton(text="a")))
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(
            CHAT, "x", reply_markup=keyboard(InlineKeyboardButton(text="a", callback_data=""))
        )


async def test_at_most_100_buttons(stub: TelegramStub, bot: Bot) -> None:
    def grid(count: int) -> InlineKeyboardMarkup:
        buttons = [InlineKeyboardButton(text=str(n), callback_data=str(n)) for n in range(count)]
        return InlineKeyboardMarkup(
            inline_keyboard=[buttons[start : start + 8] for start in range(0, count, 8)]
        )

    await bot.send_message(CHAT, "100", reply_markup=grid(100))
    with pytest.raises(TelegramBadRequest, match="REPLY_MARKUP_TOO_LONG"):
        await bot.send_message(CHAT, "101", reply_markup=grid(101))
    sent = await bot.send_message(CHAT, "edit me")
    with pytest.raises(TelegramBadRequest, match="REPLY_MARKUP_TOO_LONG"):
        await bot.edit_message_text(
            "edited", chat_id=CHAT, message_id=sent.message_id, reply_markup=grid(101)
        )


# -- callback answers ----------------------------------------------------------------------


async def test_a_callback_query_is_answered_once(stub: TelegramStub, bot: Bot) -> None:
    assert await bot.answer_callback_query("q-1", text="Done")
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.answer_callback_query("q-1")
    assert refused.value.message == QUERY_TOO_OLD
    assert await bot.answer_callback_query("q-2")
    assert len(stub.sent("answerCallbackQuery")) == 3
    assert stub.answered_callback_queries == {"q-1", "q-2"}


async def test_a_callback_answer_is_at_most_200_characters(stub: TelegramStub, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Bad Request: MESSAGE_TOO_LONG$"):
        await bot.answer_callback_query("q-1", text="x" * 201, show_alert=True)
    # The refused answer did not use the query up.
    assert await bot.answer_callback_query("q-1", text="x" * 200)


# -- documents and files -------------------------------------------------------------------


async def test_send_document_round_trip(stub: TelegramStub, bot: Bot) -> None:
    content = b"%PDF-1.7 proof " * 1000
    sent = await bot.send_document(
        CHAT, BufferedInputFile(content, "proof.pdf"), caption="<b>Proof</b> &amp; more"
    )
    document = sent.document
    assert document is not None
    assert (document.file_name, document.file_size, document.mime_type) == (
        "proof.pdf",
        len(content),
        "application/pdf",
    )
    assert document.file_unique_id
    assert sent.caption == "<b>Proof</b> &amp; more"
    assert stub.uploaded["proof.pdf"] == content
    (call,) = stub.sent("sendDocument", chat_id=CHAT)
    uploads = [value for value in call.params.values() if isinstance(value, Upload)]
    assert [(u.filename, u.content) for u in uploads] == [("proof.pdf", content)]
    assert stub.messages[(CHAT, sent.message_id)]["document"]["file_id"] == document.file_id

    # What was uploaded can be fetched back, and sent again by its file_id.
    file = await bot.get_file(document.file_id)
    downloaded = await bot.download(file)
    assert downloaded is not None
    assert downloaded.read() == content
    again = await bot.send_document(CHAT + 1, document.file_id)
    assert again.document is not None
    assert (again.document.file_id, again.document.file_name) == (document.file_id, "proof.pdf")


async def test_send_document_refusals(stub: TelegramStub, bot: Bot) -> None:
    upload = BufferedInputFile(b"data", "a.txt")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(CHAT, upload, caption="x" * 1025)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_document(CHAT, upload, caption="<b>x")
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(CHAT, "no-such-file")
    with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
        await bot.send_document(CHAT, BufferedInputFile(b"", "empty.txt"))
    assert not stub.messages
    assert not stub.uploaded
    await bot.send_document(CHAT, upload, caption="&lt;" * 1024)


async def test_get_file_refuses_over_20_mb(stub: TelegramStub, bot: Bot) -> None:
    stub.add_file("limit", bytes(GET_FILE_LIMIT))
    stub.add_file("over", bytes(GET_FILE_LIMIT + 1))
    assert (await bot.get_file("limit")).file_size == GET_FILE_LIMIT
    with pytest.raises(TelegramBadRequest, match=r"Bad Request: file is too big$"):
        await bot.get_file("over")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("missing")


async def test_file_sizes_can_be_hidden(stub: TelegramStub, bot: Bot) -> None:
    stub.hide_file_sizes = True
    stub.add_file("f1", b"12345")
    file = await bot.get_file("f1")
    assert file.file_size is None
    assert file.file_path


async def test_a_full_download_serves_every_byte(stub: TelegramStub, bot: Bot) -> None:
    content = bytes(range(256)) * 1000
    stub.add_file("f1", content)
    downloaded = await bot.download(await bot.get_file("f1"))
    assert downloaded is not None
    assert downloaded.read() == content
    await asyncio.wait_for(stub.file_finished.wait(), 5)
    assert stub.served_bytes["f1"] == len(content)
    assert not stub.hung_up


async def test_served_bytes_show_the_client_stopped_reading(stub: TelegramStub, bot: Bot) -> None:
    content = bytes(GET_FILE_LIMIT)
    stub.add_file("big", content)
    file = await bot.get_file("big")
    assert file.file_path is not None
    url = bot.session.api.file_url(bot.token, file.file_path)
    received = 0
    async with contextlib.aclosing(bot.session.stream_content(url)) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            break  # a client that has read enough hangs up
    await asyncio.wait_for(stub.file_finished.wait(), 10)
    assert received > 0
    assert received <= stub.served_bytes["big"] < len(content)
    assert stub.hung_up == ["big"]


async def test_file_delay_and_requested_still_work(stub: TelegramStub, bot: Bot) -> None:
    stub.file_delay_seconds = 0.2
    stub.add_file("f1", b"abc")
    file = await bot.get_file("f1")
    download = asyncio.create_task(bot.download(file))
    await asyncio.wait_for(stub.file_requested.wait(), 5)
    assert not download.done()
    downloaded = await download
    assert downloaded is not None
    assert downloaded.read() == b"abc"


# -- flood control -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_one_message_a_second_to_a_chat() -> None:
    clock = FakeClock()
    stub = TelegramStub(per_chat_per_second=1.0, per_chat_burst=1, clock=clock)
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            await bot.send_message(CHAT, "first")
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(CHAT, "second")
            assert refused.value.retry_after == 1
            assert refused.value.message.endswith("Too Many Requests: retry after 1")
            await bot.send_message(CHAT + 1, "another chat is not held back")
            clock.now += 1.0
            sent = await bot.send_message(CHAT, "a second later")
            with pytest.raises(TelegramRetryAfter):  # an edit is a message too
                await bot.edit_message_text("edited", chat_id=CHAT, message_id=sent.message_id)
            clock.now += 0.5
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(CHAT, "half a second later")
            assert refused.value.retry_after == 1
            clock.now += 0.5
            await bot.edit_message_text("edited", chat_id=CHAT, message_id=sent.message_id)
            assert stub.texts(CHAT) == ["first", "second", "a second later", "half a second later"]
            assert len(stub.messages) == 3
            assert len(stub.throttled) == 3
    finally:
        await stub.stop()


async def test_a_private_chat_takes_a_short_burst_then_one_a_second() -> None:
    clock = FakeClock()
    stub = TelegramStub(per_chat_per_second=1.0, clock=clock)
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            for n in range(5):
                await bot.send_message(CHAT, f"burst {n}")
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(CHAT, "one too many")
            assert refused.value.retry_after == 1
            clock.now += 1.0
            await bot.send_message(CHAT, "a second later")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(CHAT, "and again at once")
    finally:
        await stub.stop()


async def test_a_group_takes_20_messages_in_any_minute() -> None:
    clock = FakeClock()
    stub = TelegramStub(clock=clock)
    group = -1001234
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            first = await bot.send_message(group, "first")
            for n in range(18):
                clock.now += 1.0
                await bot.send_message(group, f"message {n}")
            clock.now += 1.0
            # An edit counts as a message to the group: it is the 20th.
            await bot.edit_message_text("edited", chat_id=group, message_id=first.message_id)
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(group, "the 21st within the minute")
            # The first message leaves the window 60 s after it was sent: 41 s from now.
            assert refused.value.retry_after == 41
            await bot.send_message(CHAT, "a private chat is not held back")
            clock.now += 40.5
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(group, "still within the minute")
            assert refused.value.retry_after == 1
            clock.now += 0.5
            await bot.send_message(group, "the first has left the window")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(group, "but the second has not")
            assert len(stub.throttled) == 3
    finally:
        await stub.stop()


async def test_thirty_messages_a_second_per_bot_token() -> None:
    clock = FakeClock()
    stub = TelegramStub(clock=clock)
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            for chat in range(30):
                await bot.send_message(chat + 1, "burst")
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(99, "one too many")
            assert refused.value.retry_after == 1
            clock.now += 0.15  # 0.15 s gives four and a half messages back
            for chat in range(4):
                await bot.send_message(100 + chat, "later")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(200, "and no more")
        other = Bot(
            "654321:ANOTHER-TOKEN",
            session=AiohttpSession(api=TelegramAPIServer.from_base(stub.base_url)),
        )
        try:  # each bot token has its own budget
            await other.send_message(300, "another bot")
        finally:
            await other.session.close()
    finally:
        await stub.stop()


async def test_a_global_rate_limit() -> None:
    clock = FakeClock()
    stub = TelegramStub(global_per_second=3.0, clock=clock)
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            for chat in range(3):
                await bot.send_message(chat + 1, "burst")
            with pytest.raises(TelegramRetryAfter) as refused:
                await bot.send_message(99, "one too many")
            assert refused.value.retry_after == 1
            clock.now += 0.34  # a third of a second gives one message back
            await bot.send_message(99, "later")
    finally:
        await stub.stop()


async def test_the_limits_can_be_turned_off() -> None:
    stub = TelegramStub(enforce_limits=False)
    await stub.start()
    try:
        async with bot_for(stub) as bot:
            for n in range(40):
                await bot.send_message(CHAT, f"message {n}")
                await bot.send_message(-100, f"group message {n}")
        assert stub.throttled == []
    finally:
        await stub.stop()


async def test_fail_next_comes_first(stub: TelegramStub, bot: Bot) -> None:
    stub.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(CHAT, "x")
    assert refused.value.retry_after == 5
    await bot.send_message(CHAT, "x")
