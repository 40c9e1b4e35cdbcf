"""The webhook fast path (integrations.asgi + intake.GroupCommit): deliveries answered before Django's
middleware, several sharing one transaction, with the same checks and answers as the Django view."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from django.core.asgi import get_asgi_application
from django.db import DatabaseError
from kombu.exceptions import OperationalError
from pytest_django.fixtures import Settings

from assistant.models import Channel
from integrations import intake, services, tasks
from integrations.adapters import adapter_for
from integrations.asgi import WebhookFastPath
from integrations.events import Event
from integrations.models import InboundEvent
from tests.integrations import payloads as p
from tests.integrations.conftest import APP_SECRET
from tests.support.deployment import (
    RedisDatabases,
    RedisSlot,
    new_postgres_database,
    production_settings,
    redis_url,
)
from tests.support.fake_messaging import FakeMessaging
from tests.support.processes import free_port, migrate, product_env, running, web_server_command


def signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def text_delivery(message_id: str) -> dict[str, Any]:
    return p.whatsapp_delivery(p.whatsapp_value(p.whatsapp_text(message_id, f"Question {message_id}?")))


class RecordingGroupCommit(intake.GroupCommit):
    """The real group commit, remembering how many deliveries each transaction held."""

    def __init__(self) -> None:
        super().__init__(write=self._record)
        self.batches: list[int] = []

    def _record(self, deliveries: list[Sequence[Event]]) -> intake.Ack:
        self.batches.append(len(deliveries))
        return intake.store_deliveries(deliveries)


@pytest.fixture
def fast_path() -> WebhookFastPath:
    app = WebhookFastPath(get_asgi_application())
    app.group_commit = RecordingGroupCommit()
    return app


def client(app: WebhookFastPath) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.django_db(transaction=True)
async def test_deliveries_arriving_together_share_transactions_and_store_each_event_once(
    fast_path: WebhookFastPath, queued: list[tuple[str, str]]
) -> None:
    unique = [signed(text_delivery(f"wamid.F{n}")) for n in range(20)]
    repeats = unique[:10]  # Meta's retries: byte-identical, racing the originals
    async with client(fast_path) as http:
        answers = await asyncio.gather(
            *(http.post("/webhooks/whatsapp", content=body, headers=headers) for body, headers in unique + repeats)
        )
    assert [a.status_code for a in answers] == [200] * 30
    assert await InboundEvent.objects.acount() == 20
    assert sorted(queued) == sorted(("whatsapp", f"wamid.F{n}") for n in range(20))
    batches = fast_path.group_commit.batches
    assert sum(batches) == 30
    assert max(batches) > 1, batches


@pytest.mark.django_db(transaction=True)
async def test_bad_signature_is_refused_and_a_signed_bad_body_kept_as_ignored(
    fast_path: WebhookFastPath, queued: list[tuple[str, str]]
) -> None:
    body, headers = signed(text_delivery("wamid.S1"))
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    garbage, garbage_headers = b"{not json", signed({})[1]
    garbage_headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(APP_SECRET.encode(), garbage, "sha256").hexdigest()
    async with client(fast_path) as http:
        refused = await http.post("/webhooks/whatsapp", content=body, headers=forged)
        malformed = await http.post("/webhooks/whatsapp", content=garbage, headers=garbage_headers)
    assert (refused.status_code, refused.text) == (403, "Invalid signature.")
    assert (malformed.status_code, malformed.text) == (200, "OK")
    assert malformed.headers["x-content-type-options"] == "nosniff"
    stored = [event async for event in InboundEvent.objects.all()]
    assert [(event.kind, event.payload["raw"]) for event in stored] == [("ignored", "{not json")]
    assert queued == []


@pytest.mark.django_db(transaction=True)
async def test_a_body_over_the_upload_limit_is_413(
    fast_path: WebhookFastPath, queued: list[tuple[str, str]], settings: Settings
) -> None:
    body, headers = signed(text_delivery("wamid.BIG"))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1
    async with client(fast_path) as http:
        response = await http.post("/webhooks/whatsapp", content=body, headers=headers)
    assert (response.status_code, response.text) == (413, "Payload too large.")
    assert await InboundEvent.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_handshake_and_other_requests_go_on_to_django(
    fast_path: WebhookFastPath, messaging_settings: FakeMessaging
) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "whatsapp-verify", "hub.challenge": "1158201444"}
    async with client(fast_path) as http:
        handshake = await http.get("/webhooks/whatsapp", params=query)
        put = await http.put("/webhooks/whatsapp")
        health = await http.get("/healthz")
    assert (handshake.status_code, handshake.text) == (200, "1158201444")
    assert put.status_code == 405  # Django's require_http_methods answered
    assert health.status_code == 200
    assert fast_path.group_commit.batches == []


@pytest.mark.django_db(transaction=True)
async def test_a_failed_transaction_answers_503_to_all_waiting_and_the_writer_lives_on(
    fast_path: WebhookFastPath, queued: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = services.ingest_events

    def database_down(events: Sequence[Event]) -> list[Event]:
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "ingest_events", database_down)
    deliveries = [signed(text_delivery(f"wamid.D{n}")) for n in range(5)]
    async with client(fast_path) as http:
        down = await asyncio.gather(*(http.post("/webhooks/whatsapp", content=b, headers=h) for b, h in deliveries))
        monkeypatch.setattr(services, "ingest_events", real_ingest)
        up = await asyncio.gather(*(http.post("/webhooks/whatsapp", content=b, headers=h) for b, h in deliveries))
    assert [r.status_code for r in down] == [503] * 5
    assert [r.status_code for r in up] == [200] * 5
    assert await InboundEvent.objects.acount() == 5
    assert len(queued) == 5


@pytest.mark.django_db
def test_a_broker_failure_answers_503_to_the_batch_and_forgets_only_its_new_events(
    monkeypatch: pytest.MonkeyPatch, queued: list[tuple[str, str]]
) -> None:
    earlier, first, second = (parsed_event(f"wamid.B{n}") for n in range(3))
    assert intake.store_deliveries([[earlier]]).status == 200

    def broker_down(events: list[tuple[str, str]]) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.reply_to_events, "delay", broker_down)
    assert intake.store_deliveries([[first], [earlier, second]]).status == 503  # the answer to both deliveries
    assert list(InboundEvent.objects.values_list("key", flat=True)) == [earlier.key]
    assert queued == [("whatsapp", earlier.key)]


def parsed_event(message_id: str) -> Event:
    """A WhatsApp text event as the adapter reads it from a delivery."""
    adapter = adapter_for(Channel.WHATSAPP)
    return adapter.parse(text_delivery(message_id))[0]


# --- on PostgreSQL, through a real ASGI server -----------------------------------------------------


@pytest.fixture(scope="module")
def web_on_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, redis.Redis]]:
    """A uvicorn web process on a PostgreSQL database and a Redis broker of its own, no worker: the
    reply tasks stay in the queue, where the test counts them."""
    databases = RedisDatabases.for_tests(RedisSlot.MODULE_BROKER)
    databases.flush()
    var_dir: Path = tmp_path_factory.mktemp("fast-path")
    with new_postgres_database() as database_url:
        env = product_env(var_dir, **production_settings(database_url, databases), META_APP_SECRETS=APP_SECRET,
                          WHATSAPP_ACCESS_TOKEN="token", WHATSAPP_SENDER_ID=p.PHONE_NUMBER_ID)  # fmt: skip
        migrate(env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = web_server_command(port)
        with running(command, env=env, log=var_dir / "web.log", ready_url=f"{url}/healthz"):
            yield url, database_url, redis.Redis.from_url(redis_url(RedisSlot.MODULE_BROKER))


@pytest.mark.live
async def test_concurrent_deliveries_on_postgresql_are_stored_and_queued_once(
    web_on_postgres: tuple[str, str, redis.Redis],
) -> None:
    url, database_url, broker = web_on_postgres
    unique = [signed(text_delivery(f"wamid.PG{n}")) for n in range(40)]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post("/webhooks/whatsapp", content=b, headers=h) for b, h in unique + unique[::4])
        )
        metrics = (await http.get("/metrics")).text
    assert [a.status_code for a in answers] == [200] * 50
    with psycopg.connect(database_url) as connection:
        keys = [row[0] for row in connection.execute("SELECT key FROM integrations_inboundevent")]
        payload = connection.execute("SELECT payload->>'text' FROM integrations_inboundevent WHERE key = %s",
                                     ["wamid.PG7"]).fetchone()  # fmt: skip
    assert sorted(keys) == sorted(f"wamid.PG{n}" for n in range(40))
    assert payload == ("Question wamid.PG7?",)  # stored as JSON the database can query
    messages = [json.loads(m) for m in broker.lrange("default", 0, -1)]
    assert {m["headers"]["task"] for m in messages} == {"integrations.tasks.reply_to_events"}
    assert len(messages) < 40  # deliveries that arrived together were queued together
    batches = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    assert sorted(tuple(pair) for batch in batches for pair in batch) == sorted(
        ("whatsapp", f"wamid.PG{n}") for n in range(40)
    )
    assert (
        'assistant_http_request_duration_seconds_count{method="POST",route="/webhooks/whatsapp",status="200"} 50.0'
        in metrics
    )


def test_a_batch_of_replies_fans_out_to_one_task_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.reply_to_event, "delay", lambda app, key: queued.append((app, key)))
    tasks.reply_to_events([("whatsapp", "wamid.A"), ("telegram", "42")])
    assert queued == [("whatsapp", "wamid.A"), ("telegram", "42")]
