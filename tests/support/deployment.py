"""The production shape for tests: PostgreSQL (127.0.0.1:5432, trust auth) and Redis
(127.0.0.1:6379) as the database, channel layer, Celery broker and cache of the product's processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from tests.support.chat_client import ServerAddress

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"


@dataclass(frozen=True)
class RedisDatabases:
    """Redis database numbers of their own per group of processes, so none reads another's keys."""

    channel_layer: int
    broker: int
    cache: int

    def flush(self) -> None:
        for db in (self.channel_layer, self.broker, self.cache):
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
