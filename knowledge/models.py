"""What the assistant knows about a person: remembered facts and uploaded documents, each owned by
one user and deleted with them. Embeddings are all-MiniLM-L6-v2 vectors (384 float32, normalised),
stored as bytes so SQLite and PostgreSQL hold them alike (knowledge/embeddings.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class MemorySettings(models.Model):
    """A person's memory switch; no row means memory is on."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_settings")
    enabled = models.BooleanField(default=True)


class SensitiveCategory(models.TextChoices):
    """Kinds of fact that are kept only when the person says so (GDPR art. 9's special categories)."""

    HEALTH = "health"
    RELIGION = "religion"
    SEXUALITY = "sexuality"
    POLITICS = "politics"
    ETHNICITY = "ethnicity"
    UNION = "union"
    BIOMETRIC = "biometric"
    CRIMINAL = "criminal"


class MemoryItem(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_items")
    text = models.TextField()
    # What the fact is about, normalised ("home city"): a new fact on the same subject replaces the old.
    subject = models.CharField(max_length=100, blank=True)
    embedding = models.BinaryField()
    sensitive_category = models.CharField(max_length=16, choices=SensitiveCategory.choices, blank=True)
    # Provenance: where the fact was said (a channel of the product, or `settings` when typed there).
    source_channel = models.CharField(max_length=32)
    source_message_id = models.BigIntegerField(null=True, blank=True)
    # The conversation it was said in (null: typed in Settings, or kept before conversations were
    # recorded). An id, not a foreign key, like Document.conversation_id: deleting the conversation
    # keeps the fact, whose source then names the channel only.
    source_conversation_id = models.BigIntegerField(null=True, blank=True)
    source_time = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "subject"])]
        ordering = ["-updated", "-id"]


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    # The chat it was attached to; null for the person's library. An id, not a foreign key: knowledge
    # builds on no other app's tables (like imagine's images).
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    name = models.CharField(max_length=255)
    media_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    pages = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=32, blank=True)
    error_detail = models.CharField(max_length=300, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    # The uploaded bytes until extraction ends (then emptied): the worker reads them from the database,
    # so web and worker need no shared file storage.
    content = models.BinaryField(editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(progress__lte=100), name="document_progress_percent")]


class DocumentChunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    page = models.PositiveIntegerField()  # 1-based: a PDF's page, a slide, a DOCX page between explicit breaks
    ordinal = models.PositiveIntegerField()  # order in the document
    text = models.TextField()
    tokens = models.PositiveIntegerField()
    embedding = models.BinaryField()

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="one_chunk_per_ordinal")]


class LinkCode(models.Model):
    """A one-time code a web account issues (Settings → Memory) and a messaging identity sends back
    (`/link CODE`), so that the identity shares the account's memory. Stored as a digest only."""

    account = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="link_code")
    digest = models.CharField(max_length=64, unique=True)  # SHA-256 of the code, hex
    expires = models.DateTimeField()


class MemoryLink(models.Model):
    """A messaging identity (its own user) whose memory is a web account's: what it remembers, reads
    and forgets is the account's."""

    member = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_link")
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_members")
    created = models.DateTimeField(auto_now_add=True)
