"""Reads of the messaging channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q

from assistant.models import Channel
from integrations.adapters import MESSAGING_APPS, adapter_for
from integrations.events import EventKind
from integrations.models import InboundEvent, OutboundMessage


@dataclass(frozen=True)
class ChannelStatus:
    app: Channel
    configured: bool
    last_delivery: datetime | None
    events: int
    unanswered: int  # questions stored but not (yet) handled
    replies_sent: int
    last_error: str  # the latest permanent send failure, or a failed delivery status's code


def channel_statuses() -> list[ChannelStatus]:
    """Per app, for operators: is it configured, is it receiving, is it answering."""
    questions = Q(kind__in=[k for k in EventKind if k.is_question])
    events = {
        row["app"]: row
        for row in InboundEvent.objects.values("app").annotate(
            count=Count("id"), last=Max("received_at"), unanswered=Count("id", filter=questions & Q(handled_at=None))
        )
    }
    sent = dict(OutboundMessage.objects.values_list("event__app").annotate(Count("id")))
    statuses = []
    for app in MESSAGING_APPS:
        configured = adapter_for(app).configured
        row = events.get(app, {})
        statuses.append(
            ChannelStatus(
                app=app,
                configured=configured,
                last_delivery=row.get("last"),
                events=row.get("count", 0),
                unanswered=row.get("unanswered", 0),
                replies_sent=sent.get(app, 0),
                last_error=_last_error(app),
            )
        )
    return statuses


def _last_error(app: Channel) -> str:
    failure = (
        InboundEvent.objects.filter(app=app)
        .filter(~Q(reply_error="") | Q(kind=EventKind.STATUS, payload__detail="failed"))
        .order_by("-received_at")
        .first()
    )
    if failure is None:
        return ""
    return failure.reply_error or f"delivery failed: code {failure.event.error_code}"
