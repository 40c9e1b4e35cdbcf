"""Users, conversations and messages. Models hold invariants only; behaviour lives in services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete
from django.dispatch import receiver

from imagine.models import ImagineImage


class SearchMode(models.TextChoices):
    """When answers use the web: `auto` decides per question (see docs/architecture.md)."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


class Theme(models.TextChoices):
    """The page's colours: `system` follows the device's light or dark setting."""

    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


class User(AbstractUser):
    """A person. Guests are real accounts without a password, bound to one browser session.
    Suspending a user is `is_active = False`: sessions and API keys stop working at once."""

    is_guest = models.BooleanField(default=False)
    search_mode = models.CharField(max_length=8, choices=SearchMode.choices, default=SearchMode.AUTO)
    # One of settings.LANGUAGES (checked where it is written: adding a language needs no migration);
    # empty follows the browser's Accept-Language.
    language = models.CharField(max_length=8, blank=True, default="")
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # Answers read aloud: played on the web page as they finish, sent as voice notes in the apps that play them.
    voice_replies = models.BooleanField(default=False)
    daily_token_quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens (prompt + answer) per UTC day; empty uses the site default."
    )


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
    # A read-only share link /share/<token> shows the messages up to `shared_through` (the last
    # message when it was shared): what is said afterwards stays private until shared again.
    share_token = models.CharField(max_length=43, unique=True, null=True, blank=True)
    shared_through = models.PositiveBigIntegerField(null=True, blank=True)
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
        return f"Conversation {self.pk}"  # never the title: users write it, and the admin shows this


@receiver(post_delete, sender=Conversation)
def _untie_pictures(sender: type[Conversation], instance: Conversation, **kwargs: object) -> None:
    """A deleted chat's pictures stay in the gallery, tied to no conversation (Imagine keeps the id
    without a foreign key)."""
    ImagineImage.objects.filter(conversation_id=instance.pk).update(conversation_id=None)


def delete_after_commit(*stored: FieldFile) -> None:
    """Remove these files from their storage once the transaction that let go of them commits (at once
    outside a transaction): a rollback keeps each row with its file."""
    names = [(file.storage, file.name) for file in stored if file]

    def delete() -> None:
        for storage, name in names:
            storage.delete(name)

    transaction.on_commit(delete)


@receiver(post_delete, sender=ImagineImage)
@receiver(post_delete, sender="assistant.MessageAttachment")
def _delete_files(sender: type[models.Model], instance: models.Model, **kwargs: object) -> None:
    """Stored pictures and attachments go with their row, however it was deleted (its conversation, its
    account, a temporary chat ending, REST, the admin; a cascade sends this for every row it deletes)."""
    fields = [field for field in instance._meta.concrete_fields if isinstance(field, models.FileField)]
    delete_after_commit(*(getattr(instance, field.name) for field in fields))


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
        BLOCKED = "blocked"  # the safety check refused the question or the answer; content is the refusal

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Cumulative character offsets where each token frame ended: frame n is
    # content[frame_ends[n-2]:frame_ends[n-1]]. Lets any process replay exact frames on resume.
    frame_ends = models.JSONField(default=list, blank=True)
    # The browser's id for a user message: a retried send finds the stored one instead of duplicating it.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # For an answer: the user message it answers. Its versions (regenerated answers) share `reply_to`.
    reply_to = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="answers")
    # For a user message: the answer it follows (None for the first turn). Its versions (edits) share
    # `parent`; a version's branch, the messages after it, stays stored when another version is shown.
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="followups")
    # True when another version of this message is the one shown (the chosen one among its versions).
    superseded = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=16, blank=True)
    error = models.CharField(max_length=500, blank=True)
    token_count = models.PositiveIntegerField(null=True, blank=True, help_text="tokens of this message's prompt block")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # An answer's web grounding: {"query", "sources": [{"title", "url"}], "error", "invalid_citations"}.
    grounding = models.JSONField(default=dict, blank=True)
    # Code Shield's findings in the answer's code blocks: [{"rule", "severity", "line", "description"}].
    code_findings = models.JSONField(default=list, blank=True)
    # An answer to `/imagine <prompt>`: the final render it shows (kept in its owner's gallery).
    image = models.ForeignKey(
        "imagine.ImagineImage", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    # Pictures the model's code saved (the code interpreter), as PNG/JPEG data URLs, shown after the text.
    code_images = models.JSONField(default=list, blank=True)
    # A user message sent with a photo: the photo's reading (OCR text and basic facts), which the
    # model reads with this message in every later turn too (assistant/engine/pipeline.py).
    photo_reading = models.TextField(blank=True)
    # A user message `/imagine edit …` sent with a picture's Edit button: the message showing that
    # picture (a photo sent with it, or an answer's Imagine picture), which the edit restyles.
    edits_picture_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        # Staff see conversations' metadata; reading what people wrote needs this permission, and
        # every such reading is recorded in the moderation audit trail.
        permissions = [("read_message_content", "Can read what users and the assistant wrote")]
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


class ModerationCase(models.Model):
    """A turn for review: blocked by the safety check, or reported by a user; or an Imagine prompt
    the safety check refused, which belongs to no message (a refused prompt is never stored).
    A blocked answer's original text is kept here only; the conversation shows the refusal."""

    class Kind(models.TextChoices):
        BLOCKED_INPUT = "blocked_input"
        BLOCKED_OUTPUT = "blocked_output"
        BLOCKED_IMAGINE = "blocked_imagine"
        REPORT = "report"

    class State(models.TextChoices):
        OPEN = "open"
        DISMISSED = "dismissed"
        ACTIONED = "actioned"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="moderation_cases"
    )  # null for a blocked Imagine prompt
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="moderation_cases")
    reporter = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports")
    categories = models.JSONField(default=list, blank=True)  # hazard categories, e.g. ["S1", "S10"]
    original_text = models.TextField(blank=True)
    reason = models.CharField(max_length=500, blank=True)  # the reporter's words
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "-created_at"])]
        constraints = [
            # A user reports an answer once; retried reports find the stored one.
            models.UniqueConstraint(
                fields=["message", "reporter"], condition=Q(kind="report"), name="one_report_per_reporter"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class ModerationAction(models.Model):
    """The audit trail: every moderation decision, and every read of what people wrote by staff
    with the content permission, who did it and when (`note` names the object). Never edited or deleted."""

    class Action(models.TextChoices):
        DISMISS = "dismiss"
        WARN = "warn"
        SUSPEND = "suspend"
        REINSTATE = "reinstate"
        VIEW_CONVERSATION = "view_conversation"
        READ_CONTENT = "read_content"  # a case's text, an Imagine prompt, a messaging event's payload
        SEARCH_CONTENT = "search_content"  # an admin search that matches against such text

    action = models.CharField(max_length=24, choices=Action.choices)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="moderation_actions")
    # Whose words were read or decided on; null for a search, or an event from a sender with no account.
    target = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="moderation_history")
    case = models.ForeignKey(ModerationCase, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"


class MessageFeedback(models.Model):
    """A person's thumbs up or down on an answer, with an optional reason and comment.

    One row per (answer, person): changing one's mind replaces the row, clearing deletes it.
    `updated_at` dates the rating the dashboard charts, so a changed mind counts on its new day."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    class Reason(models.TextChoices):
        NOT_ACCURATE = "not_accurate"
        NOT_HELPFUL = "not_helpful"
        UNSAFE = "unsafe"
        OTHER = "other"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="message_feedback")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    comment = models.TextField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["updated_at"], name="feedback_updated_at_idx")]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="one_feedback_per_person"),
            models.CheckConstraint(condition=Q(rating__in=["up", "down"]), name="feedback_rating_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.rating} #{self.message_id}"
