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

from assistant import turns
from assistant.capabilities import default_capabilities

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Any
Send = Any


async def warm_guard() -> None:
    """Load the content guard now (the embedded one takes seconds), not on the first user's turn."""
    guard = default_capabilities().guard
    if guard is not None:
        await guard.check([("user", "Hello")], agent=False)
        logger.info("content guard ready")


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    warming: asyncio.Task[None] | None = None
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            warming = asyncio.create_task(warm_guard())  # the server accepts meanwhile
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            if warming is not None:
                warming.cancel()
            await turns.drain(settings.ASSISTANT_SHUTDOWN_GRACE_SECONDS)
            await send({"type": "lifespan.shutdown.complete"})
            return
