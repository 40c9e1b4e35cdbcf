"""What the messaging channels store: every inbound event once, who each chat belongs to, and every
reply part sent. Models hold invariants only; behaviour lives in services."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from assistant.models import Channel, Conversation, User
from integrations.events import Event, EventKind


class InboundEventQuerySet(models.QuerySet["InboundEvent"]):
    def claimable(self) -> InboundEventQuerySet:
        """Events no reply task holds or has finished: a task claims one of these with a lease, and
        an edit or a revoke may still change one of these before it is answered."""
        now = timezone.now()
        return self.filter(handled_at__isnull=True).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))


class InboundEvent(models.Model):
    """One event from an app. (app, key) is unique: the apps redeliver for days, in any order, and a
    redelivery must change nothing."""

    objects = InboundEventQuerySet.as_manager()

    app = models.CharField(max_length=16, choices=Channel.choices)
    key = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    chat_id = models.CharField(max_length=255)
    sender_id = models.CharField(max_length=255)
    payload = models.JSONField()  # the normalised event (`Event.as_json`), not the app's raw body
    received_at = models.DateTimeField(auto_now_add=True)
    # Replying: a worker holds the lease while it answers, so a duplicate task waits instead of
    # answering twice; a worker that died lets it lapse.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Set once the reply is done: sent, or refused by the app for good (then reply_error says why).
    handled_at = models.DateTimeField(null=True, blank=True)
    reply_error = models.CharField(max_length=500, blank=True)
    # Set when the sender revoked the message: its text is gone from `payload` (integrations.revisions).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "key"], name="one_inbound_event_per_app_key")]
        indexes = [
            models.Index(fields=["app", "-received_at"]),
            models.Index(fields=["app", "chat_id"], name="inbound_event_app_chat"),  # an edit finds its message
        ]

    def __str__(self) -> str:
        return f"{self.app} {self.kind} {self.key}"

    @property
    def event(self) -> Event:
        return Event.from_json(self.payload)


class ChatBinding(models.Model):
    """(app, chat, sender) → the assistant user and the one conversation that chat continues."""

    app = models.CharField(max_length=16, choices=Channel.choices)
    chat_id = models.CharField(max_length=255)
    sender_id = models.CharField(max_length=255)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="chat_bindings")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="chat_bindings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "chat_id", "sender_id"], name="one_binding_per_app_chat_sender")
        ]

    def __str__(self) -> str:
        return f"{self.app} {self.chat_id}/{self.sender_id}"


class OutboundMessage(models.Model):
    """One part of a reply, recorded once the app accepted it: a re-run sends only missing parts."""

    class Kind(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        VOICE = "voice"  # the answer read aloud

    event = models.ForeignKey(InboundEvent, on_delete=models.CASCADE, related_name="replies")
    part = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    content = models.TextField()  # the text (also of a voice note: what was read), or the image URL
    external_id = models.CharField(max_length=255, blank=True)  # the app's id of the sent message
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event", "part"]
        constraints = [models.UniqueConstraint(fields=["event", "part"], name="one_outbound_message_per_part")]

    def __str__(self) -> str:
        return f"{self.event} part {self.part}"
