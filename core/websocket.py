"""The base of this project's WebSocket consumers, and the origin check in front of them."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from channels.utils import await_many_dispatch

logger = logging.getLogger(__name__)

# The ASGI server's cap on one incoming frame (uvicorn `--ws-max-size`; its default, 16 MiB, is read
# whole before any check). The largest valid frame is a chat message of ASSISTANT_MAX_MESSAGE_CHARS
# (8,000) characters written as JSON escapes (up to 12 bytes a character): about 96 KiB.
WEBSOCKET_MAX_FRAME_BYTES = 131_072
# The session ended: no signed-in user, or the account was suspended. Only signing in again helps,
# so clients stop reconnecting.
SESSION_ENDED_CLOSE_CODE = 4401


def account_group(user_id: int) -> str:
    return f"account.{user_id}"


def close_account_sockets(user_id: int) -> None:
    """Closes every open socket of a user at once, in every web process (through the channel layer)."""
    async_to_sync(get_channel_layer().group_send)(account_group(user_id), {"type": "account.closed"})


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

    account: str | None = None  # the group of the signed-in user this socket serves

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Channels' loop with a third source beside the client and the channel layer: the inbox,
        for messages handed over in this process without a channel layer's round trip. `dispatch`
        still handles one message at a time, whichever source it came from."""
        self.scope = scope
        self.base_send = send
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        with suppress(StopConsumer):
            await await_many_dispatch([receive, self.channel_receive, self.inbox.get], self.dispatch)

    async def close_unless_signed_in(self) -> bool:
        """Called once accepted (so the client sees a close code it can act on): closes a socket
        without a signed-in user; ties a signed-in user's socket to their account, so suspending the
        account closes it too. Whether the socket stays open."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=SESSION_ENDED_CLOSE_CODE)
            return False
        self.account = account_group(user.pk)
        await self.channel_layer.group_add(self.account, self.channel_name)
        return True

    async def leave_account(self) -> None:
        if self.account is not None:
            await self.channel_layer.group_discard(self.account, self.channel_name)

    async def account_closed(self, event: dict) -> None:
        await self.close(code=SESSION_ENDED_CLOSE_CODE)

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


_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # scheme, host, port


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url.strip().lower())
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname, port


class SameOriginOnly:
    """Accepts a socket only from a page of this site: the Origin's scheme, host and port must be
    those the socket was opened on (ws: http, wss: https, and the Host header), or one of
    `trusted_origins`. Comparing host names alone let another port or scheme of the same host (a
    different site to the browser) open a socket with the user's cookie and read their answers."""

    def __init__(self, application: Any, trusted_origins: Iterable[str]) -> None:
        self.application = application
        self.trusted = {origin for url in trusted_origins if (origin := _origin(url)) is not None}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self._allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def _allowed(self, scope: dict) -> bool:
        headers = dict(scope.get("headers", []))
        origin = _origin(headers.get(b"origin", b"").decode("latin-1"))
        if origin is None:
            return False
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        opened_on = _origin(f"{scheme}://{headers.get(b'host', b'').decode('latin-1')}")
        return origin == opened_on or origin in self.trusted
