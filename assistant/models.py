"""Users, conversations and messages. Models hold invariants only; behaviour lives in services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    """A person. Guests are real accounts without a password, bound to one browser session."""

    is_guest = models.BooleanField(default=False)


class Channel(models.TextChoices):
    """Where a conversation happens. Every channel runs the same pipeline."""

    WEB = "web"
    API = "api"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"


class Conversation(models.Model):
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    # The client's own system instructions (API callers send them), added after the operator's
    # system prompt; kept so a stored conversation can be read, resumed and reviewed as it ran.
    instructions = models.TextField(blank=True)
    api_key = models.ForeignKey(
        "ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    # The client_id of the message that started it: a retried first message finds this conversation.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["channel", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "client_id"],
                condition=Q(client_id__isnull=False),
                name="unique_client_id_per_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        CANCELLED = "cancelled"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Cumulative character offsets where each token frame ended: frame n is
    # content[frame_ends[n-2]:frame_ends[n-1]]. Lets any process replay exact frames on resume.
    frame_ends = models.JSONField(default=list, blank=True)
    # The browser's id for a user message: a retried send finds the stored one instead of duplicating it.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # For an answer: the user message it answers. Regenerating supersedes the older answer.
    reply_to = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="answers")
    superseded = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=16, blank=True)
    error = models.CharField(max_length=500, blank=True)
    token_count = models.PositiveIntegerField(null=True, blank=True, help_text="tokens of this message's prompt block")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One answer at a time per conversation, across every process.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="streaming"),
                name="one_streaming_answer_per_conversation",
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="unique_client_id_per_conversation",
            ),
        ]

    @property
    def seq(self) -> int:
        return len(self.frame_ends)

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.STREAMING


class ApiKey(models.Model):
    """A secret that lets a program use the OpenAI-compatible API as its owner.

    Only a SHA-256 digest of the secret is stored (the secret is long and random, so a slow hash
    adds nothing); `prefix` is the visible start of the secret that lets its owner tell keys apart.
    """

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
