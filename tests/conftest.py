"""Shared fixtures. Live fixtures start the product's real processes on loopback ports:
the embedded llama.cpp model server (once per run) and ASGI web servers in front of it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.chat_client import ServerAddress
from tests.support.deployment import (
    Deployment,
    RedisDatabases,
    RedisSlot,
    new_postgres_database,
    production_settings,
)
from tests.support.processes import (
    COMPOSE_WORKER_POOL,
    NEVER_STOP_BIAS,
    free_port,
    migrate,
    product_env,
    running,
    web_server_command,
    worker_command,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _many_guests_from_one_address(settings) -> None:
    """Every test browser comes from 127.0.0.1 and shares one cache: a run starts far more guests, and
    uploads far more files, than RATE_LIMIT_GUESTS_PER_IP and RATE_LIMIT_UPLOADS_PER_IP allow one address
    (tests/assistant/test_guest_limits.py and test_upload_limits.py set their own)."""
    unlimited = {"guest_per_ip": "1000000/60", "upload_per_ip": "1000000/60"}
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, **unlimited}


@pytest.fixture(autouse=True)
def _no_memory_taken_from_answers(settings) -> None:
    """Taking facts from each answer queues a model call on the `documents` queue; the tests of
    memory (tests/assistant/test_knowledge_turns.py) turn it on themselves."""
    settings.KNOWLEDGE_EXTRACTION_MODEL = ""


@pytest.fixture(scope="session")
def embedded_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of a real llama.cpp server with SmolLM2-135M."""
    port = free_port()
    log = tmp_path_factory.mktemp("model") / "model.log"
    args = [sys.executable, "-m", "model_service.embedded", "--port", str(port), "--threads", "2"]
    with running(args, env=dict(os.environ), ready_url=f"http://127.0.0.1:{port}/v1/models", log=log):
        yield f"http://127.0.0.1:{port}/v1"


def _start_web_server(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[ServerAddress]:
    var_dir = tmp_path_factory.mktemp(name)
    env = product_env(var_dir, ASSISTANT_MODEL_TITLES="false", **settings)
    migrate(env)
    port = free_port()
    args = web_server_command(port)
    url = f"http://127.0.0.1:{port}"
    with running(args, env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"):
        yield ServerAddress(url, env=env)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of this test run (127.0.0.1:5432), dropped afterwards."""
    with new_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", params=["embedded", "production"])
def service_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """The two modes every chat test runs in: the embedded defaults (SQLite, in-memory layer) and
    the production services (PostgreSQL, Redis channel layer, broker and cache)."""
    if request.param == "embedded":
        return {}
    databases = RedisDatabases.for_tests(RedisSlot.CHAT_SERVERS)
    databases.flush()
    return production_settings(request.getfixturevalue("postgres_database"), databases)


@pytest.fixture(scope="session")
def chat_server(
    embedded_model: str, service_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerAddress]:
    """A real ASGI server (uvicorn); answers end when the model ends them."""
    yield from _start_web_server(
        tmp_path_factory, "web", MODEL_BASE_URL=embedded_model, MODEL_MAX_TOKENS="200", **service_settings
    )


@pytest.fixture(scope="session")
def endless_chat_server(
    embedded_model: str, service_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerAddress]:
    """Like chat_server, but the model may not end an answer early: every answer runs to 400 tokens
    (about four seconds here), long enough to stop, disconnect and resume in the middle."""
    yield from _start_web_server(
        tmp_path_factory,
        "web-endless",
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="400",
        MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
        **service_settings,
    )


@pytest.fixture(scope="session")
def deployment(
    embedded_model: str, postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """Two web processes and a Celery worker on PostgreSQL and Redis, as docker-compose runs them."""
    databases = RedisDatabases.for_tests(RedisSlot.DEPLOYMENT, broker=RedisSlot.DEPLOYMENT_BROKER)
    databases.flush()
    var_dir = tmp_path_factory.mktemp("production")
    env = product_env(
        var_dir,
        **production_settings(postgres_database, databases),
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="300",
        MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
        ASSISTANT_MODEL_TITLES="true",
    )
    migrate(env)
    with ExitStack() as stack:
        # Compose's `worker` on as many threads as the tests' pool of four connections allows.
        worker = worker_command(pool=COMPOSE_WORKER_POOL, concurrency=int(env["DATABASE_POOL_MAX_SIZE"]) - 1)
        stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        webs = []
        for name in ("first", "second"):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = var_dir / f"web-{name}.log"
            stack.enter_context(running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=log))
            webs.append(ServerAddress(url))
        yield Deployment(*webs, env=env, var_dir=var_dir)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
