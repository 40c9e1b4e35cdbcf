"""Taking in webhook deliveries: check the signature, parse, store each event once, queue replies.

Two doors lead here. The Django view (`integrations.views`) serves every request that passes
through Django's middleware: the subscription handshake, WSGI deployments and Django's test client.
Under ASGI, `WebhookFastPath` (`integrations.asgi`) takes the deliveries (POSTs) before the
middleware, which webhooks do not need (no session, no CSRF, no page), and lets deliveries that
arrive together share one transaction (`GroupCommit`): an ack then costs one short statement shared
by every delivery waiting, instead of a thread hop, a middleware stack and a transaction each.

Either way a delivery is acknowledged only once its events are committed and their replies queued.
Once its signature is right a delivery is never refused: it is parsed event by event, and an event
the assistant does not act on, or one not in the shape the app documents (a body that is not even
JSON included), is stored as ignored with the reason. Refusing it would make the app redeliver the
same bytes for days and lose the valid events beside it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections
from kombu.exceptions import OperationalError as BrokerError

from assistant.models import Channel
from integrations import services, tasks
from integrations.adapters import adapter_for
from integrations.events import MALFORMED, Event, EventKind, malformed_event

logger = logging.getLogger(__name__)

GROUP_COMMIT_MAX_DELIVERIES = 256  # deliveries per transaction at most (SQLite allows 32,766 parameters)


@dataclass(frozen=True)
class Ack:
    """The answer to an app: a status and a short plain-text body."""

    status: int
    text: str


ACCEPTED = Ack(200, "OK")
# Meta retries any answer but 200 for days, Telegram for a while: nothing was stored, so a
# redelivery is new again.
TRY_AGAIN_LATER = Ack(503, "Try again later.")


def handshake(app: Channel, query: Mapping[str, str], client: str) -> Ack:
    """Meta's subscription check: the challenge back for the right verify token, 403 otherwise."""
    challenge = adapter_for(app).handshake(query)
    if challenge is None:
        logger.warning("%s webhook: subscription check refused (from %s)", app, client)
        return Ack(403, "Verification failed.")
    return Ack(200, challenge)


def read_delivery(app: Channel, body: bytes, headers: Mapping[str, str], client: str) -> list[Event] | Ack:
    """The delivery's events, or 403 for a bad signature. Pure CPU (an HMAC and a parse), so the fast
    path runs it on its event loop."""
    adapter = adapter_for(app)
    if not adapter.signature_valid(body, headers):
        logger.warning("%s webhook: bad or missing signature (from %s); nothing stored", app, client)
        return Ack(403, "Invalid signature.")
    try:
        events = adapter.parse(json.loads(body))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested past Python's stack
        events = [malformed_event(app, exc, body.decode("utf-8", "replace"))]
    _log_ignored(app, events)
    return events


def _log_ignored(app: Channel, events: Sequence[Event]) -> None:
    reasons = [event.detail for event in events if event.kind == EventKind.IGNORED]
    malformed = [reason for reason in reasons if reason.startswith(MALFORMED)]
    if malformed:
        logger.warning("%s webhook: %d event(s) stored as ignored, first: %s", app, len(malformed), malformed[0])
    elif reasons:
        logger.info("%s webhook: stored as ignored: %s", app, ", ".join(reasons))


def store_deliveries(deliveries: Sequence[Sequence[Event]]) -> Ack:
    """Store the events of these deliveries (one INSERT, so one transaction) and queue their
    replies with one broker message; the Ack every one of them gets.

    If the replies cannot be queued, the events just stored are forgotten again, so that the apps'
    redeliveries store them anew, and every delivery gets 503."""
    try:
        fresh = services.ingest_events([event for events in deliveries for event in events])
    except DatabaseError:
        logger.exception("webhook: could not store %d deliveries; asking the apps to redeliver", len(deliveries))
        return TRY_AGAIN_LATER
    replies = [event for event in fresh if event.kind.needs_handling]
    if replies:
        try:
            tasks.reply_to_events.delay([(event.app.value, event.key) for event in replies])
        except (BrokerError, OSError):
            logger.exception("webhook: could not queue %d replies; asking the apps to redeliver", len(replies))
            services.forget_events(replies)
            return TRY_AGAIN_LATER
    return ACCEPTED


class GroupCommit:
    """Stores deliveries on one writer thread; those arriving while it writes share its next transaction.

    Batches form by themselves: alone, a delivery is written at once; under load, everything that
    arrived during one write goes into the next. There is no wait to tune."""

    def __init__(self, write: Callable[[list[Sequence[Event]]], Ack] = store_deliveries) -> None:
        self._write = write
        self._pending: list[tuple[Sequence[Event], asyncio.Future[Ack]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-writer")

    async def store(self, events: Sequence[Event]) -> Ack:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ack] = loop.create_future()
        self._pending.append((events, future))
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[:GROUP_COMMIT_MAX_DELIVERIES]
            del self._pending[: len(batch)]
            try:
                ack = await loop.run_in_executor(self._thread, self._write_now, [events for events, _ in batch])
            except Exception:  # the writer must live on: every waiting delivery gets an answer
                logger.exception("webhook: group commit of %d deliveries failed", len(batch))
                ack = TRY_AGAIN_LATER
            for _, future in batch:
                if not future.done():  # the request may have been cancelled meanwhile
                    future.set_result(ack)

    def _write_now(self, deliveries: list[Sequence[Event]]) -> Ack:
        # A long-lived thread outside Django's request cycle: drop connections that broke or aged,
        # as each request does, so a database restart heals here too.
        close_old_connections()
        try:
            return self._write(deliveries)
        finally:
            close_old_connections()
