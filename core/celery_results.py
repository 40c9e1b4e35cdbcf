"""Waiting for a Celery task's result from async code: the one polling loop of the project.

Results come back through the result backend (Redis in production, files in the embedded mode),
polled without blocking the event loop: the in-memory channel layer of the embedded mode cannot
reach a worker process, so nothing can push the result instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from celery.result import AsyncResult
from kombu.exceptions import DecodeError

Progress = Callable[[Any], Awaitable[None]]


class TaskFailed(Exception):
    """The task raised, or was revoked; its worker logged why."""


def state_of(result: AsyncResult) -> tuple[str, Any]:
    """(state, result or progress info) as the backend holds them now."""
    try:
        meta = result.backend.get_task_meta(result.id)
    except DecodeError:
        # The embedded filesystem result backend writes a result file in place, not atomically: a
        # poll can read half of a large result. The next poll reads the whole file.
        return "PENDING", None
    return meta["status"], meta.get("result")


async def await_result(
    result: AsyncResult, *, wait_seconds: float, poll_seconds: float, on_progress: Progress | None = None
) -> Any:
    """The task's return value. PROGRESS states (`update_state`) go to `on_progress` as they change.
    Raises TimeoutError after `wait_seconds` without a result, TaskFailed if the task failed.
    The result is forgotten afterwards either way: nobody will read it again."""
    deadline = time.monotonic() + wait_seconds
    last_progress = None
    try:
        while True:
            state, info = await sync_to_async(state_of, thread_sensitive=False)(result)
            if state == "SUCCESS":
                return info
            if state in {"FAILURE", "REVOKED"}:
                raise TaskFailed(state)
            if state == "PROGRESS" and on_progress is not None and info != last_progress:
                last_progress = info
                await on_progress(info)
            if time.monotonic() > deadline:
                raise TimeoutError
            await asyncio.sleep(poll_seconds)
    finally:
        await sync_to_async(_forget, thread_sensitive=False)(result)


def _forget(result: AsyncResult) -> None:
    """Drop the stored result. The filesystem backend (embedded mode) has no file to delete when no
    worker ever answered: that is the timeout being raised, not a second failure."""
    with contextlib.suppress(FileNotFoundError):
        result.forget()
