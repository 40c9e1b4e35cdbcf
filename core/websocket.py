"""The base of this project's WebSocket consumers."""

from __future__ import annotations

import logging

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

logger = logging.getLogger(__name__)


class SocketConsumer(AsyncWebsocketConsumer):
    """Handles each message without first closing stale database connections, and sends frames
    without failing on a socket that closed meanwhile.

    Channels closes stale connections before every handler, through the process's one thread for
    synchronous work: each frame a client sends and each token an answer publishes waited there
    behind every other socket's database writes, and a socket not read for its queued frames stops
    being read by the server altogether, keepalive pongs included. Consumers here reach the
    database only through `database_sync_to_async`, which closes stale connections around each
    call itself.
    """

    async def dispatch(self, message: dict) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _send(self, frame: str) -> None:
        try:
            await self.send(text_data=frame)
        except OSError:
            # The ASGI server's answer to a send on a socket that closed meanwhile (a server
            # shutting down, a client gone). Nothing stored is lost: a client that reconnects reads it.
            logger.debug("socket closed; frame not sent")
