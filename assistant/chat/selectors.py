"""Reads. Every lookup is scoped to its owner: another user's object is simply not found."""

from __future__ import annotations

from django.db.models import QuerySet

from assistant.models import Conversation, Message, User
from core.errors import AssistantError, ErrorCode


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated_at", "-id")


def conversation_for(*, user: User, conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.get(pk=conversation_id, owner=user)
    except Conversation.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "That conversation does not exist.") from None


def visible_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """The conversation as shown: superseded answers (replaced by regenerate) are left out."""
    return conversation.messages.filter(superseded=False).order_by("id")


def answer_for(*, user: User, message_id: int) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            pk=message_id, role=Message.Role.ASSISTANT, conversation__owner=user
        )
    except Message.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "That answer does not exist.") from None


def prompt_history(*, answer: Message) -> list[Message]:
    """The messages an answer is generated from: the visible ones up to the user message it answers.

    Failed answers with no text carry nothing for the model and are skipped. Blocked turns (the
    question and its refusal) leave the model's memory, so one refusal does not colour the rest.
    """
    messages = list(visible_messages(conversation=answer.conversation).filter(id__lte=answer.reply_to_id))
    blocked = {m.id for m in messages if m.status == Message.Status.BLOCKED}
    blocked |= {m.reply_to_id for m in messages if m.id in blocked}
    return [m for m in messages if m.id not in blocked and (m.role == Message.Role.USER or m.content)]


def shared_conversation(*, token: str) -> tuple[Conversation, list[Message]]:
    """A shared conversation and the messages its link shows: visible, finished, up to the share."""
    try:
        conversation = Conversation.objects.get(share_token=token)
    except Conversation.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "This share link does not exist or was turned off.") from None
    messages = visible_messages(conversation=conversation).filter(id__lte=conversation.shared_through)
    return conversation, list(messages.exclude(status=Message.Status.STREAMING))
