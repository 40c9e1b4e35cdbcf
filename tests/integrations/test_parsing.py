"""Every Messenger, Instagram and Telegram payload shape becomes the right normalised events (or none)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings

from assistant.models import Channel
from integrations.adapters.messenger import InstagramAdapter, MessengerAdapter
from integrations.adapters.telegram import TelegramAdapter
from integrations.events import Event, EventKind
from tests.integrations import payloads as p
from tests.integrations.conftest import messaging_message

# --- Messenger and Instagram -----------------------------------------------------------------------


def test_messenger_text_quick_reply_postback_and_edit_are_questions(messenger: MessengerAdapter) -> None:
    payload = p.messaging_delivery(
        "page",
        p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_1", "text": "hello, world!"}),
        p.messaging_item(
            p.PSID, p.PAGE_ID, message={"mid": "m_2", "text": "Red", "quick_reply": {"payload": "PICK_RED"}}
        ),
        p.messaging_item(p.PSID, p.PAGE_ID, postback={"mid": "m_3", "title": "Get started", "payload": "START"}),
        p.messaging_item(p.PSID, p.PAGE_ID, message_edit={"mid": "m_1", "text": "hello, world?", "num_edit": 1}),
    )
    events = messenger.parse(payload)
    assert [(e.kind, e.key, e.text) for e in events] == [
        (EventKind.TEXT, "m_1", "hello, world!"),
        (EventKind.TEXT, "m_2", "Red"),
        (EventKind.TEXT, "m_3", "Get started"),
        (EventKind.TEXT, "edit:m_1:1", "hello, world?"),
    ]
    assert {(e.chat_id, e.sender_id, e.reply_to) for e in events} == {(p.PSID, p.PSID, p.PSID)}


@pytest.mark.parametrize(
    ("attachment", "kind"),
    [({"type": "image", "payload": {"url": "https://scontent.example/photo.jpg"}}, EventKind.PHOTO),
     ({"type": "audio", "payload": {"url": "https://cdn.example/voice.mp4"}}, EventKind.VOICE)],
)  # fmt: skip
def test_messenger_image_and_audio_are_read_from_their_url(
    messenger: MessengerAdapter, attachment: dict[str, Any], kind: EventKind
) -> None:
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_4", "attachments": [attachment]})
    [event] = messenger.parse(p.messaging_delivery("page", item))
    assert (event.kind, event.media) == (kind, attachment["payload"]["url"])


STICKER = {"url": "https://scontent.xx.fbcdn.net/v/t39.1997-6/sticker.png", "sticker_id": 369239263222822}
VIDEO = {"type": "video", "payload": {"url": "https://video.xx.fbcdn.net/v/t42.3356-2/clip.mp4"}}
PICTURE = {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}}
FILE = {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/t59.2708-21/menu.pdf"}}


@pytest.mark.parametrize(
    ("app", "attachments", "detail"),
    [pytest.param("messenger", [{"type": "sticker", "payload": STICKER}], "sticker", id="messenger-sticker"),
     # From June to August 2026 Meta sent a sticker twice: as a `sticker` and as the `image` it used to be.
     pytest.param("messenger", [{"type": "sticker", "payload": STICKER}, {"type": "image", "payload": STICKER}],
                  "sticker,sticker", id="messenger-sticker-in-transition"),
     pytest.param("messenger", [{"type": "image", "payload": STICKER}], "sticker", id="messenger-sticker-before"),
     pytest.param("messenger", [VIDEO, PICTURE], "video,image", id="messenger-video-first"),
     pytest.param("messenger", [FILE], "document", id="messenger-file"),
     pytest.param("instagram", [VIDEO, PICTURE], "video,image", id="instagram-video-first"),
     pytest.param("instagram", [FILE], "document", id="instagram-file")],
)  # fmt: skip
def test_messenger_and_instagram_stickers_video_and_files_are_unsupported(
    request: pytest.FixtureRequest, app: str, attachments: list[dict[str, Any]], detail: str
) -> None:
    """Messenger's and Instagram's own `message` events (Instagram documents no sticker of its own:
    one comes as a plain `image`, when a webhook is sent at all)."""
    adapter: MessengerAdapter = request.getfixturevalue(app)
    [event] = adapter.parse(messaging_message(app, {"mid": "m_4", "attachments": attachments}))
    assert (event.app, event.kind, event.detail, event.media) == (app, EventKind.UNSUPPORTED, detail, "")


def test_messenger_echo_read_and_delivery_are_stored_as_ignored(messenger: MessengerAdapter) -> None:
    items = [
        p.messaging_item(
            p.PAGE_ID, p.PSID, message={"mid": "m_5", "is_echo": True, "app_id": 1517776481860111, "text": "Hi!"}
        ),
        p.messaging_item(p.PSID, p.PAGE_ID, read={"watermark": 1458668856253}),
        p.messaging_item(p.PSID, p.PAGE_ID, delivery={"mids": ["m_5"], "watermark": 1458668856253}),
    ]
    events = messenger.parse(p.messaging_delivery("page", *items))
    assert [(e.kind, e.detail, e.sender_id, e.raw) for e in events] == [
        (EventKind.IGNORED, reason, p.PSID, item)
        for reason, item in zip(("echo", "read", "delivery"), items, strict=True)
    ]
    assert not any(e.kind.needs_handling for e in events)


def test_messenger_events_without_a_sender_are_ignored_and_the_rest_answered(messenger: MessengerAdapter) -> None:
    """app_roles and policy-enforcement events have no `sender`; a postback's title may be null."""
    app_roles = {
        "recipient": {"id": p.PAGE_ID},
        "timestamp": 1762902671,
        "app_roles": {"123456789": ["primary_receiver"]},
    }
    blocked = {"action": "block", "reason": "A reason written for this suite."}
    enforcement = {"recipient": {"id": p.PAGE_ID}, "timestamp": 1762902672, "policy-enforcement": blocked}
    postback = p.messaging_item(p.PSID, p.PAGE_ID, postback={"mid": "m_PB", "title": None, "payload": "Get started"})
    text = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_T", "text": "Hello"})
    events = messenger.parse(p.messaging_delivery("page", app_roles, enforcement, postback, text))
    assert [(e.kind, e.detail or e.text) for e in events] == [
        (EventKind.IGNORED, "app_roles"),
        (EventKind.IGNORED, "policy-enforcement"),
        (EventKind.TEXT, "Get started"),
        (EventKind.TEXT, "Hello"),
    ]
    assert (events[0].raw, events[1].raw) == (app_roles, enforcement)


def test_messenger_malformed_events_are_ignored_with_the_reason(messenger: MessengerAdapter) -> None:
    no_mid = p.messaging_item(p.PSID, p.PAGE_ID, message={"text": "lost id"})
    null_message = p.messaging_item(p.PSID, p.PAGE_ID, message=None)
    text = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_OK", "text": "Fine"})
    payload = p.messaging_delivery("page", no_mid, "not an object", null_message, text)
    payload["entry"][0]["standby"] = ["not an object either"]
    events = messenger.parse(payload)
    assert [(e.kind, e.detail or e.text) for e in events] == [
        (EventKind.IGNORED, "malformed: Messaging: message.mid: Field required"),
        (EventKind.IGNORED, "standby"),
        (EventKind.IGNORED, "malformed: a messaging event is str, not an object"),
        (EventKind.IGNORED, "malformed: message, postback, message_edit, reaction: all null"),
        (EventKind.TEXT, "Fine"),
    ]
    assert events[0].raw == no_mid


def test_messenger_reaction_names_the_message_and_is_never_answered(messenger: MessengerAdapter) -> None:
    reaction = {"mid": "m_OURS", "action": "react", "reaction": "love", "emoji": "❤️"}
    [event] = messenger.parse(p.messaging_delivery("page", p.messaging_item(p.PSID, p.PAGE_ID, reaction=reaction)))
    assert (event.kind, event.original_id, event.detail) == (EventKind.REACTION, "m_OURS", "❤️")
    assert not event.kind.needs_handling


def test_messenger_edit_names_the_message_it_edits(messenger: MessengerAdapter) -> None:
    edit = {"mid": "m_1", "text": "hello, world?", "num_edit": "2"}
    [event] = messenger.parse(p.messaging_delivery("page", p.messaging_item(p.PSID, p.PAGE_ID, message_edit=edit)))
    assert (event.kind, event.key, event.original_id, event.is_edit) == (EventKind.TEXT, "edit:m_1:2", "m_1", True)


def test_instagram_text_deleted_unsupported_and_read(instagram: InstagramAdapter) -> None:
    payload = p.messaging_delivery(
        "instagram",
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_1", "text": "Do you ship to Lisbon?"}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_1", "is_deleted": True}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_2", "is_unsupported": True}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, read={"mid": "ig_OURS"}),
        p.messaging_item(p.IG_ACCOUNT_ID, p.IGSID, message={"mid": "ig_3", "text": "Yes!", "is_echo": True}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, reaction={"mid": "ig_OURS", "action": "unreact"}),
        page=p.IG_ACCOUNT_ID,
    )
    events = instagram.parse(payload)
    assert [(e.app, e.kind, e.detail, e.original_id) for e in events] == [
        (Channel.INSTAGRAM, EventKind.TEXT, "", ""),
        (Channel.INSTAGRAM, EventKind.DELETED, "", "ig_1"),
        (Channel.INSTAGRAM, EventKind.UNSUPPORTED, "unsupported", ""),
        (Channel.INSTAGRAM, EventKind.IGNORED, "read", ""),
        (Channel.INSTAGRAM, EventKind.IGNORED, "echo", ""),
        (Channel.INSTAGRAM, EventKind.REACTION, "", "ig_OURS"),
    ]


def test_instagram_endpoint_ignores_messenger_payloads(instagram: InstagramAdapter) -> None:
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_1", "text": "hi"})
    [event] = instagram.parse(p.messaging_delivery("page", item))
    assert (event.kind, event.detail) == (EventKind.IGNORED, "malformed: object is 'page', expected 'instagram'")


# --- Telegram ------------------------------------------------------------------------------------


def test_telegram_private_message(telegram: TelegramAdapter) -> None:
    [event] = telegram.parse(p.telegram_update(10000, message=p.telegram_message(1365, "What's a haiku?")))
    assert event == Event(
        app=Channel.TELEGRAM,
        kind=EventKind.TEXT,
        key="10000",
        chat_id="1111111",
        sender_id="1111111",
        reply_to="1111111",
        message_id="1365",
        sender_name="Ada",
        text="What's a haiku?",
    )


def test_telegram_edited_message_names_its_message_under_its_own_update(telegram: TelegramAdapter) -> None:
    edited = p.telegram_message(1365, "What's a sonnet?", edit_date=1441645600)
    [event] = telegram.parse(p.telegram_update(10001, edited_message=edited))
    assert (event.kind, event.key, event.text, event.original_id) == (
        EventKind.TEXT,
        "10001",
        "What's a sonnet?",
        "1365",
    )


def test_telegram_callback_query_is_a_question_with_a_button_to_answer(telegram: TelegramAdapter) -> None:
    query = {"id": "4382bfdwdsb323b2d9", "from": p.telegram_user(), "chat_instance": "-1234",
             "data": "More ideas", "message": p.telegram_message(1400, "Pick one")}  # fmt: skip
    [event] = telegram.parse(p.telegram_update(10002, callback_query=query))
    assert (event.kind, event.text, event.callback_query_id) == (EventKind.TEXT, "More ideas", "4382bfdwdsb323b2d9")


def test_telegram_button_under_an_inline_message_is_kept_as_ignored(telegram: TelegramAdapter) -> None:
    query = {"id": "4382bfdwdsb323b2d0", "from": p.telegram_user(), "chat_instance": "-1234",
             "inline_message_id": "AAAAAAAAAAAAAA", "data": "More ideas"}  # fmt: skip
    [event] = telegram.parse(p.telegram_update(10012, callback_query=query))
    assert (event.kind, event.detail) == (EventKind.IGNORED, "callback_query without a message")


def _group_message(text: str, **extra: Any) -> dict[str, Any]:
    return p.telegram_message(2000, text, chat_id=-1001234567890, chat_type="supergroup", **extra)


def test_telegram_group_message_that_mentions_the_bot_is_answered_without_the_mention(
    telegram: TelegramAdapter,
) -> None:
    mention = f"@{p.BOT_USERNAME}"
    message = _group_message(
        f"{mention} what's up?", entities=[{"type": "mention", "offset": 0, "length": len(mention)}]
    )
    [event] = telegram.parse(p.telegram_update(10003, message=message))
    assert (event.chat_id, event.sender_id, event.text) == ("-1001234567890", "1111111", "what's up?")


def test_telegram_group_mention_offsets_count_utf16_units(telegram: TelegramAdapter) -> None:
    mention = f"@{p.BOT_USERNAME}"
    text = f"🎉 {mention} party ideas?"  # the emoji is two UTF-16 units
    message = _group_message(text, entities=[{"type": "mention", "offset": 3, "length": len(mention)}])
    [event] = telegram.parse(p.telegram_update(10004, message=message))
    assert event.text == "🎉 party ideas?"


def test_telegram_group_reply_to_the_bot_and_command_for_the_bot_are_answered(telegram: TelegramAdapter) -> None:
    bot_message = {**p.telegram_message(1999, "Earlier answer"), "from": p.telegram_user(p.BOT_ID, "Bot", True)}
    reply = _group_message("Why?", reply_to_message=bot_message)
    command_name = f"/imagine@{p.BOT_USERNAME}"
    command_entity = {"type": "bot_command", "offset": 0, "length": len(command_name)}
    command = _group_message(f"{command_name} a lighthouse", entities=[command_entity])
    events = telegram.parse(p.telegram_update(10005, message=reply)) + telegram.parse(
        p.telegram_update(10006, message=command)
    )
    assert [(e.kind, e.text) for e in events] == [(EventKind.TEXT, "Why?"), (EventKind.IMAGINE, "a lighthouse")]


def test_telegram_group_chatter_not_addressed_to_the_bot_is_ignored(telegram: TelegramAdapter) -> None:
    other_mention = _group_message("@someone_else see this", entities=[{"type": "mention", "offset": 0, "length": 13}])
    plain = _group_message("just talking")
    assert telegram.parse(p.telegram_update(10007, message=other_mention)) == []
    assert telegram.parse(p.telegram_update(10008, message=plain)) == []


def test_telegram_photo_is_read_in_its_largest_size_within_the_cap(
    telegram: TelegramAdapter, settings: Settings
) -> None:
    settings.MEDIA_PHOTO_MAX_BYTES = 100_000
    photo = [
        {"file_id": "AgAD-s", "file_unique_id": "AQAD1", "width": 90, "height": 67, "file_size": 1254},
        {"file_id": "AgAD-m", "file_unique_id": "AQAD2", "width": 800, "height": 596, "file_size": 61212},
        {"file_id": "AgAD-x", "file_unique_id": "AQAD3", "width": 1280, "height": 953, "file_size": 210402},
    ]
    message = p.telegram_message(1366, None, photo=photo, caption="What breed?")
    [event] = telegram.parse(p.telegram_update(10009, message=message))
    assert (event.kind, event.media, event.text) == (EventKind.PHOTO, "AgAD-m", "What breed?")


def test_telegram_voice_and_audio_are_voice_events(telegram: TelegramAdapter) -> None:
    voice = {"file_id": "AwAD-v", "file_unique_id": "AgAD1", "duration": 3, "mime_type": "audio/ogg", "file_size": 9301}
    audio = {"file_id": "CQAD-a", "file_unique_id": "AgAD2", "duration": 30, "mime_type": "audio/mpeg",
             "file_size": 480000, "title": "Memo"}  # fmt: skip
    events = [
        *telegram.parse(p.telegram_update(10010, message=p.telegram_message(1367, None, voice=voice))),
        *telegram.parse(p.telegram_update(10011, message=p.telegram_message(1368, None, audio=audio))),
    ]
    assert [(e.kind, e.media, e.media_type) for e in events] == [
        (EventKind.VOICE, "AwAD-v", "audio/ogg"), (EventKind.VOICE, "CQAD-a", "audio/mpeg")
    ]  # fmt: skip


@pytest.mark.parametrize("field", ["sticker", "video", "document", "video_note", "location"])
def test_telegram_stickers_video_documents_and_locations_are_unsupported(telegram: TelegramAdapter, field: str) -> None:
    message = p.telegram_message(1369, None, **{field: {"file_id": "X", "file_unique_id": "Y"}})
    [event] = telegram.parse(p.telegram_update(10012, message=message))
    assert (event.kind, event.detail) == (EventKind.UNSUPPORTED, field)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("poll_answer", {"poll_id": "1", "user": p.telegram_user(), "option_ids": [0]}),
        ("my_chat_member", {"chat": {"id": 1111111, "type": "private", "first_name": "Ada"},
                            "from": p.telegram_user(), "date": 1441645532,
                            "old_chat_member": {"status": "member", "user": p.telegram_user(p.BOT_ID, "Bot", True)},
                            "new_chat_member": {"status": "kicked", "user": p.telegram_user(p.BOT_ID, "Bot", True),
                                                "until_date": 0}}),
    ],
)  # fmt: skip
def test_telegram_update_of_another_kind_is_stored_as_ignored(
    telegram: TelegramAdapter, name: str, content: dict[str, Any]
) -> None:
    update = p.telegram_update(10010, **{name: content})
    [event] = telegram.parse(update)
    assert (event.kind, event.detail, event.raw) == (EventKind.IGNORED, name, update)


def test_telegram_reaction_names_the_message_it_is_on(telegram: TelegramAdapter) -> None:
    reaction = {"chat": {"id": 1111111, "type": "private"}, "message_id": 1400, "user": p.telegram_user(),
                "date": 1441645532, "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}  # fmt: skip
    [event] = telegram.parse(p.telegram_update(10011, message_reaction=reaction))
    assert (event.kind, event.original_id, event.detail, event.sender_id) == (
        EventKind.REACTION, "1400", "👍", "1111111",
    )  # fmt: skip


def test_telegram_update_without_an_id_is_ignored_with_the_reason(telegram: TelegramAdapter) -> None:
    update = {"message": p.telegram_message(1, "hi")}
    [event] = telegram.parse(update)
    assert (event.kind, event.detail, event.raw) == (
        EventKind.IGNORED,
        "malformed: Update: update_id: Field required",
        update,
    )
