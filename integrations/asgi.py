"""The webhook fast path: deliveries (POST /webhooks/<app>) answered before Django's middleware.

Meta expects an answer within seconds and a busy bot receives hundreds of deliveries a second; a
delivery needs none of what the middleware provides (sessions, CSRF, locale, security headers for
pages). Everything else, the handshake included, goes on to Django. The checks, the storage and the
answers are `integrations.intake`'s, shared with the Django view.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from django.conf import settings
from django.utils.datastructures import CaseInsensitiveMapping

from assistant.models import Channel
from assistant.ops.metrics import HTTP_REQUEST_SECONDS
from integrations import intake
from integrations.adapters import MESSAGING_APPS

ASGIApp = Any  # an ASGI 3 application: async (scope, receive, send) -> None
Scope = dict[str, Any]

WEBHOOK_PATHS = {f"/webhooks/{app}": app for app in MESSAGING_APPS}
PAYLOAD_TOO_LARGE = intake.Ack(413, "Payload too large.")


class ClientGone(Exception):
    """The app hung up before sending the whole delivery: it will deliver it again."""


class WebhookFastPath:
    """Wraps the Django ASGI application; takes webhook deliveries, passes everything else on."""

    def __init__(self, django: ASGIApp) -> None:
        self.django = django
        self.group_commit = intake.GroupCommit()

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        app = WEBHOOK_PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if app is None or scope["method"] != "POST":
            await self.django(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            ack = await self._deliver(app, scope, receive)
        except ClientGone:
            return
        await _send(send, ack)
        HTTP_REQUEST_SECONDS.labels("POST", scope["path"], str(ack.status)).observe(time.perf_counter() - started)

    async def _deliver(self, app: Channel, scope: Scope, receive: ASGIReceiveCallable) -> intake.Ack:
        body = await _read_body(receive, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body is None:
            return PAYLOAD_TOO_LARGE
        headers = CaseInsensitiveMapping({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        client = scope["client"][0] if scope.get("client") else "?"
        events = intake.read_delivery(app, body, headers, client)
        return events if isinstance(events, intake.Ack) else await self.group_commit.store(events)


async def _read_body(receive: ASGIReceiveCallable, *, limit: int | None) -> bytes | None:
    """The request body, or None once it grows past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: ASGISendCallable, ack: intake.Ack) -> None:
    body = ack.text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": ack.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
