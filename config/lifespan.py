"""ASGI lifespan: what the web process does when the server starts and stops.

On SIGTERM the server stops accepting, closes its sockets (clients reconnect to another replica
and resume), then sends `lifespan.shutdown`: running answers get ASSISTANT_SHUTDOWN_GRACE_SECONDS
to finish, through the channel layer, for whichever process their readers moved to.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from assistant.engine import turns
from assistant.engine.capabilities import default_capabilities
from core.garbage_collection import tune_for_serving

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Any
Send = Any


WARM_UP_SECONDS = 180


async def warm_guard() -> None:
    """Load the content guard before the server accepts: the embedded one imports torch and trains
    for seconds, and doing that under traffic would stall every socket of this process meanwhile."""
    guard = default_capabilities().guard
    if guard is None:
        return
    try:
        verdict = await asyncio.wait_for(guard.check([("user", "Hello")], agent=False), WARM_UP_SECONDS)
    except TimeoutError:
        logger.warning("content guard still loading after %ss; serving anyway", WARM_UP_SECONDS)
        return
    if verdict.unavailable:
        logger.warning("content guard unavailable at start-up: %s", verdict.detail)
    else:
        logger.info("content guard ready")


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await warm_guard()
            tune_for_serving()
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await turns.drain(settings.ASSISTANT_SHUTDOWN_GRACE_SECONDS)
            await send({"type": "lifespan.shutdown.complete"})
            return
