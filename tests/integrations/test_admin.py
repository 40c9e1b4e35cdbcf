"""Operators see each channel's status: configured, last delivery, counts, last error."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.models import Channel, User
from integrations.events import Event, EventKind
from integrations.models import InboundEvent, OutboundMessage
from integrations.selectors import channel_statuses
from integrations.services import ingest_events
from tests.support.fake_messaging import FakeMessaging

pytestmark = pytest.mark.django_db


def _event(key: str, kind: EventKind, **extra: str) -> Event:
    return Event(app=Channel.WHATSAPP, kind=kind, key=key, chat_id="c", sender_id="c", reply_to="1", **extra)


def test_channel_statuses_count_events_replies_and_errors(
    messaging_settings: FakeMessaging, settings: Settings
) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    ingest_events([
        _event("q1", EventKind.TEXT, text="hi"),
        _event("q2", EventKind.TEXT, text="hello"),
        _event("s1:failed", EventKind.STATUS, detail="failed", error_code="131026"),
    ])  # fmt: skip
    answered = InboundEvent.objects.get(key="q1")
    OutboundMessage.objects.create(event=answered, part=0, kind=OutboundMessage.Kind.TEXT, content="Hello!")
    InboundEvent.objects.filter(pk=answered.pk).update(handled_at=answered.received_at)

    statuses = {s.app: s for s in channel_statuses()}
    whatsapp = statuses[Channel.WHATSAPP]
    assert (whatsapp.configured, whatsapp.events, whatsapp.unanswered, whatsapp.replies_sent) == (True, 3, 1, 1)
    assert whatsapp.last_error == "delivery failed: code 131026"
    assert whatsapp.last_delivery is not None
    assert (statuses[Channel.TELEGRAM].configured, statuses[Channel.TELEGRAM].events) == (False, 0)


def test_admin_event_list_shows_the_channel_table(messaging_settings: FakeMessaging) -> None:
    User.objects.create_superuser("admin", password="correct horse battery staple")
    client = Client()
    client.login(username="admin", password="correct horse battery staple")
    response = client.get("/admin/integrations/inboundevent/")
    assert response.status_code == 200
    assert b"<h2>Channels</h2>" in response.content
    assert b"Instagram" in response.content
