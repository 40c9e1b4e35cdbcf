"""Database calls from async code, on a pool of threads as wide as the database allows.

`channels.db.database_sync_to_async` runs every call on one thread per process (asgiref's
thread-sensitive mode), so a web process starting a thousand turns at once queues all their
queries behind each other, each waiting for its round trip to PostgreSQL: at 1,000 simultaneous
turns most of them had not written their first frame after a minute. The product's calls are
self-contained units (each opens and commits its own transaction, none relies on the thread of
another), so they may run side by side: on PostgreSQL on as many threads as the connection pool
holds (DATABASE_POOL_MAX_SIZE, at least DEFAULT_THREADS); on SQLite on one, since SQLite takes
one writer at a time and a second would only wait for the lock. Async code that synchronous code
called through `async_to_sync` (Django's test client, a management command) keeps asgiref's rule and
runs its calls on that caller's thread, whose open transaction they may need to see.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync
from channels.db import DatabaseSyncToAsync
from django.conf import settings

DEFAULT_THREADS = 4  # PostgreSQL without a pool: a persistent connection per thread

_P = ParamSpec("_P")
_R = TypeVar("_R")


def database_threads() -> int:
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        return 1
    return max(settings.DATABASE_POOL_MAX_SIZE, DEFAULT_THREADS)


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=database_threads(), thread_name_prefix="database")


def database_sync_to_async(func: Callable[_P, _R]) -> DatabaseSyncToAsync:
    """`func` as an awaitable run on the database threads, closing stale connections around it (as
    Channels' helper of the same name does). Wrap at the call, not at import: where it runs is decided
    by the caller's context."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return DatabaseSyncToAsync(func)  # inside async_to_sync: on the calling thread
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor())
