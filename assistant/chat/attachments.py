"""Photos and voice recordings people send with a message, in every channel: the web chat's uploads and
the messaging apps' photos and voice notes (docs/subsystems/media.md, "Storage").

The file lives in Django's default storage (MEDIA_ROOT, or the private S3 bucket) under an unguessable
name grouped by owner, and is served only through the owner-checking view; the row holds what the
`media` worker read from it. The file leaves the storage when its row is deleted (with its message,
conversation or account: assistant/models.py) and when the input check refuses the turn it was sent
with (`drop_refused`): the row then keeps the reading and the file's SHA-256 for the moderation case,
never the picture or the recording.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import models

from assistant.models import Message, User, delete_after_commit


def _file_path(attachment: MessageAttachment, filename: str) -> str:
    """Unguessable names, grouped by owner (the serving view checks the owner anyway)."""
    extension = filename.rsplit(".", 1)[-1]
    return f"attachments/{attachment.owner_id}/{uuid.uuid4().hex}.{extension}"


class MessageAttachment(models.Model):
    """A photo or a voice recording one person sent, as the `media` worker read it."""

    class Kind(models.TextChoices):
        PHOTO = "photo"
        VOICE = "voice"

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="message_attachments")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The photo cleaned by the worker (upright, re-encoded without EXIF or location), or the recording as
    # it was sent. Empty once the input check refused its turn.
    file = models.FileField(upload_to=_file_path, blank=True)
    media_type = models.CharField(max_length=32)
    sha256 = models.CharField(max_length=64)  # of the file's bytes: a moderator matches repeats by it
    refused = models.BooleanField(default=False)  # the input check refused its turn: the file is gone
    reading = models.TextField()  # photo: the description the model reads; voice: the transcript
    photo_text = models.TextField(blank=True)  # photo: its printed lines, which the content guard reads
    language = models.CharField(max_length=8, blank=True)  # voice: the transcript's (ISO 639-1)
    language_detected = models.BooleanField(default=False)
    duration = models.FloatField(null=True, blank=True)  # voice: seconds heard
    # The client id of the message it is sent with: the web page's once it claims it, a messaging
    # event's own from the start; a retry of that message finds it again.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachment")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "assistant"
        ordering = ["id"]
        indexes = [models.Index(fields=["owner", "client_id"], name="attachment_owner_client_id")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"  # never the reading: the admin shows this to all staff

    def read_file(self) -> bytes:
        with self.file.open("rb") as stored:
            return stored.read()


def store(
    *,
    owner: User,
    kind: MessageAttachment.Kind,
    data: bytes,
    media_type: str,
    reading: str,
    photo_text: str = "",
    language: str = "",
    language_detected: bool = False,
    duration: float | None = None,
    client_id: str | None = None,
) -> MessageAttachment:
    """Keep a file the `media` worker has read (every check passed), with its reading. With a `client_id`
    already kept for this owner (a messaging reply run again) that attachment is returned as it is."""
    if client_id is not None and (kept := owner.message_attachments.filter(client_id=client_id).first()):
        return kept
    attachment = MessageAttachment(
        owner=owner,
        kind=kind,
        media_type=media_type,
        sha256=hashlib.sha256(data).hexdigest(),
        reading=reading,
        photo_text=photo_text,
        language=language,
        language_detected=language_detected,
        duration=duration,
        client_id=client_id,
    )
    attachment.file.save(f"sent.{media_type.split('/')[-1]}", ContentFile(data), save=False)
    try:
        attachment.save()
    except BaseException:
        attachment.file.delete(save=False)  # nothing stored half: no file without its row
        raise
    return attachment


def keep_with(attachment: MessageAttachment, *, message_id: int) -> None:
    """The stored user message now shows it; a retry that found the message stored changes nothing."""
    MessageAttachment.objects.filter(pk=attachment.pk, message__isnull=True).update(message_id=message_id)


def keep_with_turn(attachment: MessageAttachment, *, conversation_id: int) -> None:
    """After a turn started with its client id: kept with the user message it stored, or deleted (its
    file too) when the turn was refused before anything was stored (a limit, a quota)."""
    question = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.USER, client_id=attachment.client_id
    ).first()
    if question is None:
        attachment.delete()
    else:
        keep_with(attachment, message_id=question.pk)


def sent_with(*, message_id: int, client_id: str | None) -> models.Q:
    """The attachments sent with a user message: kept with it, or still only claimed for its client id
    (a channel links the two once the turn is stored, which may be after its check or its answer)."""
    found = models.Q(message_id=message_id)
    if client_id is not None:
        found |= models.Q(message__isnull=True, client_id=client_id)
    return found


def kept_photos(owner_id: int) -> models.QuerySet[MessageAttachment]:
    """The person's sent photos whose file is still kept (a refused turn's is not)."""
    photos = MessageAttachment.objects.filter(owner_id=owner_id, kind=MessageAttachment.Kind.PHOTO, refused=False)
    return photos.exclude(file="")


def kept_photo_sent_with(*, owner_id: int, message_id: int, client_id: str | None) -> MessageAttachment | None:
    """The photo sent with one user message, while its file is kept."""
    return kept_photos(owner_id).filter(sent_with(message_id=message_id, client_id=client_id)).first()


@dataclass(frozen=True)
class ShownPicture:
    """The picture a message shows: an answer's Imagine render (`image_id`), or a photo the person sent."""

    image_id: int | None = None
    photo: MessageAttachment | None = None


def picture_shown_by(message: Message, *, owner_id: int) -> ShownPicture | None:
    """An answer's render (kept in the gallery), or the photo sent with a user message while its file is
    kept; None when the message shows no picture (any more)."""
    if message.role == Message.Role.ASSISTANT:
        return ShownPicture(image_id=message.image_id) if message.image_id is not None else None
    photo = kept_photo_sent_with(owner_id=owner_id, message_id=message.pk, client_id=message.client_id)
    return ShownPicture(photo=photo) if photo is not None else None


def drop_refused(*, question: Message) -> None:
    """The input check refused the turn of `question`: the file sent with it leaves the storage once the
    refusal is committed; its reading and SHA-256 stay for the moderation case."""
    owner_id = Message.objects.filter(pk=question.pk).values_list("conversation__owner_id", flat=True).get()
    found = sent_with(message_id=question.pk, client_id=question.client_id)
    for attachment in MessageAttachment.objects.filter(found, owner_id=owner_id):
        delete_after_commit(attachment.file)
        attachment.file = ""
        attachment.refused = True
        attachment.save(update_fields=["file", "refused"])
