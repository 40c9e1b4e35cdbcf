"""Every WhatsApp payload shape becomes the right normalised events (or none): one bad event never
loses the others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.models import Channel
from integrations.adapters.whatsapp import WhatsAppAdapter
from integrations.events import Event, EventKind
from tests.integrations import payloads as p


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


UNREAD_MEDIA = sorted(set(p.WHATSAPP_MEDIA) - {"image", "audio"})


@pytest.mark.parametrize("media_type", UNREAD_MEDIA)
def test_whatsapp_video_stickers_documents_location_and_contacts_are_unsupported(
    whatsapp: WhatsAppAdapter, media_type: str
) -> None:
    message = p.whatsapp_message("wamid.C1", media_type, p.WHATSAPP_MEDIA[media_type])
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.detail, event.reply_to) == (EventKind.UNSUPPORTED, media_type, p.CUSTOMER_PHONE)


def test_whatsapp_image_is_a_photo_whose_caption_is_the_question(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_message("wamid.I1", "image", p.WHATSAPP_MEDIA["image"])
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.media, event.media_type, event.text) == (
        EventKind.PHOTO, "1003383421387256", "image/jpeg", "What is this?"
    )  # fmt: skip


def test_whatsapp_voice_note_is_a_voice_event(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_message("wamid.V1", "audio", p.WHATSAPP_MEDIA["audio"])
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.media, event.media_type, event.text) == (
        EventKind.VOICE, "1003383421387257", "audio/ogg; codecs=opus", ""
    )  # fmt: skip


def test_whatsapp_group_photo_is_kept_when_its_caption_mentions_the_business(whatsapp: WhatsAppAdapter) -> None:
    mentioned = {**p.WHATSAPP_MEDIA["image"], "caption": f"@{p.BUSINESS_NUMBER} what does it say?"}
    messages = [
        p.whatsapp_message("wamid.G1", "image", mentioned, group_id=p.WHATSAPP_GROUP_ID),
        p.whatsapp_message("wamid.G2", "image", p.WHATSAPP_MEDIA["image"], group_id=p.WHATSAPP_GROUP_ID),
    ]
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(*messages)))
    assert (event.key, event.kind, event.text) == ("wamid.G1", EventKind.PHOTO, "what does it say?")


UNKNOWN_TYPE = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                 "error_data": {"details": "Message type is currently not supported."}}]  # fmt: skip


def test_whatsapp_unsupported_content_is_answered_as_unsupported(whatsapp: WhatsAppAdapter) -> None:
    message = p.whatsapp_message("wamid.C2", "unsupported", {"type": "poll_creation"}, errors=UNKNOWN_TYPE)
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.detail) == (EventKind.UNSUPPORTED, "poll_creation")


@pytest.mark.parametrize(
    ("unsupported", "reason"), [({"type": "edit"}, "unsupported: edit"), (None, "unsupported: unnamed")]
)
def test_whatsapp_unsupported_change_to_an_earlier_message_is_ignored_not_answered(
    whatsapp: WhatsAppAdapter, unsupported: dict[str, str] | None, reason: str
) -> None:
    message = p.whatsapp_message("wamid.C3", "unsupported", unsupported, errors=UNKNOWN_TYPE)
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.detail, event.raw) == (EventKind.IGNORED, reason, message)
    assert not event.kind.needs_handling


def test_whatsapp_reaction_and_its_removal_name_the_message_reacted_to(whatsapp: WhatsAppAdapter) -> None:
    added = p.whatsapp_message("wamid.D1", "reaction", {"message_id": "wamid.OURS", "emoji": "👍"})
    removed = p.whatsapp_message("wamid.D2", "reaction", {"message_id": "wamid.OURS"})
    events = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(added, removed)))
    assert [(e.kind, e.key, e.original_id, e.detail) for e in events] == [
        (EventKind.REACTION, "wamid.D1", "wamid.OURS", "👍"),
        (EventKind.REACTION, "wamid.D2", "wamid.OURS", ""),
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


def test_whatsapp_changes_other_than_messages_are_stored_as_ignored(whatsapp: WhatsAppAdapter) -> None:
    change = {"field": "account_update", "value": {"event": "VERIFIED"}}
    payload = p.whatsapp_delivery()
    payload["entry"] = [{"id": p.WABA_ID, "changes": [change]}]
    [event] = whatsapp.parse(payload)
    assert (event.kind, event.detail, event.raw) == (EventKind.IGNORED, "account_update", change)


def test_imagine_command_becomes_an_imagine_request(whatsapp: WhatsAppAdapter) -> None:
    text = p.whatsapp_text("wamid.F1", "/imagine a red fox in the snow")
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(text)))
    assert (event.kind, event.text) == (EventKind.IMAGINE, "a red fox in the snow")


@pytest.mark.parametrize("payload", [{"entry": []}, {"object": "whatsapp_business_account", "entry": "x"}, [1]])
def test_whatsapp_payload_in_another_shape_is_one_ignored_event_keeping_it(
    whatsapp: WhatsAppAdapter, payload: Any
) -> None:
    [event] = whatsapp.parse(payload)
    assert (event.kind, event.raw) == (EventKind.IGNORED, payload)
    assert event.detail.startswith("malformed: Payload")
    assert whatsapp.parse(payload)[0].key == event.key  # a redelivery is the same event


def test_whatsapp_malformed_message_is_ignored_and_the_others_still_parse(whatsapp: WhatsAppAdapter) -> None:
    broken = {"from": p.CUSTOMER_PHONE, "timestamp": "1749416383", "type": "text", "text": {"body": "no id"}}
    value = p.whatsapp_value(p.whatsapp_text("wamid.M1", "first"), broken, p.whatsapp_text("wamid.M2", "second"))
    value["statuses"] = [{"status": "read"}, p.whatsapp_status("wamid.OURS", "read")["statuses"][0]]
    events = whatsapp.parse(p.whatsapp_delivery(value))
    assert [(e.kind, e.key) for e in events if e.kind != EventKind.IGNORED] == [
        (EventKind.TEXT, "wamid.M1"),
        (EventKind.TEXT, "wamid.M2"),
        (EventKind.STATUS, "wamid.OURS:read"),
    ]
    ignored = [e for e in events if e.kind == EventKind.IGNORED]
    assert [(e.raw, e.detail) for e in ignored] == [
        (broken, "malformed: Message: id: Field required"),
        ({"status": "read"}, "malformed: Status: id: Field required"),
    ]


def test_whatsapp_value_errors_are_stored_as_ignored(whatsapp: WhatsAppAdapter) -> None:
    errors = [{"code": 131008, "title": "Required parameter is missing", "message": "Required parameter is missing"}]
    value = {**p.whatsapp_value(), "messages": [], "errors": errors}
    [event] = whatsapp.parse(p.whatsapp_delivery(value))
    assert (event.kind, event.detail, event.raw) == (EventKind.IGNORED, "errors", {"errors": errors})


def test_whatsapp_flow_reply_is_a_question_made_of_its_answers(whatsapp: WhatsAppAdapter) -> None:
    answers = {"flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s", "destination": "Lisbon", "nights": 3, "notes": ""}
    flow = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": json.dumps(answers)}}
    message = p.whatsapp_message("wamid.N1", "interactive", flow, context={"from": "15550783881", "id": "wamid.OURS"})
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(message)))
    assert (event.kind, event.text) == (EventKind.TEXT, "destination: Lisbon\nnights: 3")


def test_whatsapp_interactive_reply_of_an_unknown_type_is_ignored(whatsapp: WhatsAppAdapter) -> None:
    reply = {"type": "call_permission_reply", "call_permission_reply": {"response": "accept"}}
    [event] = whatsapp.parse(
        p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message("wamid.N2", "interactive", reply)))
    )
    assert (event.kind, event.detail) == (EventKind.IGNORED, "interactive")


def test_whatsapp_edit_is_a_question_naming_the_message_it_edits(whatsapp: WhatsAppAdapter) -> None:
    edit = {"original_message_id": "wamid.A1", "message": {"type": "text", "text": {"body": "What is 2 + 3?"}}}
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message("wamid.ED1", "edit", edit))))
    assert (event.kind, event.key, event.text, event.original_id) == (
        EventKind.TEXT, "wamid.ED1", "What is 2 + 3?", "wamid.A1",
    )  # fmt: skip
    assert event.is_edit


def test_whatsapp_edited_caption_is_the_edits_text(whatsapp: WhatsAppAdapter) -> None:
    image = {**p.WHATSAPP_MEDIA["image"], "caption": "What breed is this dog?"}
    edit = {
        "original_message_id": "wamid.C1",
        "message": {"context": {"id": "wamid.X"}, "type": "image", "image": image},
    }
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message("wamid.ED2", "edit", edit))))
    assert (event.kind, event.text, event.original_id) == (EventKind.TEXT, "What breed is this dog?", "wamid.C1")


def test_whatsapp_revoke_names_the_message_it_deletes(whatsapp: WhatsAppAdapter) -> None:
    revoke = p.whatsapp_message("wamid.RV1", "revoke", {"original_message_id": "wamid.A1"})
    [event] = whatsapp.parse(p.whatsapp_delivery(p.whatsapp_value(revoke)))
    assert (event.kind, event.key, event.original_id, event.text) == (EventKind.DELETED, "wamid.RV1", "wamid.A1", "")


def _group(message: dict[str, Any]) -> dict[str, Any]:
    return p.whatsapp_delivery(p.whatsapp_value({**message, "group_id": p.WHATSAPP_GROUP_ID}))


def test_whatsapp_group_message_mentioning_the_business_is_a_question_in_the_group(whatsapp: WhatsAppAdapter) -> None:
    [event] = whatsapp.parse(_group(p.whatsapp_text("wamid.G1", f"@{p.BUSINESS_NUMBER} where shall we eat?")))
    assert (event.kind, event.text) == (EventKind.TEXT, "where shall we eat?")
    assert (event.chat_id, event.sender_id, event.reply_to) == (
        p.WHATSAPP_GROUP_ID,
        p.CUSTOMER_BSUID,
        p.WHATSAPP_GROUP_ID,
    )
    assert event.legacy_sender_id == ""  # a person's own chat is not moved into the group


def test_whatsapp_group_reply_to_the_business_is_a_question(whatsapp: WhatsAppAdapter) -> None:
    context = {"from": p.BUSINESS_NUMBER, "id": "wamid.OURS"}
    [event] = whatsapp.parse(_group(p.whatsapp_text("wamid.G2", "And for dessert?", context=context)))
    assert (event.kind, event.text) == (EventKind.TEXT, "And for dessert?")


def test_whatsapp_group_chatter_not_addressed_to_the_business_is_not_stored(whatsapp: WhatsAppAdapter) -> None:
    other_reply = p.whatsapp_text("wamid.G3", "agreed", context={"from": "16505550000", "id": "wamid.THEIRS"})
    photo = p.whatsapp_message("wamid.G4", "image", p.WHATSAPP_MEDIA["image"])
    for message in (p.whatsapp_text("wamid.G5", "see you at 8"), other_reply, photo):
        assert whatsapp.parse(_group(message)) == []


def test_whatsapp_group_reaction_and_revoke_are_kept(whatsapp: WhatsAppAdapter) -> None:
    reaction = p.whatsapp_message("wamid.G6", "reaction", {"message_id": "wamid.OURS", "emoji": "🎉"})
    revoke = p.whatsapp_message("wamid.G7", "revoke", {"original_message_id": "wamid.G1"})
    events = whatsapp.parse(_group(reaction)) + whatsapp.parse(_group(revoke))
    assert [(e.kind, e.chat_id) for e in events] == [
        (EventKind.REACTION, p.WHATSAPP_GROUP_ID),
        (EventKind.DELETED, p.WHATSAPP_GROUP_ID),
    ]
