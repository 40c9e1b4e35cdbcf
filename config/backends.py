"""The structured settings behind config/settings.py's values: the database, the channel layer, the cache,
Celery's broker, file storage and logging.

config/settings.py reads every environment variable; these functions only turn the values it read into
the dictionaries Django, Channels and Celery expect, and refuse values they cannot serve.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

REDIS_SCHEMES = ("redis://", "rediss://")


def database(parsed_url: dict[str, Any], *, conn_max_age: int, pool_max_size: int) -> dict[str, Any]:
    """One database from django-environ's parsed URL, with its connection reuse."""
    # Reuse connections: Channels closes "old" connections around every database call, and opening
    # one per call costs milliseconds on the path to the first token.
    config = {**parsed_url, "CONN_MAX_AGE": conn_max_age, "CONN_HEALTH_CHECKS": True}
    if pool_max_size and config["ENGINE"] == "django.db.backends.postgresql":
        # psycopg's pool instead of one persistent connection per thread (Django requires CONN_MAX_AGE 0).
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": pool_max_size}
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server, the worker and tests read while one of them writes;
        # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
        # synchronous=NORMAL is durable in WAL mode except on power loss, and skips an fsync per commit.
        config.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            }
        )
    return config


def redis_prefix(url: str) -> str:
    """Pub/sub channels ignore Redis database numbers: the number goes into the prefix so deployments
    (or test runs) sharing a Redis server never hear each other. A sharded layer takes its first server's."""
    return f"asgi-db{urlsplit(url.split(',')[0]).path.strip('/') or '0'}"


def channel_layer(url: str, *, max_connections: int, prefix: str) -> dict[str, Any]:
    """`memory://`, one redis:// URL, or several separated by commas: each channel and group then lives
    on one of those servers (channels_redis hashes its name), so pub/sub load spreads over them."""
    if url == "memory://":
        # Room for a few seconds of frames if a socket stalls; the consumer resyncs on any gap.
        return {"BACKEND": "config.channel_layers.EmbeddedChannelLayer", "CONFIG": {"capacity": 1000}}
    shards = url.split(",")
    if not all(shard.startswith(REDIS_SCHEMES) for shard in shards):
        raise ImproperlyConfigured("CHANNEL_LAYER_URL must be memory:// or redis:// URLs separated by commas.")
    return {
        # Pub/sub, not channels_redis' list-based core layer: under load (benchmarks/concurrency.py,
        # 100 sockets) the core layer left 1-5 % of sockets receiving nothing at all, as every
        # socket of a process shares one blocking receive loop. Pub/sub held 250 of 250. It keeps
        # no backlog: a frame missed while a socket was away is resent from the runner or the
        # database on resync, which the consumer already does for any gap.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            # redis-py 8 reads time out after 5 s by default and pools 100 connections; both
            # failed under the same load.
            "hosts": [
                {
                    "address": shard,
                    "socket_timeout": 30,
                    "socket_connect_timeout": 5,
                    "max_connections": max_connections,
                }
                for shard in shards
            ],
            "prefix": prefix,
        },
    }


def cache(url: str) -> dict[str, Any]:
    if url == "locmem://":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if not url.startswith(REDIS_SCHEMES):
        raise ImproperlyConfigured("CACHE_URL must be locmem:// or a redis:// URL.")
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        # A cache outage degrades to misses instead of failing the request.
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }


def broker_transport_options(
    url: str, *, queue_dir: Path, visibility_timeout: int, redelivery_scan_seconds: int
) -> dict[str, Any]:
    """Celery's broker: Redis in production, the embedded mode's folder of message files otherwise."""
    if url.startswith(REDIS_SCHEMES):
        return {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": redelivery_scan_seconds,
            "unacked_restore_throttle": 1,
        }
    if url != "filesystem://":
        return {}
    queue_dir.mkdir(exist_ok=True)
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "control_folder": str(queue_dir / "control"),
        # The default 1 s poll adds a second to every task; 50 ms costs no measurable CPU.
        "polling_interval": 0.05,
    }


def file_storage(s3_bucket: str, *, endpoint_url: str, region: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """Local files under MEDIA_ROOT, or private objects in an S3-compatible bucket (MinIO, R2, S3)."""
    if not s3_bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    options = {"bucket_name": s3_bucket, "endpoint_url": endpoint_url or None, "region_name": region or None}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **options,
            "access_key": access_key,
            "secret_key": secret_key,
            "default_acl": "private",
            "file_overwrite": False,
        },
    }


class ClientFaultFilter(logging.Filter):
    """Django reports a client's suspicious request (a body over the upload limit, a forged Host) as
    an ERROR with its traceback; it is the client's fault, answered with a 4xx, so one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security."):
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Every line carries the turn id: `plain` for people at a terminal, `json` (one object per line)
    for log collectors."""
    if log_format not in {"plain", "json"}:
        raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "model_service.log_context.ContextFilter"},
            "client_fault": {"()": "config.backends.ClientFaultFilter"},
        },
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(turn_id)s] %(message)s"},
            "json": {"()": "model_service.log_context.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "client_fault"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
