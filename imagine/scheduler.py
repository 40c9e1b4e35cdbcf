"""Latest wins: at most one preview in flight per user, and always the newest prompt next.

State lives in Django's cache (Redis in production, shared by every web process; locmem in the
embedded single process), with atomic operations only:

- `version`: a counter, incremented for every prompt offered (cache.incr);
- `pending`: the newest prompt with its version; a newer one overwrites it, so waiting prompts are
  replaced, never queued;
- `taken`: the version of the last prompt sent to the worker;
- `lock`: cache.add with a TTL. Whoever adds it runs the user's pump (an asyncio task): take the
  pending prompt if newer than `taken`, render it on the imagine worker, send the result to the
  socket that asked, repeat. A process that dies holding the lock frees it when the TTL ends.

The pump releases the lock, then looks at `pending` once more: an offer made while the lock was
still held (so the offer's cache.add failed) is seen there and taken over, so no prompt is stranded.
Results come back through Celery's result backend, polled without blocking the event loop,
because in the embedded mode the worker cannot reach the web process's in-memory channel layer.
The pump then sends the frame to the asking socket over the channel layer, which reaches it from
any web process in production.

The safety check runs in the pump, on the prompt about to be rendered: a prompt replaced while it
waited is never rendered, so it is never checked either (most keystrokes, while typing fast).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from asgiref.sync import sync_to_async
from celery.result import AsyncResult
from channels.layers import get_channel_layer
from django.core.cache import cache
from kombu.exceptions import OperationalError as BrokerError

from core.celery_results import TaskFailed, await_result
from core.errors import AssistantError, ErrorCode
from imagine.conf import imagine_settings
from imagine.moderation import check_prompt
from imagine.protocol import ErrorFrame, ImageFrame

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.005
RENDER_FAILED_DETAIL = "The image could not be rendered. Please try again."
LOCK_MARGIN_SECONDS = 5
KEY_SECONDS = 3600  # per-user state outlives any typing session, then expires


@dataclass(frozen=True)
class Preview:
    """One prompt offered for a preview, and where its result goes."""

    user_id: int
    prompt: str
    seed: int
    width: int
    height: int
    seq: int  # the client's sequence number, echoed in the image frame
    reply_channel: str  # the socket that asked (a channel layer name)


def _key(user_id: int, name: str) -> str:
    return f"imagine:{user_id}:{name}"


async def offer(preview: Preview) -> None:
    """Make `preview` the user's next prompt; start the user's pump if none is running."""
    version = await _next_version(preview.user_id)
    await cache.aset(_key(preview.user_id, "pending"), {"version": version, **asdict(preview)}, KEY_SECONDS)
    await _start_pump_if_idle(preview.user_id)


async def _next_version(user_id: int) -> int:
    key = _key(user_id, "version")
    await cache.aadd(key, 0, KEY_SECONDS)
    return await cache.aincr(key)


_pumps: set[asyncio.Task[None]] = set()  # strong references, so running pumps are not collected


async def _start_pump_if_idle(user_id: int) -> None:
    lock_seconds = imagine_settings().preview_timeout_seconds + LOCK_MARGIN_SECONDS
    token = uuid.uuid4().hex
    if await cache.aadd(_key(user_id, "lock"), token, lock_seconds):
        task = asyncio.create_task(_pump(user_id))
        _pumps.add(task)
        task.add_done_callback(_pumps.discard)


async def _pump(user_id: int) -> None:
    try:
        while (preview := await _take_newer(user_id)) is not None:
            await _deliver(preview, await _render(preview))
    finally:
        await cache.adelete(_key(user_id, "lock"))
    if await _take_newer(user_id, peek=True) is not None:
        await _start_pump_if_idle(user_id)


async def _deliver(preview: Preview, result: dict[str, Any]) -> None:
    if result["ok"]:
        frame = ImageFrame(
            seq=preview.seq,
            url=f"data:image/{result['format']};base64,{result['image']}",
            width=result["width"],
            height=result["height"],
            ms=result["ms"],
            seed=preview.seed,
        )
    else:
        frame = ErrorFrame(code=result["code"], detail=result["detail"], seq=preview.seq)
    try:
        # `rendered` (wall-clock start and end of the pipeline call) is for latency accounting.
        rendered = [result["started"], result["finished"]] if result["ok"] else None
        event = {"type": "imagine.preview", "seq": preview.seq, "frame": frame.dump(), "rendered": rendered}
        await get_channel_layer().send(preview.reply_channel, event)
    except Exception:  # a full or unreachable layer loses this preview; the next keystroke brings another
        logger.warning("imagine: preview %s for user %s not delivered", preview.seq, preview.user_id, exc_info=True)


async def _take_newer(user_id: int, *, peek: bool = False) -> Preview | None:
    pending = await cache.aget(_key(user_id, "pending"))
    taken = await cache.aget(_key(user_id, "taken"), 0)
    if pending is None or pending["version"] <= taken:
        return None
    version = pending.pop("version")
    if not peek:
        await cache.aset(_key(user_id, "taken"), version, KEY_SECONDS)
    return Preview(**pending)


async def _render(preview: Preview) -> dict[str, Any]:
    """The worker's result, or a failure of the same shape."""
    from imagine.tasks import render_preview

    request = {
        "prompt": preview.prompt,
        "seed": preview.seed,
        "width": preview.width,
        "height": preview.height,
        "steps": imagine_settings().preview_steps,
    }
    try:
        await check_prompt(preview.prompt)
        return await run_task(render_preview, request, wait_seconds=imagine_settings().preview_timeout_seconds)
    except AssistantError as exc:
        return {"ok": False, "code": exc.code.value, "detail": exc.detail}


async def run_task(
    task: Any,
    request: dict[str, Any],
    *,
    wait_seconds: float,
    on_progress: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Queue a task and wait for its result without blocking the event loop; PROGRESS states are
    passed to `on_progress`. Raises AssistantError(worker_unavailable) when no worker answers."""
    try:
        result: AsyncResult = await sync_to_async(task.delay, thread_sensitive=False)(request)
    except BrokerError as exc:
        logger.error("imagine: broker unreachable: %s", exc)
        raise _worker_unavailable() from exc
    try:
        return await await_result(result, wait_seconds=wait_seconds, poll_seconds=POLL_SECONDS, on_progress=on_progress)
    except TaskFailed:
        raise AssistantError(ErrorCode.RENDER_FAILED, RENDER_FAILED_DETAIL) from None
    except TimeoutError:
        raise _worker_unavailable() from None


def _worker_unavailable() -> AssistantError:
    return AssistantError(
        ErrorCode.WORKER_UNAVAILABLE, "The image service is not answering right now. Please try again soon."
    )
