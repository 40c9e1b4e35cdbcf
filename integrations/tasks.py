"""Celery (queue `default`): replying to messaging events, off the webhook's fast path, and the note on
what memory kept from an exchange, after its reply."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task

from assistant.models import Channel
from integrations import services
from integrations.conf import integrations_settings

logger = logging.getLogger(__name__)

# Enough re-tries to outlast a reply lease held by a worker that died (5 minutes at 30 s) and an
# app's rate limit; after that the event stays unhandled and visible in the admin.
MAX_RETRIES = 30


@shared_task(bind=True, max_retries=MAX_RETRIES)
def reply_to_event(self: Task, app: str, key: str) -> None:
    """Answer the stored event (app, key). Safe to run twice: a redelivered task (acks_late) or a
    duplicate enqueue never stores the question twice nor sends a reply part twice."""
    try:
        services.reply_to_event(app=Channel(app), key=key)
    except services.ReplyLater as exc:
        raise self.retry(countdown=exc.seconds, exc=exc) from exc


@shared_task(bind=True, max_retries=MAX_RETRIES)
def send_memory_note(self: Task, result: object, app: str, key: str) -> None:
    """Linked to the `remember_exchange` task of the answer to event (app, key), which passes its result
    first: the note on what memory did with the exchange, sent once (services.send_memory_note)."""
    try:
        services.send_memory_note(result=result, app=Channel(app), key=key)
    except services.ReplyLater as exc:
        raise self.retry(countdown=exc.seconds, exc=exc) from exc


@shared_task
def reply_to_events(events: list[tuple[str, str]]) -> None:
    """Queue one reply task per (app, key): the webhook queues this once per batch of deliveries,
    so its acknowledgements wait for one broker round trip, not one per message. Run twice (a
    redelivery after a worker died), it queues replies that are idempotent."""
    for app, key in events:
        reply_to_event.delay(app, key)


@shared_task
def requeue_unanswered() -> int:
    """Queue the reply task again for events left unanswered (Celery beat runs this every minute).
    Safe alongside the original tasks: a reply is claimed with a lease and each part is sent once."""
    configured = integrations_settings()
    events = services.unanswered_events(
        quiet_for=timedelta(seconds=configured.requeue_after_seconds),
        within=timedelta(seconds=configured.requeue_within_seconds),
    )
    for app, key in events:
        reply_to_event.delay(app, key)
    if events:
        logger.warning("requeued %d unanswered messaging event(s)", len(events))
    return len(events)
