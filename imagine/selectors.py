"""Reads, always through the owner: another user's image does not exist for you."""

from __future__ import annotations

from django.db.models import QuerySet

from imagine.errors import ImagineError, ImagineErrorCode
from imagine.models import ImagineImage


def gallery(*, user_id: int) -> QuerySet[ImagineImage]:
    return ImagineImage.objects.filter(owner_id=user_id).order_by("-created")


def image_for(*, user_id: int, image_id: int) -> ImagineImage:
    image = gallery(user_id=user_id).filter(pk=image_id).first()
    if image is None:
        raise ImagineError(ImagineErrorCode.NOT_FOUND, "That image does not exist.")
    return image


def require_conversation(*, user_id: int, conversation_id: int) -> None:
    """A conversation an image is tied to must be the user's. Its model is whichever the image's
    `conversation` field names, so Imagine imports no chat code."""
    conversations = ImagineImage._meta.get_field("conversation").related_model.objects
    if not conversations.filter(pk=conversation_id, owner_id=user_id).exists():
        raise ImagineError(ImagineErrorCode.NOT_FOUND, "That conversation does not exist.")
