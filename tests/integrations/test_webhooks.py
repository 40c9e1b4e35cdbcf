"""The webhook endpoints: handshake, authenticity, malformed input, idempotent and batched ingestion."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client
from kombu.exceptions import OperationalError

from integrations import tasks
from integrations.models import InboundEvent
from tests.integrations import payloads as p
from tests.integrations.conftest import APP_SECRET, OLD_APP_SECRET, TELEGRAM_SECRET
from tests.support.fake_messaging import FakeMessaging

pytestmark = [pytest.mark.django_db]


def meta_post(path: str, payload: Any, *, secret: str | None = APP_SECRET, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Client().post(path, body, content_type="application/json", headers=headers)


def telegram_post(payload: Any, *, secret: str | None = TELEGRAM_SECRET) -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return Client().post("/webhooks/telegram", json.dumps(payload), content_type="application/json", headers=headers)


def text_delivery(*message_ids: str) -> dict[str, Any]:
    return p.whatsapp_delivery(p.whatsapp_value(*(p.whatsapp_text(i, f"question {i}") for i in message_ids)))


# --- handshake -------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["whatsapp", "messenger", "instagram"])
def test_meta_handshake_echoes_the_challenge(messaging_settings: FakeMessaging, app: str) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": f"{app}-verify", "hub.challenge": "1158201444"}
    response = Client().get(f"/webhooks/{app}", query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "whatsapp-verify", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
)
def test_meta_handshake_with_a_wrong_token_is_403(messaging_settings: FakeMessaging, query: dict[str, str]) -> None:
    assert Client().get("/webhooks/whatsapp", query).status_code == 403


def test_unconfigured_app_refuses_the_handshake_even_with_an_empty_token(db: None) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert Client().get("/webhooks/messenger", query).status_code == 403


def test_telegram_has_no_handshake(messaging_settings: FakeMessaging) -> None:
    assert Client().get("/webhooks/telegram").status_code == 403


def test_other_methods_are_405(messaging_settings: FakeMessaging) -> None:
    assert Client().put("/webhooks/whatsapp").status_code == 405


# --- authenticity and input --------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "not-the-app-secret"])
def test_bad_or_missing_signature_is_403_and_stores_nothing(
    queued: list[tuple[str, str]], secret: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    response = meta_post("/webhooks/whatsapp", text_delivery("wamid.S1"), secret=secret)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()
    assert queued == []
    assert "bad or missing signature" in caplog.text


def test_old_secret_still_works_during_rotation(queued: list[tuple[str, str]]) -> None:
    assert meta_post("/webhooks/whatsapp", text_delivery("wamid.R1"), secret=OLD_APP_SECRET).status_code == 200
    assert queued == [("whatsapp", "wamid.R1")]


def test_signature_is_checked_on_the_raw_body(queued: list[tuple[str, str]]) -> None:
    signed = json.dumps(text_delivery("wamid.S2")).encode()
    response = meta_post("/webhooks/whatsapp", None, raw=signed.replace(b"question", b"QUESTION"), secret=None)
    assert response.status_code == 403


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_telegram_wrong_secret_token_is_403(queued: list[tuple[str, str]], secret: str | None) -> None:
    assert telegram_post(p.telegram_update(1, message=p.telegram_message(1, "hi")), secret=secret).status_code == 403
    assert not InboundEvent.objects.exists()


def test_signed_body_that_is_not_json_is_acknowledged_and_kept_as_ignored(
    queued: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):  # Meta retries the same bytes: still one event
        assert meta_post("/webhooks/messenger", None, raw=b'{"object": "page", "entry": [').status_code == 200
    [event] = InboundEvent.objects.all()
    assert (event.kind, event.payload["raw"]) == ("ignored", '{"object": "page", "entry": [')
    assert event.payload["detail"].startswith("malformed: ")
    assert queued == []
    assert "stored as ignored" in caplog.text


def test_unfamiliar_and_malformed_events_are_kept_and_the_valid_ones_answered(queued: list[tuple[str, str]]) -> None:
    """The delivery that used to be refused whole: an event without a `sender` and a postback
    whose title is null, beside an ordinary message."""
    app_roles = {"recipient": {"id": p.PAGE_ID}, "timestamp": 1762902671, "app_roles": {"123": ["primary_receiver"]}}
    postback = p.messaging_item(p.PSID, p.PAGE_ID, postback={"mid": "m_PB", "title": None, "payload": "Start"})
    broken = p.messaging_item(p.PSID, p.PAGE_ID, message={"text": "no mid"})
    text = p.messaging_item(p.PSID, p.PAGE_ID, message={"mid": "m_T", "text": "Hello"})
    delivery = p.messaging_delivery("page", app_roles, postback, broken, text)
    for _ in range(2):
        assert meta_post("/webhooks/messenger", delivery).status_code == 200
    stored = list(InboundEvent.objects.order_by("id").values_list("kind", "payload__detail", "payload__raw"))
    assert stored == [
        ("ignored", "app_roles", app_roles),
        ("text", "", None),
        ("ignored", "malformed: Messaging: message.mid: Field required", broken),
        ("text", "", None),
    ]
    assert queued == [("messenger", "m_PB"), ("messenger", "m_T")]


def test_deeply_nested_event_is_kept_and_the_others_answered(queued: list[tuple[str, str]]) -> None:
    nested: list[Any] = []
    for _ in range(600):
        nested = [nested]
    value = p.whatsapp_value(p.whatsapp_text("wamid.N1", "still answered"))
    value["messages"].append({"id": "wamid.N2", "type": "text", "text": {"body": nested}})
    assert meta_post("/webhooks/whatsapp", p.whatsapp_delivery(value)).status_code == 200
    assert dict(InboundEvent.objects.values_list("kind", "payload__detail")) == {
        "text": "",
        "ignored": "malformed: Message: text.body: Input should be a valid string",
    }
    assert queued == [("whatsapp", "wamid.N1")]


# --- ingestion ------------------------------------------------------------------------------------------


def test_same_delivery_twice_stores_one_event_and_queues_one_reply(queued: list[tuple[str, str]]) -> None:
    for _ in range(2):
        assert meta_post("/webhooks/whatsapp", text_delivery("wamid.D1")).status_code == 200
    assert list(InboundEvent.objects.values_list("app", "key", "kind")) == [("whatsapp", "wamid.D1", "text")]
    assert queued == [("whatsapp", "wamid.D1")]


def test_batched_entries_are_all_stored_and_only_questions_queued(queued: list[tuple[str, str]]) -> None:
    delivery = p.whatsapp_delivery(
        p.whatsapp_value(p.whatsapp_text("wamid.B1", "one"), p.whatsapp_text("wamid.B2", "two")),
        p.whatsapp_status("wamid.OURS", "read"),
        p.whatsapp_value(p.whatsapp_message("wamid.B3", "sticker", p.WHATSAPP_MEDIA["sticker"])),
        p.whatsapp_value(p.whatsapp_message("wamid.B4", "reaction", {"message_id": "wamid.OURS", "emoji": "🙏"})),
    )
    assert meta_post("/webhooks/whatsapp", delivery).status_code == 200
    stored = dict(InboundEvent.objects.values_list("key", "kind"))
    assert stored == {
        "wamid.B1": "text",
        "wamid.B2": "text",
        "wamid.OURS:read": "status",
        "wamid.B3": "unsupported",
        "wamid.B4": "reaction",
    }
    assert queued == [("whatsapp", "wamid.B1"), ("whatsapp", "wamid.B2"), ("whatsapp", "wamid.B3")]


def test_overlapping_and_out_of_order_deliveries_store_each_event_once(queued: list[tuple[str, str]]) -> None:
    meta_post("/webhooks/whatsapp", text_delivery("wamid.O2"))
    meta_post("/webhooks/whatsapp", text_delivery("wamid.O1", "wamid.O2", "wamid.O3"))
    meta_post("/webhooks/whatsapp", text_delivery("wamid.O1"))
    assert InboundEvent.objects.count() == 3
    assert queued == [("whatsapp", "wamid.O2"), ("whatsapp", "wamid.O1"), ("whatsapp", "wamid.O3")]


def test_messenger_echo_is_kept_as_ignored_and_never_answered(queued: list[tuple[str, str]]) -> None:
    echo = p.messaging_item(p.PAGE_ID, p.PSID, message={"mid": "m_E", "is_echo": True, "text": "our reply"})
    assert meta_post("/webhooks/messenger", p.messaging_delivery("page", echo)).status_code == 200
    assert list(InboundEvent.objects.values_list("kind", "sender_id")) == [("ignored", p.PSID)]
    assert queued == []


def test_revoke_is_queued_to_be_applied_and_reaction_is_not(queued: list[tuple[str, str]]) -> None:
    revoke = p.whatsapp_message("wamid.RV", "revoke", {"original_message_id": "wamid.Q"})
    reaction = p.whatsapp_message("wamid.RE", "reaction", {"message_id": "wamid.OURS", "emoji": "👍"})
    assert meta_post("/webhooks/whatsapp", p.whatsapp_delivery(p.whatsapp_value(revoke, reaction))).status_code == 200
    assert queued == [("whatsapp", "wamid.RV")]


def test_telegram_update_is_stored_under_its_update_id(queued: list[tuple[str, str]]) -> None:
    assert telegram_post(p.telegram_update(500, message=p.telegram_message(7, "hi"))).status_code == 200
    assert queued == [("telegram", "500")]


def test_broker_outage_answers_503_and_the_redelivery_is_new_again(
    monkeypatch: pytest.MonkeyPatch, messaging_settings: FakeMessaging
) -> None:
    def broker_down(events: list[tuple[str, str]]) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.reply_to_events, "delay", broker_down)
    assert meta_post("/webhooks/whatsapp", text_delivery("wamid.X1")).status_code == 503
    assert not InboundEvent.objects.exists()
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.reply_to_events, "delay", lambda events: calls.extend(map(tuple, events)))
    assert meta_post("/webhooks/whatsapp", text_delivery("wamid.X1")).status_code == 200
    assert calls == [("whatsapp", "wamid.X1")]
