"""Reads, always through the owner: another user's image does not exist for you."""

from __future__ import annotations

from django.apps import apps
from django.db.models import QuerySet

from core.errors import AssistantError, ErrorCode
from imagine.models import ImagineImage


def gallery(*, user_id: int) -> QuerySet[ImagineImage]:
    return ImagineImage.objects.filter(owner_id=user_id).order_by("-created")


def image_for(*, user_id: int, image_id: int) -> ImagineImage:
    image = gallery(user_id=user_id).filter(pk=image_id).first()
    if image is None:
        raise AssistantError(ErrorCode.NOT_FOUND, "That image does not exist.")
    return image


def newest_image(*, user_id: int, conversation_id: int) -> ImagineImage | None:
    """The newest picture (not clip) of one of the user's conversations, on any of its branches."""
    return (
        gallery(user_id=user_id)
        .filter(conversation_id=conversation_id, kind=ImagineImage.Kind.IMAGE)
        .order_by("-created", "-pk")
        .first()
    )


def latest_image(*, user_id: int, conversation_id: int) -> ImagineImage:
    """`newest_image`, which must exist."""
    image = newest_image(user_id=user_id, conversation_id=conversation_id)
    if image is None:
        raise AssistantError(ErrorCode.NOT_FOUND, "There is no picture in this conversation to edit yet.")
    return image


# The chat's conversations, named as AUTH_USER_MODEL names the user model: Imagine imports no chat code.
CONVERSATION_MODEL = "assistant.Conversation"


def require_conversation(*, user_id: int, conversation_id: int) -> None:
    """A conversation an image is tied to must be the user's."""
    conversations = apps.get_model(CONVERSATION_MODEL).objects
    if not conversations.filter(pk=conversation_id, owner_id=user_id).exists():
        raise AssistantError(ErrorCode.NOT_FOUND, "That conversation does not exist.")
