"""Compose's `default` worker answers messaging events on threads (docker-compose.yml: one process,
several task threads, each running the pipeline on an event loop of its own, sharing the process's
database pool and admission queue): questions of several people at once are each answered once, to
the person who asked, with the answer to their own question.

Contract test: the model server and the Graph API are loopback fakes speaking their wire formats
(tests/support/fake_openai.py, tests/support/fake_messaging.py); the web process, the worker,
PostgreSQL and the Redis broker are real."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integrations import payloads as p
from tests.integrations.conftest import APP_SECRET
from tests.support.deployment import RedisDatabases, RedisSlot, new_postgres_database, production_settings
from tests.support.fake_messaging import FakeMessaging
from tests.support.fake_openai import FakeOpenAI, Reply, smollm2_detokenize
from tests.support.loopback import Exchange
from tests.support.processes import (
    COMPOSE_WORKER_POOL,
    free_port,
    migrate,
    product_env,
    running,
    web_server_command,
    worker_command,
)

pytestmark = pytest.mark.live

PEOPLE = 9
REPLIES_SECONDS = 120  # the worker's start-up (Django, Celery, the project's imports) and nine answers
QUESTION = re.compile(r"Question (wamid\.T\d+)\?")


class AnsweringModel(FakeOpenAI):
    """Answers each question with the id of the message that asked it, slowly enough (0.6 s) that a
    worker running answers side by side has several streams open at once; counts how many were."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.open = self.most_open = 0

    async def fallback(self, exchange: Exchange) -> None:
        ids = exchange.json_or_text()["prompt"]
        asked = QUESTION.findall(smollm2_detokenize(ids) or "")
        self.default = Reply(texts=("Answer", " for ", asked[-1] if asked else "nobody"), stall_between=0.3)
        with self._lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            await super().fallback(exchange)
        finally:
            with self._lock:
                self.open -= 1


@dataclass(frozen=True)
class Served:
    web_url: str
    database_url: str
    env: dict[str, str]
    var_dir: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, AnsweringModel, FakeMessaging]]:
    """A web process taking WhatsApp deliveries on PostgreSQL and a Redis broker; no worker yet."""
    databases = RedisDatabases.for_tests(RedisSlot.MODULE_BROKER)
    databases.flush()
    with new_postgres_database() as database_url, AnsweringModel() as model, FakeMessaging() as apps:
        env = product_env(
            tmp_path,
            **production_settings(database_url, databases),
            META_APP_SECRETS=APP_SECRET,
            META_GRAPH_API_BASE_URL=apps.base_url,
            WHATSAPP_ACCESS_TOKEN="token",
            WHATSAPP_SENDER_ID=p.PHONE_NUMBER_ID,
            MODEL_BASE_URL=model.base_url,
            SAFETY_CHECKS="false",
        )
        migrate(env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with running(web_server_command(port), env=env, log=tmp_path / "web.log", ready_url=f"{url}/healthz"):
            yield Served(url, database_url, env, tmp_path), model, apps


def phone_of(person: int) -> str:
    return f"1650555{person:04d}"


def bsuid_of(person: int) -> str:
    return f"US.{9000000000 + person}"


def delivery(person: int) -> bytes:
    """A text from person `person`, known by phone number and BSUID, as the Cloud API posts it."""
    message = p.whatsapp_text(f"wamid.T{person}", f"Question wamid.T{person}?", **{"from": phone_of(person)})
    message["from_user_id"] = bsuid_of(person)
    value = p.whatsapp_value(message)
    value["contacts"][0].update(wa_id=phone_of(person), user_id=bsuid_of(person))
    return json.dumps(p.whatsapp_delivery(value)).encode()


def deliver(web_url: str, body: bytes) -> None:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    assert httpx.post(f"{web_url}/webhooks/whatsapp", content=body, headers=headers, timeout=30).status_code == 200


def test_questions_of_several_people_are_answered_side_by_side_each_once_to_its_asker(
    served: tuple[Served, AnsweringModel, FakeMessaging],
) -> None:
    deployment, model, apps = served
    for person in range(PEOPLE):
        deliver(deployment.web_url, delivery(person))
    # As many task threads as the tests' pool of four connections allows (compose runs 8 on 10).
    threads = int(deployment.env["DATABASE_POOL_MAX_SIZE"]) - 1
    worker = worker_command(pool=COMPOSE_WORKER_POOL, concurrency=threads)
    with running(worker, env=deployment.env, log=deployment.var_dir / "worker.log"):
        deadline = time.monotonic() + REPLIES_SECONDS
        while len(apps.sent()) < PEOPLE and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a reply sent twice would arrive about now

    asker = {address: person for person in range(PEOPLE) for address in (phone_of(person), bsuid_of(person))}
    sent = apps.sent()
    assert len(sent) == PEOPLE, (deployment.var_dir / "worker.log").read_text()[-3000:]
    answers = {asker[r.body.get("to") or r.body["recipient"]]: r.body["text"]["body"] for r in sent}
    assert answers == {person: f"Answer for wamid.T{person}" for person in range(PEOPLE)}
    assert model.most_open >= 2, "the worker answered one question at a time"
    with psycopg.connect(deployment.database_url) as connection:
        unhandled = connection.execute("SELECT count(*) FROM integrations_inboundevent WHERE handled_at IS NULL")
        assert unhandled.fetchone() == (0,)
