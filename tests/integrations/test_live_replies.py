"""The reply task run directly against the real embedded model (llama.cpp with SmolLM2): a stored
WhatsApp question is answered by the real pipeline and sent, in parts within the app's limit, to the
apps' contract fake (a real loopback HTTP server speaking the Graph API)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.models import Message
from integrations import tasks
from integrations.models import InboundEvent
from tests.integrations import payloads as p
from tests.integrations.conftest import APP_SECRET
from tests.support.fake_messaging import FakeMessaging

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_real_model_answers_a_whatsapp_question_once(
    embedded_model: str, settings: Settings, messaging_settings: FakeMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MODEL_BASE_URL = embedded_model
    settings.MODEL_MAX_TOKENS = 64
    settings.ASSISTANT_MODEL_TITLES = False
    queued: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.reply_to_events, "delay", lambda events: queued.extend(map(tuple, events)))
    body = json.dumps(
        p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_text("wamid.LIVE1", "Name three colours.")))
    ).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    for _ in range(2):  # Meta redelivers
        response = Client().post("/webhooks/whatsapp", body, content_type="application/json",
                                 headers={"X-Hub-Signature-256": signature})  # fmt: skip
        assert response.status_code == 200

    for app, key in queued * 2:  # and the task may run twice
        tasks.reply_to_event(app, key)

    answer = Message.objects.get(role=Message.Role.ASSISTANT)
    assert answer.status == Message.Status.COMPLETE
    assert answer.content.strip()
    assert answer.completion_tokens
    assert answer.completion_tokens <= 64
    sent = [r.body["text"]["body"] for r in messaging_settings.sent()]
    assert sent
    assert all(len(text) <= 4096 for text in sent)
    assert "".join(sent).replace(" ", "").replace("\n", "") == answer.content.replace(" ", "").replace("\n", "")
    assert InboundEvent.objects.get().replies.count() == len(sent)
