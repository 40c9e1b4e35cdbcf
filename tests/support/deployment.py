"""The production shape for tests: PostgreSQL (127.0.0.1:5432, trust auth) and Redis
(127.0.0.1:6379) as the database, channel layer, Celery broker and cache of the product's processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from tests.support.chat_client import ServerAddress

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
# Redis has databases 0–15: each test process takes eight, by its pytest-xdist worker's number (gw0
# 0–7, gw1 8–15), so the two processes of `make test` never take each other's tasks or keys.
REDIS_DATABASES_PER_PROCESS = 8
REDIS_DATABASES = 16


class RedisSlot(IntEnum):
    """What each of a test process's eight Redis databases holds."""

    SEARCH_WORKER = 0  # broker and results of the search worker (tests/search/test_worker.py)
    WORKER_BROKER = 1  # the imagine, media and code workers' broker (tests/imagine/support.py)
    WORKER_RESULTS = 2  # … their results, and the cache the tests share with them
    CHAT_SERVERS = 3  # channel layer, broker and cache of the chat servers in production shape
    DEPLOYMENT = 4  # channel layer and cache of the two-web deployment (tests/conftest.py)
    DEPLOYMENT_BROKER = 5  # … its broker
    MODULE_BROKER = 6  # a module's own web process or worker: the fast path, the worker faults
    SHARED_LIMITS = 7  # a rate limit several processes count in (tests/assistant/test_limits.py)


def redis_database(slot: RedisSlot) -> int:
    """The number of this test process's Redis database for `slot`."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    if (worker + 1) * REDIS_DATABASES_PER_PROCESS > REDIS_DATABASES:
        raise RuntimeError("Redis has databases for two test processes: run pytest with -n 2 at most")
    return worker * REDIS_DATABASES_PER_PROCESS + slot


def redis_url(slot: RedisSlot) -> str:
    return f"{REDIS_URL}/{redis_database(slot)}"


@dataclass(frozen=True)
class RedisDatabases:
    """Redis database numbers of their own per group of processes, so none reads another's keys."""

    channel_layer: int
    broker: int
    cache: int

    @classmethod
    def for_tests(cls, slot: RedisSlot, broker: RedisSlot | None = None) -> RedisDatabases:
        """This test process's database `slot` for everything, or for all but the broker."""
        database = redis_database(slot)
        return cls(channel_layer=database, broker=redis_database(slot if broker is None else broker), cache=database)

    def flush(self) -> None:
        for db in {self.channel_layer, self.broker, self.cache}:
            redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()


def production_settings(postgres_url: str, databases: RedisDatabases) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres_url,
        "DATABASE_POOL_MAX_SIZE": "4",
        "CHANNEL_LAYER_URL": f"{REDIS_URL}/{databases.channel_layer}",
        "CELERY_BROKER_URL": f"{REDIS_URL}/{databases.broker}",
        "CACHE_URL": f"{REDIS_URL}/{databases.cache}",
    }


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"assistant_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Deployment:
    first_web: ServerAddress
    second_web: ServerAddress
    env: dict[str, str]  # what every process of the deployment runs with, to start more of them
    var_dir: Path
