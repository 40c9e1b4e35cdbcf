"""The production shape for live tests: two web processes and a Celery worker sharing PostgreSQL
(127.0.0.1:5432), a Redis channel layer, a Redis broker and a Redis cache (127.0.0.1:6379)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from tests.support.chat_client import ServerAddress
from tests.support.processes import (
    NEVER_STOP_BIAS,
    free_port,
    migrate,
    product_env,
    running,
    web_server_command,
    worker_command,
)

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
# Database numbers of their own, so a stale key of another program can never be read as ours.
CHANNEL_LAYER_DB = 11
BROKER_DB = 12
CACHE_DB = 13


@dataclass(frozen=True)
class Deployment:
    first_web: ServerAddress
    second_web: ServerAddress
    env: dict[str, str]  # what every process of the deployment runs with, to start more of them
    var_dir: Path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test run, dropped afterwards."""
    name = f"assistant_live_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def deployment(
    embedded_model: str, postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    for db in (CHANNEL_LAYER_DB, BROKER_DB, CACHE_DB):
        redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()
    var_dir = tmp_path_factory.mktemp("production")
    env = product_env(
        var_dir,
        DATABASE_URL=postgres_database,
        DATABASE_POOL_MAX_SIZE="4",
        CHANNEL_LAYER_URL=f"{REDIS_URL}/{CHANNEL_LAYER_DB}",
        CELERY_BROKER_URL=f"{REDIS_URL}/{BROKER_DB}",
        CACHE_URL=f"{REDIS_URL}/{CACHE_DB}",
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="300",
        MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
        ASSISTANT_MODEL_TITLES="true",
    )
    migrate(env)
    worker = worker_command()
    with ExitStack() as stack:
        stack.enter_context(running(worker, env=env, log=var_dir / "worker.log"))
        webs = []
        for name in ("first", "second"):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            args = web_server_command(port)
            stack.enter_context(running(args, env=env, ready_url=f"{url}/healthz", log=var_dir / f"web-{name}.log"))
            webs.append(ServerAddress(url))
        yield Deployment(*webs, env=env, var_dir=var_dir)
