"""Edits and revokes, applied to the stored message they change.

An edit (a question event with `original_id`) of a message not yet being answered gives that message
its new text, so the message's own reply answers the edited question, once; the edit itself is then
only a record. An edit of a message already answered, being answered, or never stored is answered as
a new turn: someone who corrects a question they were answered expects an answer to the correction.
An edit back to words already answered is not answered again.

A revoke removes the text of the message it names and of that message's edits, marks them deleted,
stops their reply if it has not started, and sends nothing. A revoke that arrives before its message
(the apps deliver in any order) is applied when the message's reply task runs.

Both race the original's reply task; each decides with one conditional UPDATE under the same
condition the task claims the row with (`InboundEvent.objects.claimable`), so exactly one side wins.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from integrations.events import Event, EventKind
from integrations.models import InboundEvent

QUESTION_KINDS = [kind for kind in EventKind if kind.is_question]


def _versions(event: Event) -> QuerySet[InboundEvent]:
    """The stored message `event.original_id` of the event's chat, and its stored edits."""
    target = event.original_id
    return (
        InboundEvent.objects.filter(app=event.app, chat_id=event.chat_id, kind__in=QUESTION_KINDS)
        .filter(Q(payload__message_id=target) | Q(payload__original_id=target))
        .exclude(key=event.key)
    )


def edit_needs_own_answer(edit: Event) -> bool:
    """Fold the edit into the message it edits when that message's reply has not started; whether the
    edit must be answered as a turn of its own instead."""
    original = _versions(edit).filter(payload__message_id=edit.original_id).order_by("id").first()
    if original is None:
        return True
    if original.deleted_at is not None:
        return False  # revoked: nothing left to answer
    edited = replace(original.event, kind=edit.kind, text=edit.text, detail=edit.detail)
    if InboundEvent.objects.claimable().filter(pk=original.pk).update(kind=edit.kind, payload=edited.as_json()):
        return False
    original.refresh_from_db(fields=["payload"])
    return original.event.text != edit.text


def apply_revoke(revoke: Event) -> None:
    """Remove the text of the revoked message and of its edits; those not yet answered never will be."""
    now = timezone.now()
    for row in _versions(revoke):
        _delete(row, now)


def apply_stored_revoke(row: InboundEvent) -> bool:
    """Whether the row's message was revoked, before or after it was stored; if so, delete its text."""
    event = row.event
    ids = {event.message_id, event.original_id} - {""}
    revoked = (
        row.deleted_at is not None
        or InboundEvent.objects.filter(
            app=event.app, chat_id=event.chat_id, kind=EventKind.DELETED, payload__original_id__in=ids
        ).exists()
    )
    if revoked:
        _delete(row, timezone.now())
    return revoked


def _delete(row: InboundEvent, now: datetime) -> None:
    without_text = replace(row.event, text="").as_json()
    unanswered = InboundEvent.objects.claimable().filter(pk=row.pk)
    if not unanswered.update(payload=without_text, deleted_at=now, handled_at=now):
        InboundEvent.objects.filter(pk=row.pk).update(payload=without_text, deleted_at=now)
