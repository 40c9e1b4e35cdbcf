"""ASGI lifespan: what the web process does when the server starts and stops.

On SIGTERM the server stops accepting, closes its sockets (clients reconnect to another replica
and resume), then sends `lifespan.shutdown`: running answers get ASSISTANT_SHUTDOWN_GRACE_SECONDS
to finish, through the channel layer, for whichever process their readers moved to.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from assistant import turns

Scope = dict[str, Any]
Receive = Any
Send = Any


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await turns.drain(settings.ASSISTANT_SHUTDOWN_GRACE_SECONDS)
            await send({"type": "lifespan.shutdown.complete"})
            return
