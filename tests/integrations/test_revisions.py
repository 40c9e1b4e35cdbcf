"""Edits, revokes and WhatsApp groups through the reply task: webhook → stored events → `reply_to_event`,
against the contract fakes of the model and the apps (as in test_replies.py)."""

from __future__ import annotations

from typing import Any

import pytest

from integrations import tasks
from integrations.models import InboundEvent
from tests.integrations import payloads as p
from tests.integrations.test_replies import deliver, sent_texts, whatsapp_question
from tests.support.fake_messaging import FakeMessaging
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db(transaction=True)]


def whatsapp_edit(message_id: str, original_id: str, text: str) -> dict[str, Any]:
    edit = {"original_message_id": original_id, "message": {"type": "text", "text": {"body": text}}}
    return p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message(message_id, "edit", edit)))


def whatsapp_revoke(message_id: str, original_id: str) -> dict[str, Any]:
    revoke = p.whatsapp_message(message_id, "revoke", {"original_message_id": original_id})
    return p.whatsapp_delivery(p.whatsapp_value(revoke))


def asked(fake_model: FakeOpenAI) -> list[str]:
    """The last user message of every answer the model was asked for."""
    prompts = [request.chatml_messages for request in fake_model.requests]
    return [[content for role, content in messages if role == "user"][-1] for messages in prompts if messages]


def stored(key: str) -> InboundEvent:
    return InboundEvent.objects.get(app="whatsapp", key=key)


# --- edits ------------------------------------------------------------------------------------------------


def test_edit_before_the_answer_is_answered_once_with_the_new_text(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.Q1", "Wht is the capital of Portgal?"))
    deliver("whatsapp", whatsapp_edit("wamid.E1", "wamid.Q1", "What is the capital of Portugal?"))
    tasks.reply_to_event("whatsapp", "wamid.E1")
    tasks.reply_to_event("whatsapp", "wamid.Q1")

    assert asked(fake_model) == ["What is the capital of Portugal?"]
    assert sent_texts(apps)[-1:] == ["Hello, world!"]
    assert len([r for r in apps.sent() if "text" in r.body]) == 1
    assert stored("wamid.Q1").event.text == "What is the capital of Portugal?"  # recorded on the message
    edit = stored("wamid.E1")
    assert (edit.handled_at is not None, edit.replies.exists()) == (True, False)


def test_edit_of_an_answered_question_is_answered_as_a_new_turn(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.Q2", "What is 2 + 2?"))
    tasks.reply_to_event("whatsapp", "wamid.Q2")
    deliver("whatsapp", whatsapp_edit("wamid.E2", "wamid.Q2", "What is 2 + 3?"))
    tasks.reply_to_event("whatsapp", "wamid.E2")
    tasks.reply_to_event("whatsapp", "wamid.E2")  # a redelivered task answers nothing more

    assert asked(fake_model) == ["What is 2 + 2?", "What is 2 + 3?"]
    assert stored("wamid.Q2").event.text == "What is 2 + 2?"  # what was answered stays as it was
    assert stored("wamid.E2").replies.count() == 1


def test_edit_of_a_message_never_stored_is_answered(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_edit("wamid.E3", "wamid.UNKNOWN", "Tell me a joke"))
    tasks.reply_to_event("whatsapp", "wamid.E3")
    assert asked(fake_model) == ["Tell me a joke"]


def test_telegram_edit_before_the_answer_folds_into_the_message(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("telegram", p.telegram_update(900, message=p.telegram_message(55, "Capital of Frnace?")))
    deliver("telegram", p.telegram_update(901, edited_message=p.telegram_message(55, "Capital of France?")))
    tasks.reply_to_event("telegram", "901")
    tasks.reply_to_event("telegram", "900")
    assert asked(fake_model) == ["Capital of France?"]


# --- revokes ------------------------------------------------------------------------------------------------


def test_revoke_of_an_answered_message_removes_its_text_and_sends_nothing(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    deliver("whatsapp", whatsapp_question("wamid.Q4", "My password is swordfish"))
    tasks.reply_to_event("whatsapp", "wamid.Q4")
    deliver("whatsapp", whatsapp_edit("wamid.E4", "wamid.Q4", "My password is swordfish!"))
    tasks.reply_to_event("whatsapp", "wamid.E4")
    sent_before = len(apps.requests)
    deliver("whatsapp", whatsapp_revoke("wamid.R4", "wamid.Q4"))
    tasks.reply_to_event("whatsapp", "wamid.R4")

    assert len(apps.requests) == sent_before
    for key in ("wamid.Q4", "wamid.E4"):
        row = stored(key)
        assert (row.event.text, row.deleted_at is not None) == ("", True)
    assert "swordfish" not in str(stored("wamid.Q4").payload)
    assert stored("wamid.R4").handled_at is not None


def test_revoke_before_the_answer_means_no_answer(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    deliver("whatsapp", whatsapp_question("wamid.Q5", "Oops, wrong chat"))
    deliver("whatsapp", whatsapp_revoke("wamid.R5", "wamid.Q5"))
    tasks.reply_to_event("whatsapp", "wamid.R5")
    tasks.reply_to_event("whatsapp", "wamid.Q5")
    assert (apps.requests, fake_model.requests) == ([], [])
    assert stored("wamid.Q5").handled_at is not None


def test_revoke_delivered_before_its_message_still_stops_the_answer(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    deliver("whatsapp", whatsapp_revoke("wamid.R6", "wamid.Q6"))
    tasks.reply_to_event("whatsapp", "wamid.R6")
    deliver("whatsapp", whatsapp_question("wamid.Q6", "Oops"))
    tasks.reply_to_event("whatsapp", "wamid.Q6")
    assert (apps.requests, fake_model.requests) == ([], [])
    row = stored("wamid.Q6")
    assert (row.event.text, row.deleted_at is not None) == ("", True)


# --- WhatsApp groups -------------------------------------------------------------------------------------------


def test_whatsapp_group_mention_is_answered_in_the_group_quoting_the_question(
    fake_model: FakeOpenAI, apps: FakeMessaging
) -> None:
    message = p.whatsapp_text("wamid.GQ", f"@{p.BUSINESS_NUMBER} best pizza in Naples?")
    deliver("whatsapp", p.whatsapp_delivery(p.whatsapp_value({**message, "group_id": p.WHATSAPP_GROUP_ID})))
    tasks.reply_to_event("whatsapp", "wamid.GQ")

    assert asked(fake_model) == ["best pizza in Naples?"]
    answer = apps.sent()[-1].body
    assert (answer["recipient_type"], answer["to"]) == ("group", p.WHATSAPP_GROUP_ID)
    assert answer["context"] == {"message_id": "wamid.GQ"}


def test_whatsapp_flow_reply_is_answered_as_its_text(fake_model: FakeOpenAI, apps: FakeMessaging) -> None:
    answers = '{"flow_token": "T", "question": "Is it vegan?"}'
    flow = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": answers}}
    deliver("whatsapp", p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_message("wamid.FL", "interactive", flow))))
    tasks.reply_to_event("whatsapp", "wamid.FL")
    assert asked(fake_model) == ["question: Is it vegan?"]
    assert sent_texts(apps) == ["Hello, world!"]
