"""Reads. Every lookup is scoped to its owner: another user's object is simply not found."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from assistant.models import Conversation, Message, MessageFeedback, User
from core.errors import AssistantError, ErrorCode


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated_at", "-id")


NO_SUCH_CONVERSATION = "That conversation does not exist."  # another person's included


def conversation_for(*, user: User, conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.get(pk=conversation_id, owner=user)
    except Conversation.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, NO_SUCH_CONVERSATION) from None


def followed_id(message: Message) -> int | None:
    """The message a message follows in its branch: an answer's question, a question's answer."""
    return message.reply_to_id if message.role == Message.Role.ASSISTANT else message.parent_id


def shown_branch(messages: Iterable[Message]) -> list[Message]:
    """The branch on screen, from messages in id order (a message is stored after the one it follows):
    each message that is the chosen version and follows a shown one. A message that follows nothing
    recorded (a conversation's first, `/v1` history) is shown unless superseded, as when all was linear."""
    shown: list[Message] = []
    shown_ids: set[int] = set()
    for message in messages:
        follows = followed_id(message)
        if message.superseded or (follows is not None and follows not in shown_ids):
            continue
        shown.append(message)
        shown_ids.add(message.pk)
    return shown


def visible_messages(*, conversation: Conversation) -> list[Message]:
    """The conversation as shown: the chosen version of each turn, along the branch it starts. The other
    versions (earlier answers, edited questions) and the branches after them stay stored, unshown."""
    return shown_branch(conversation.messages.order_by("id"))


def versions_by_message(*, messages: Iterable[Message]) -> dict[int, list[int]]:
    """For each of a conversation's messages, the ids of its versions in the order they were written
    (itself included): an answer's share its question, a question's share the answer it follows."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    keys: dict[int, tuple[str, int | None]] = {}
    for message in sorted(messages, key=lambda m: m.pk):
        follows = followed_id(message)
        # An answer stored with no question (`/v1` history) is a version of nothing else.
        key = (message.role, follows if follows is not None or message.role == Message.Role.USER else -message.pk)
        groups.setdefault(key, []).append(message.pk)
        keys[message.pk] = key
    return {pk: groups[key] for pk, key in keys.items()}


def answer_for(*, user: User, message_id: int) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            pk=message_id, role=Message.Role.ASSISTANT, conversation__owner=user
        )
    except Message.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "That answer does not exist.") from None


def feedback_by_answer(*, user: User, answer_ids: Iterable[int]) -> dict[int, MessageFeedback]:
    """The person's own ratings of these answers, by answer id (answers they did not rate are absent)."""
    rows = MessageFeedback.objects.filter(user=user, message_id__in=list(answer_ids))
    return {row.message_id: row for row in rows}


def prompt_history(*, answer: Message, shown: list[Message] | None = None) -> list[Message]:
    """The messages an answer is generated from: the visible ones up to the user message it answers
    (`shown`: the visible ones, when the caller has them).

    Failed answers with no text carry nothing for the model and are skipped. Blocked turns (the
    question and its refusal) leave the model's memory, so one refusal does not colour the rest.
    """
    visible = visible_messages(conversation=answer.conversation) if shown is None else shown
    messages = [m for m in visible if m.pk <= answer.reply_to_id]
    blocked = {m.id for m in messages if m.status == Message.Status.BLOCKED}
    blocked |= {m.reply_to_id for m in messages if m.id in blocked}
    return [m for m in messages if m.id not in blocked and (m.role == Message.Role.USER or m.content)]


def shared_conversation(*, token: str) -> tuple[Conversation, list[Message]]:
    """A shared conversation and the messages its link shows: visible, finished, up to the share."""
    try:
        conversation = Conversation.objects.get(share_token=token)
    except Conversation.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, "This share link does not exist or was turned off.") from None
    messages = visible_messages(conversation=conversation)
    shared = [m for m in messages if m.pk <= conversation.shared_through and m.status != Message.Status.STREAMING]
    return conversation, shared
