"""One event loop per thread (and process) for synchronous code that runs the async pipeline: the
Celery tasks that answer messaging events and title conversations.

`asyncio.run` makes a new loop for every call, and what a loop owns goes with it: the model
gateway's connection pool (a new connection to the model server per reply), the executor threads,
the guard's batcher. A worker answering messages all day rebuilt them for each one, and its memory
crept up with every reply; with one loop kept per thread it levels off (docs/benchmark-notes.md)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on this thread's loop. Not from inside a running loop."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    # A forked child (Celery's prefork pool) must not share its parent's selector.
    if loop is None or getattr(_local, "pid", None) != os.getpid():
        loop = _local.loop = asyncio.new_event_loop()
        _local.pid = os.getpid()
    return loop.run_until_complete(coroutine)
