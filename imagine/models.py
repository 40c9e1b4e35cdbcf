"""The gallery: final renders and clips, each owned by one user."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def _file_path(image: ImagineImage, filename: str) -> str:
    """Unguessable names, grouped by owner (the serving view checks the owner anyway)."""
    extension = filename.rsplit(".", 1)[-1]
    return f"imagine/{image.owner_id}/{uuid.uuid4().hex}.{extension}"


class ImagineImage(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image"  # a final render (PNG)
        CLIP = "clip"  # an animation of an image: `file` is the MP4, `gif` the GIF

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="imagine_images")
    # The chat it was made in; null for images made over REST or in a messaging app without one. An
    # id, not a foreign key: the chat's tables build on Imagine's (an answer shows its picture), so
    # Imagine's need none of theirs. The chat clears it when the conversation is deleted.
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    source = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="clips")
    # The picture an edit restyled. An edit is a picture of its own: deleting the original keeps it.
    edited_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="edits")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    prompt = models.TextField()
    seed = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file = models.FileField(upload_to=_file_path)
    gif = models.FileField(upload_to=_file_path, blank=True)
    frames = models.PositiveIntegerField(default=1)
    fps = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}"  # never the prompt: the admin shows this to all staff
