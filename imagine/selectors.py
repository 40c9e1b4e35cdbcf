"""Reads, always through the owner: another user's image does not exist for you."""

from __future__ import annotations

from django.db.models import QuerySet

from assistant.errors import AssistantError
from assistant.selectors import shared_conversation
from imagine.errors import ImagineError, ImagineErrorCode
from imagine.models import ImagineImage


def gallery(*, user_id: int) -> QuerySet[ImagineImage]:
    return ImagineImage.objects.filter(owner_id=user_id).order_by("-created")


def image_for(*, user_id: int, image_id: int) -> ImagineImage:
    image = gallery(user_id=user_id).filter(pk=image_id).first()
    if image is None:
        raise ImagineError(ImagineErrorCode.NOT_FOUND, "That image does not exist.")
    return image


def shared_image(*, token: str, image_id: int) -> ImagineImage:
    """A picture shown on the share page of `token`: one answering a message that page shows.
    Nothing else of the owner's gallery is reachable with the token."""
    try:
        _, messages = shared_conversation(token=token)
    except AssistantError:
        raise ImagineError(ImagineErrorCode.NOT_FOUND, "That image does not exist.") from None
    if image_id not in {message.image_id for message in messages}:
        raise ImagineError(ImagineErrorCode.NOT_FOUND, "That image does not exist.")
    return ImagineImage.objects.get(pk=image_id)
