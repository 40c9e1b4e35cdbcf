"""Every payload shape the apps send becomes the right normalised events (or none)."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.models import Channel
from integrations import conf
from integrations.adapters import PayloadError
from integrations.adapters.messenger import InstagramAdapter, MessengerAdapter
from integrations.adapters.telegram import TelegramAdapter
from integrations.adapters.whatsapp import WhatsAppAdapter
from integrations.events import Event, EventKind
from tests.integrations import payloads as p


@pytest.fixture
def whatsapp() -> WhatsAppAdapter:
    return WhatsAppAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", p.PHONE_NUMBER_ID))


@pytest.fixture
def messenger() -> MessengerAdapter:
    return MessengerAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", p.PAGE_ID))


@pytest.fixture
def instagram() -> InstagramAdapter:
    return InstagramAdapter(conf.MetaApp("http://127.0.0.1:9", "v26.0", ("s",), "v", "t", p.PAGE_ID))


@pytest.fixture
def telegram() -> TelegramAdapter:
    return TelegramAdapter(conf.TelegramBot("http://127.0.0.1:9", p.BOT_TOKEN, ("s",), p.BOT_USERNAME))


# --- WhatsApp ------------------------------------------------------------------------------------


def test_whatsapp_text_names_the_sender_by_bsuid_and_replies_to_the_phone(whatsapp: WhatsAppAdapter) -> None:
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_text("wamid.A1", "Hi there"))))
    assert event == Event(
        app=Channel.WHATSAPP,
        kind=EventKind.TEXT,
        key="wamid.A1",
        chat_id=p.CUSTOMER_BSUID,
        sender_id=p.CUSTOMER_BSUID,
        reply_to=p.CUSTOMER_PHONE,
        message_id="wamid.A1",
        sender_name="Sheena Nelson",
        text="Hi there",
        legacy_sender_id=p.CUSTOMER_PHONE,
    )


def test_whatsapp_username_user_without_a_phone_is_answered_by_bsuid(whatsapp: WhatsAppAdapter) -> None:
    value = p.whatsapp_value(p.whatsapp_text("wamid.A2", "Hello", phone=False), phone=False)
    [event] = whatsapp.parse(p.whatsapp_delivery(value))
    assert (event.sender_id, event.reply_to, event.legacy_sender_id) == (p.CUSTOMER_BSUID, p.CUSTOMER_BSUID, "")


def test_whatsapp_sender_before_bsuids_is_known_by_phone(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_text("wamid.A3", "Hello")
    del message["from_user_id"]
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message, bsuid=False)))
    assert (event.sender_id, event.reply_to, event.legacy_sender_id) == (p.CUSTOMER_PHONE, p.CUSTOMER_PHONE, "")


def test_whatsapp_reply_with_context_is_a_question(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_text("wamid.A4", "And in blue?", context={"from": "15550783881", "id": "wamid.OURS"})
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.text) == (EventKind.TEXT, "And in blue?")


@pytest.mark.parametrize(
    ("interactive", "expected"),
    [
        ({"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes, please"}}, "Yes, please"),
        ({"type": "list_reply", "list_reply": {"id": "r2", "title": "Recipes", "description": "Ideas"}}, "Recipes"),
    ],
)
def test_whatsapp_interactive_replies_are_questions(
    whatsapp: WhatsAppAdapter, interactive: dict[str, Any], expected: str
) -> None:
    message = p.whatsapp_message("wamid.B1", "interactive", interactive)
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.text) == (EventKind.TEXT, expected)


def test_whatsapp_template_quick_reply_button_is_a_question(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_message("wamid.B2", "button", {"payload": "MORE", "text": "Tell me more"})
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.text) == (EventKind.TEXT, "Tell me more")


@pytest.mark.parametrize("media_type", sorted(p.WHATSAPP_MEDIA))
def test_whatsapp_media_location_and_contacts_are_unsupported(whatsapp: WhatsAppAdapter, media_type: str) -> None:
    message = p.whatsapp_message("wamid.C1", media_type, p.WHATSAPP_MEDIA[media_type])
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.detail, event.reply_to) == (EventKind.UNSUPPORTED, media_type, p.CUSTOMER_PHONE)


def test_whatsapp_unknown_message_type_is_unsupported(whatsapp: WhatsAppAdapter) -> None:
    errors = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}]
    message = p.whatsapp_message("wamid.C2", "unsupported", None, errors=errors)
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.detail) == (EventKind.UNSUPPORTED, "unsupported")


def test_whatsapp_reaction_and_its_removal(whatsapp: WhatsAppAdapter) -> None:
    added = p.whatsapp_message("wamid.D1", "reaction", {"message_id": "wamid.OURS", "emoji": "👍"})
    removed = p.whatsapp_message("wamid.D2", "reaction", {"message_id": "wamid.OURS"})
    events = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(added, removed)))
    assert [(e.kind, e.key, e.detail) for e in events] == [
        (EventKind.REACTION, "wamid.D1", "👍"),
        (EventKind.REACTION, "wamid.D2", ""),
    ]


def test_whatsapp_statuses_are_keyed_per_status_and_carry_error_codes(whatsapp: WhatsAppAdapter) -> None:
    failed = p.whatsapp_status("wamid.OURS", "failed", [{"code": 131047, "title": "Re-engagement message"}])
    events = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_status("wamid.OURS", "delivered"), failed))
    assert [(e.kind, e.key, e.detail, e.error_code) for e in events] == [
        (EventKind.STATUS, "wamid.OURS:delivered", "delivered", ""),
        (EventKind.STATUS, "wamid.OURS:failed", "failed", "131047"),
    ]


def test_whatsapp_batched_entries_and_messages_all_come_out_in_order(whatsapp: WhatsAppAdapter) -> None:
    first = p.whatsapp_value(p.whatsapp_text("wamid.E1", "one"), p.whatsapp_text("wamid.E2", "two"))
    second = p.whatsapp_value(p.whatsapp_text("wamid.E3", "three"))
    events = whatsapp.parse(p.whatsapp_delivery(first, second))
    assert [e.text for e in events] == ["one", "two", "three"]


def test_whatsapp_changes_other_than_messages_are_skipped(whatsapp: WhatsAppAdapter) -> None:
    payload = p.whatsapp_delivery()
    payload["entry"] = [{"id": p.WABA_ID, "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}]}]
    assert whatsapp.parse(payload) == []


def test_imagine_command_becomes_an_imagine_request(whatsapp: WhatsAppAdapter) -> None:
    text = p.whatsapp_text("wamid.F1", "/imagine a red fox in the snow")
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(text)))
    assert (event.kind, event.text) == (EventKind.IMAGINE, "a red fox in the snow")


@pytest.mark.parametrize("payload", [{"entry": []}, {"object": "whatsapp_business_account", "entry": "x"}, [1]])
def test_whatsapp_payload_in_another_shape_is_refused(whatsapp: WhatsAppAdapter, payload: Any) -> None:
    with pytest.raises(PayloadError):
        whatsapp.parse(payload)


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


def test_messenger_attachments_are_unsupported(messenger: MessengerAdapter) -> None:
    attachments = [{"type": "image", "payload": {"url": "https://scontent.example/photo.jpg"}},
                   {"type": "audio", "payload": {"url": "https://cdn.example/voice.mp4"}}]  # fmt: skip
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_4", "attachments": attachments})
    [event] = messenger.parse(p.messaging_delivery("page", item))
    assert (event.kind, event.detail) == (EventKind.UNSUPPORTED, "image,audio")


def test_messenger_echo_read_and_delivery_make_no_events(messenger: MessengerAdapter) -> None:
    payload = p.messaging_delivery(
        "page",
        p.messaging_item(
            p.PAGE_ID, p.PSID, message={"mid": "m_5", "is_echo": True, "app_id": 1517776481860111, "text": "Hi!"}
        ),
        p.messaging_item(p.PSID, p.PAGE_ID, read={"watermark": 1458668856253}),
        p.messaging_item(p.PSID, p.PAGE_ID, delivery={"mids": ["m_5"], "watermark": 1458668856253}),
    )
    assert messenger.parse(payload) == []


def test_messenger_reaction_is_recorded_with_its_emoji(messenger: MessengerAdapter) -> None:
    reaction = {"mid": "m_OURS", "action": "react", "reaction": "love", "emoji": "❤️"}
    [event] = messenger.parse(p.messaging_delivery("page", p.messaging_item(p.PSID, p.PAGE_ID, reaction=reaction)))
    assert (event.kind, event.message_id, event.detail) == (EventKind.REACTION, "m_OURS", "❤️")


def test_instagram_text_deleted_unsupported_and_read(instagram: InstagramAdapter) -> None:
    payload = p.messaging_delivery(
        "instagram",
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_1", "text": "Do you ship to Lisbon?"}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_1", "is_deleted": True}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, message={"mid": "ig_2", "is_unsupported": True}),
        p.messaging_item(p.IGSID, p.IG_ACCOUNT_ID, read={"mid": "ig_OURS"}),
        page=p.IG_ACCOUNT_ID,
    )
    events = instagram.parse(payload)
    assert [(e.app, e.kind, e.key) for e in events] == [
        (Channel.INSTAGRAM, EventKind.TEXT, "ig_1"),
        (Channel.INSTAGRAM, EventKind.DELETED, "deleted:ig_1"),
        (Channel.INSTAGRAM, EventKind.UNSUPPORTED, "ig_2"),
    ]


def test_instagram_endpoint_refuses_messenger_payloads(instagram: InstagramAdapter) -> None:
    item = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_1", "text": "hi"})
    with pytest.raises(PayloadError, match="object"):
        instagram.parse(p.messaging_delivery("page", item))


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


def test_telegram_edited_message_is_asked_again_under_its_own_update(telegram: TelegramAdapter) -> None:
    [event] = telegram.parse(p.telegram_update(10001, edited_message=p.telegram_message(1365, "What's a sonnet?")))
    assert (event.key, event.text) == ("10001", "What's a sonnet?")


def test_telegram_callback_query_is_a_question_with_a_button_to_answer(telegram: TelegramAdapter) -> None:
    query = {"id": "4382bfdwdsb323b2d9", "from": p.telegram_user(), "chat_instance": "-1234",
             "data": "More ideas", "message": p.telegram_message(1400, "Pick one")}  # fmt: skip
    [event] = telegram.parse(p.telegram_update(10002, callback_query=query))
    assert (event.kind, event.text, event.callback_query_id) == (EventKind.TEXT, "More ideas", "4382bfdwdsb323b2d9")


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


def test_telegram_photo_is_unsupported(telegram: TelegramAdapter) -> None:
    photo = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 67, "file_size": 1254}]
    message = p.telegram_message(1366, None, photo=photo, caption="What breed?")
    [event] = telegram.parse(p.telegram_update(10009, message=message))
    assert (event.kind, event.detail) == (EventKind.UNSUPPORTED, "photo")


def test_telegram_update_of_another_kind_makes_no_event(telegram: TelegramAdapter) -> None:
    poll_answer = {"poll_id": "1", "user": p.telegram_user(), "option_ids": [0]}
    assert telegram.parse(p.telegram_update(10010, poll_answer=poll_answer)) == []


def test_telegram_update_without_an_id_is_refused(telegram: TelegramAdapter) -> None:
    with pytest.raises(PayloadError, match="update_id"):
        telegram.parse({"message": p.telegram_message(1, "hi")})
