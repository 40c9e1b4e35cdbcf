"""Writes. Each state change of a conversation is one function here, in one transaction."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from assistant.chat.attachments import picture_shown_by
from assistant.chat.selectors import (
    NO_SUCH_CONVERSATION,
    answer_for,
    conversation_for,
    followed_id,
    shown_branch,
    visible_messages,
)
from assistant.conf import assistant_settings, model_settings
from assistant.models import ApiKey, Channel, Conversation, Message, MessageFeedback, User
from assistant.ops import metrics
from core import limits
from core.errors import AssistantError, ErrorCode
from core.text import NUL_REFUSAL, contains_nul
from imagine.commands import is_edit_command
from knowledge.services import delete_conversation_documents

TITLE_MAX_CHARS = 200
MAX_REQUEST_MESSAGES = 500
_PROVISIONAL_TITLE_WORDS = 8
PICTURE_GONE = "That picture is no longer kept, so it cannot be edited."


@dataclass(frozen=True)
class TurnStart:
    conversation: Conversation
    user_message: Message
    answer: Message
    created: bool  # False when a retried client_id found the turn already stored
    # A new message's turn: the conversation as shown before it, read once while storing it, so the
    # prompt is built without reading the conversation again (None: read it).
    shown_before: list[Message] | None = None


def create_guest() -> User:
    user = User(username=f"guest-{uuid.uuid4().hex[:16]}", is_guest=True)
    user.set_unusable_password()
    user.save()
    return user


def clean_message_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise AssistantError(ErrorCode.EMPTY_TEXT, "The message is empty.")
    limit = assistant_settings().max_message_chars
    if len(cleaned) > limit:
        raise AssistantError(
            ErrorCode.TEXT_TOO_LONG, f"The message has {len(cleaned)} characters; the limit is {limit}."
        )
    return cleaned


def clean_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise AssistantError(ErrorCode.EMPTY_TEXT, "The title is empty.")
    if len(cleaned) > TITLE_MAX_CHARS:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"A title has at most {TITLE_MAX_CHARS} characters.")
    return cleaned


def provisional_title(text: str) -> str:
    words = text.split()
    title = " ".join(words[:_PROVISIONAL_TITLE_WORDS])
    return (title + ("…" if len(words) > _PROVISIONAL_TITLE_WORDS else ""))[:TITLE_MAX_CHARS]


def create_conversation(*, user: User, title: str = "", channel: str = Channel.WEB) -> Conversation:
    return Conversation.objects.create(owner=user, channel=channel, title=clean_title(title) if title else "")


def rename_conversation(*, user: User, conversation_id: int, title: str) -> Conversation:
    conversation = conversation_for(user=user, conversation_id=conversation_id)
    conversation.title = clean_title(title)
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def share_conversation(*, user: User, conversation_id: int) -> Conversation:
    """Make a read-only link to the conversation as it is now; sharing again moves the link's end
    to the newest message and keeps its address."""
    with transaction.atomic():
        conversation = conversation_for(user=user, conversation_id=conversation_id)
        finished = [m for m in visible_messages(conversation=conversation) if m.status != Message.Status.STREAMING]
        last = finished[-1] if finished else None
        if last is None:
            raise AssistantError(ErrorCode.NOTHING_TO_REGENERATE, "There is nothing to share in this conversation yet.")
        conversation.share_token = conversation.share_token or secrets.token_urlsafe(32)
        conversation.shared_through = last.pk
        conversation.save(update_fields=["share_token", "shared_through"])
    return conversation


def unshare_conversation(*, user: User, conversation_id: int) -> None:
    """The link stops working at once; a new share gets a new address."""
    conversation = conversation_for(user=user, conversation_id=conversation_id)
    Conversation.objects.filter(pk=conversation.pk).update(share_token=None, shared_through=None)


def delete_conversation(*, user: User, conversation_id: int) -> None:
    with transaction.atomic():
        conversation = conversation_for(user=user, conversation_id=conversation_id)
        if conversation.messages.filter(status=Message.Status.STREAMING).exists():
            raise AssistantError(ErrorCode.TURN_IN_PROGRESS, "Stop the answer before deleting the conversation.")
        conversation.delete()
        # Its files name it by id only (no cascade): they go with it.
        delete_conversation_documents(owner_id=user.pk, conversation_id=conversation_id)


def _check_room(conversation: Conversation, stored: int | None = None) -> None:
    """A conversation holds at most ASSISTANT_MAX_CONVERSATION_MESSAGES messages (a turn adds two).
    `stored`: how many it holds, when the caller has read them already."""
    limit = assistant_settings().max_conversation_messages
    if (conversation.messages.count() if stored is None else stored) + 2 > limit:
        raise AssistantError(
            ErrorCode.LIMIT_REACHED, f"This conversation has reached its {limit} messages. Start a new conversation."
        )


def _new_answer(conversation: Conversation, user_message: Message) -> Message:
    # The one_streaming_answer_per_conversation constraint refuses a second answer in progress.
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        reply_to=user_message,
        model_name=model_settings().name,
    )


_TURN_IN_PROGRESS = AssistantError(ErrorCode.TURN_IN_PROGRESS, "An answer is still being written in this conversation.")


def _existing_turn(user: User, conversation_id: int | None, client_id: str) -> TurnStart | None:
    query = Message.objects.filter(conversation__owner=user, client_id=client_id, role=Message.Role.USER)
    if conversation_id is not None:
        query = query.filter(conversation_id=conversation_id)
    user_message = query.select_related("conversation").first()
    if user_message is None:
        return None
    answer = user_message.answers.order_by("-id").first()
    if answer is None:
        return None
    return TurnStart(user_message.conversation, user_message, answer, created=False)


def is_stored(*, user: User, conversation_id: int | None, client_id: str) -> bool:
    """Whether the turn `client_id` names is stored already (a retry of it)."""
    return _existing_turn(user, conversation_id, client_id) is not None


def _admit_any() -> None:
    return None


def start_turn(
    *,
    user: User,
    conversation_id: int | None,
    text: str,
    client_id: str,
    admit: Callable[[], None] = _admit_any,
    photo_reading: str = "",
    edits_picture_of: int | None = None,
) -> TurnStart:
    """Store the user's message and an empty streaming answer; idempotent on `client_id`.
    `admit` (the caller's rate limits) runs for a new turn only, before the quota check.
    `photo_reading`: the reading of the photo sent with the message, kept with it for later prompts.
    `edits_picture_of`: the message of this conversation whose picture an `/imagine edit` restyles."""
    cleaned = clean_message_text(text)
    message = _NewMessage(cleaned, client_id, photo_reading, edits_picture_of)
    store = partial(_store_new_turn, user, conversation_id, message, partial(_admit_new, user, admit))
    return _turn_once(user, conversation_id, client_id, store)


@dataclass(frozen=True)
class _NewMessage:
    content: str
    client_id: str
    photo_reading: str = ""
    edits_picture_of: int | None = None


def _admit_new(user: User, admit: Callable[[], None]) -> None:
    """A new turn's limits; a retry is answered even past them: it was accepted the first time."""
    admit()
    limits.check_quota(user)


def _turn_once(user: User, conversation_id: int | None, client_id: str, store: Callable[[], TurnStart]) -> TurnStart:
    """The turn `client_id` names, stored by `store`, or found stored once a unique client id refused it."""
    try:
        return store()
    except IntegrityError:
        # Either a retry of the same client_id (stored earlier or concurrently), or an answer is in progress.
        if existing := _existing_turn(user, conversation_id, client_id):
            return existing
        raise _TURN_IN_PROGRESS from None


def _store_new_turn(
    user: User, conversation_id: int | None, message: _NewMessage, admit: Callable[[], None]
) -> TurnStart:
    """One transaction, which finds a retry before `admit` counts it, without a lookup of its own: a
    first message's conversation insert is refused by its client id, a follow-up is among the
    conversation's messages, which the prompt needs anyway."""
    with transaction.atomic():
        if conversation_id is None:
            conversation = Conversation.objects.create(
                owner=user, client_id=message.client_id, title=provisional_title(message.content)
            )
            shown: list[Message] = []
        else:
            conversation = _touched_conversation(user, conversation_id)
            stored = list(conversation.messages.order_by("id"))
            if (retry := _stored_turn(conversation, stored, message.client_id)) is not None:
                return retry
            _check_room(conversation, len(stored))
            shown = shown_branch(stored)
        admit()
        if message.edits_picture_of is not None:
            _check_shows_picture(conversation, message.edits_picture_of)
        answers = [m for m in shown if m.role == Message.Role.ASSISTANT]
        user_message = Message.objects.create(
            conversation=conversation,
            role=Message.Role.USER,
            content=message.content,
            client_id=message.client_id,
            parent=answers[-1] if answers else None,  # the answer on screen last (the version chosen)
            photo_reading=message.photo_reading,
            edits_picture_of_id=message.edits_picture_of,
        )
        answer = _new_answer(conversation, user_message)
    return TurnStart(conversation, user_message, answer, created=True, shown_before=shown)


def _touched_conversation(user: User, conversation_id: int) -> Conversation:
    """The person's conversation, its `updated_at` moved to now (a new turn puts it first in their
    list): found, checked for its owner and touched in one statement, which also locks its row until
    the turn is stored."""
    table = connection.ops.quote_name(Conversation._meta.db_table)
    touched = Conversation.objects.raw(
        f"UPDATE {table} SET updated_at = %s WHERE id = %s AND owner_id = %s RETURNING *",
        [timezone.now(), conversation_id, user.pk],
    )
    found = list(touched)
    if not found:
        raise AssistantError(ErrorCode.NOT_FOUND, NO_SUCH_CONVERSATION)
    conversation = found[0]
    conversation.owner = user  # found by its owner: loading the turn reads it without a query
    return conversation


def _stored_turn(conversation: Conversation, stored: list[Message], client_id: str) -> TurnStart | None:
    """The turn a retried follow-up names, from the conversation's messages (`stored`, in id order)."""
    question = next((m for m in stored if m.client_id == client_id and m.role == Message.Role.USER), None)
    if question is None:
        return None
    answers = [m for m in stored if m.reply_to_id == question.pk]
    if not answers:
        return None
    question.conversation = answers[-1].conversation = conversation
    return TurnStart(conversation, question, answers[-1], created=False)


def _check_shows_picture(conversation: Conversation, message_id: int) -> None:
    """An Edit button names a message of this conversation that still shows a picture."""
    message = conversation.messages.filter(pk=message_id).only("role", "image_id", "client_id").first()
    if message is None or picture_shown_by(message, owner_id=conversation.owner_id) is None:
        raise AssistantError(ErrorCode.NOT_FOUND, PICTURE_GONE)


@dataclass(frozen=True)
class RequestMessage:
    role: str  # "user" or "assistant"
    content: str


def _check_request_messages(messages: Sequence[RequestMessage], instructions: str) -> str:
    """Validate an API request's history; return the cleaned text of the message to answer."""
    if len(messages) > MAX_REQUEST_MESSAGES:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"A request has at most {MAX_REQUEST_MESSAGES} messages.")
    limit = assistant_settings().max_message_chars
    if len(instructions) > limit:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"The system instructions exceed {limit} characters.")
    for index, message in enumerate(messages):
        if len(message.content) > limit:
            raise AssistantError(
                ErrorCode.TEXT_TOO_LONG,
                f"messages[{index}] has {len(message.content)} characters; the limit is {limit}.",
            )
    if not messages or messages[-1].role != Message.Role.USER:
        raise AssistantError(ErrorCode.INVALID_FRAME, "The last message must be the user's message to answer.")
    return clean_message_text(messages[-1].content)


def start_api_turn(*, key: ApiKey, instructions: str, messages: Sequence[RequestMessage]) -> TurnStart:
    """Record an API request as a conversation of its own (the history it sent, then an empty
    streaming answer to its last message), so it is stored, counted and reviewable like any other."""
    question = _check_request_messages(messages, instructions)
    limits.check_quota(key.owner)
    with transaction.atomic():
        conversation = Conversation.objects.create(
            owner=key.owner,
            channel=Channel.API,
            api_key=key,
            instructions=instructions,
            title=provisional_title(question),
        )
        stored = Message.objects.bulk_create(
            Message(conversation=conversation, role=m.role, content=m.content) for m in messages
        )
        _link_history(stored)
        answer = _new_answer(conversation, stored[-1])
    return TurnStart(conversation, stored[-1], answer, created=True)


def _link_history(stored: Sequence[Message]) -> None:
    """Each user message of a request's history follows the assistant message before it, as in a chat."""
    follows: int | None = None
    linked = []
    for message in stored:
        if message.role == Message.Role.ASSISTANT:
            follows = message.pk
        elif follows is not None:
            message.parent_id = follows
            linked.append(message)
    Message.objects.bulk_update(linked, ["parent"])


def abandon_turn(*, start: TurnStart) -> None:
    """Undo a turn that could not be started (a dependency failed before anyone saw its answer),
    so that the user's retry with the same client_id stores and answers it afresh."""
    with transaction.atomic():
        start.answer.delete()
        start.user_message.delete()
        conversation = start.conversation
        if conversation.client_id == start.user_message.client_id and not conversation.messages.exists():
            conversation.delete()


def start_regeneration(*, user: User, conversation_id: int) -> TurnStart:
    """Answer the last user message again: a new version of its answer, shown from now on; the earlier
    versions are kept (superseded), each with the branch that followed it."""
    limits.check_quota(user)
    try:
        with transaction.atomic():
            conversation = _touched_conversation(user, conversation_id)
            questions = [m for m in visible_messages(conversation=conversation) if m.role == Message.Role.USER]
            user_message = questions[-1] if questions else None
            if user_message is None:
                raise AssistantError(ErrorCode.NOTHING_TO_REGENERATE, "This conversation has no message to answer.")
            _check_room(conversation)
            user_message.answers.update(superseded=True)
            answer = _new_answer(conversation, user_message)
    except IntegrityError:
        raise _TURN_IN_PROGRESS from None
    return TurnStart(conversation, user_message, answer, created=True)


def start_edit(
    *,
    user: User,
    conversation_id: int,
    message_id: int,
    text: str,
    client_id: str,
    admit: Callable[[], None] = _admit_any,
) -> TurnStart:
    """Store an edit of a shown user message as a new version of it, and an empty streaming answer; the
    new version starts a branch of its own, shown from now on. The edited version and the branch after
    it stay stored, shown again when the person switches back. Idempotent on `client_id`, as a message."""
    cleaned = clean_message_text(text)
    # Looked up first: once stored, the edited version is no longer shown, and editing it is refused.
    if existing := _existing_turn(user, conversation_id, client_id):
        return existing
    _admit_new(user, admit)
    store = partial(_store_edit, user, conversation_id, message_id, cleaned, client_id)
    return _turn_once(user, conversation_id, client_id, store)


def _store_edit(user: User, conversation_id: int, message_id: int, cleaned: str, client_id: str) -> TurnStart:
    with transaction.atomic():
        conversation = _touched_conversation(user, conversation_id)
        if conversation.channel != Channel.WEB:
            raise AssistantError(ErrorCode.INVALID_FRAME, "Only web chats can be edited; this one came from elsewhere.")
        original = _shown_question(conversation, message_id)
        _check_room(conversation)
        _versions_of(original).update(superseded=True)
        user_message = Message.objects.create(
            conversation=conversation,
            role=Message.Role.USER,
            content=cleaned,
            client_id=client_id,
            parent_id=original.parent_id,
            # A picture's edit rewritten as another edit restyles the same picture.
            edits_picture_of_id=original.edits_picture_of_id if is_edit_command(cleaned) else None,
        )
        answer = _new_answer(conversation, user_message)
    return TurnStart(conversation, user_message, answer, created=True)


def _shown_question(conversation: Conversation, message_id: int) -> Message:
    for message in visible_messages(conversation=conversation):
        if message.pk == message_id and message.role == Message.Role.USER:
            return message
    raise AssistantError(ErrorCode.NOT_FOUND, "That message is not one of yours on screen in this conversation.")


def _versions_of(message: Message) -> QuerySet[Message]:
    """The message's versions, itself included (selectors.versions_by_message reads the same groups)."""
    if message.role == Message.Role.USER:
        return Message.objects.filter(
            conversation_id=message.conversation_id, role=Message.Role.USER, parent_id=message.parent_id
        )
    if message.reply_to_id is None:  # `/v1` history: an answer with no question has no other version
        return Message.objects.filter(pk=message.pk)
    return Message.objects.filter(reply_to_id=message.reply_to_id, role=Message.Role.ASSISTANT)


def select_version(*, user: User, message_id: int) -> Message:
    """Show `message` instead of its other versions, with the branch that follows it as it was left.
    Only a version of a message on screen can be chosen, and not while an answer is being written."""
    with transaction.atomic():
        try:
            message = Message.objects.get(pk=message_id, conversation__owner=user)
        except Message.DoesNotExist:
            raise AssistantError(ErrorCode.NOT_FOUND, "That message does not exist.") from None
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        if conversation.messages.filter(status=Message.Status.STREAMING).exists():
            raise AssistantError(ErrorCode.TURN_IN_PROGRESS, "Stop the answer before switching versions.")
        follows = followed_id(message)
        if follows is not None and follows not in {m.pk for m in visible_messages(conversation=conversation)}:
            raise AssistantError(ErrorCode.NOT_FOUND, "That version belongs to a branch that is not on screen.")
        _versions_of(message).exclude(pk=message.pk).update(superseded=True)
        Message.objects.filter(pk=message.pk).update(superseded=False)
    message.superseded = False
    return message


def set_generated_title(*, conversation_id: int, title: str, provisional: str) -> None:
    """Replace the provisional title, unless the user renamed the conversation meanwhile."""
    Conversation.objects.filter(pk=conversation_id, title=provisional).update(title=clean_title(title))


FEEDBACK_COMMENT_MAX_CHARS = 1000


@dataclass(frozen=True)
class FeedbackChange:
    feedback: MessageFeedback
    previous_rating: str | None  # the rating it replaced; None for a first rating


def _rated_answer(user: User, message_id: int) -> Message:
    """One of the person's own finished answers: only those take a rating."""
    answer = answer_for(user=user, message_id=message_id)
    if not answer.is_final:
        raise AssistantError(ErrorCode.NOT_STREAMING, "Wait for the answer to finish before rating it.")
    return answer


def _clean_feedback(rating: str, reason: str, comment: str) -> str:
    """The comment to store, or the specific refusal of this combination."""
    if reason and rating != MessageFeedback.Rating.DOWN:
        raise AssistantError(ErrorCode.INVALID_FRAME, "reason: only a thumbs down takes a reason.")
    if contains_nul(comment):  # the REST body is checked already; other callers reach here directly
        raise AssistantError(ErrorCode.INVALID_FRAME, NUL_REFUSAL)
    cleaned = comment.strip()
    if len(cleaned) > FEEDBACK_COMMENT_MAX_CHARS:
        raise AssistantError(
            ErrorCode.TEXT_TOO_LONG, f"A feedback comment has at most {FEEDBACK_COMMENT_MAX_CHARS} characters."
        )
    return cleaned


def _store_feedback(answer: Message, user: User, fields: dict[str, str]) -> FeedbackChange:
    with transaction.atomic():
        stored = MessageFeedback.objects.select_for_update().filter(message=answer, user=user).first()
        if stored is None:
            return FeedbackChange(MessageFeedback.objects.create(message=answer, user=user, **fields), None)
        previous = stored.rating
        for name, value in fields.items():
            setattr(stored, name, value)
        stored.save(update_fields=[*fields, "updated_at"])
        return FeedbackChange(stored, previous)


def give_feedback(*, user: User, message_id: int, rating: str, reason: str = "", comment: str = "") -> FeedbackChange:
    """Rate one of the person's answers; rating it again replaces the earlier rating, reason and comment."""
    answer = _rated_answer(user, message_id)
    fields = {"rating": rating, "reason": reason, "comment": _clean_feedback(rating, reason, comment)}
    try:
        change = _store_feedback(answer, user, fields)
    except IntegrityError:  # a concurrent first rating of the same answer was stored first: replace it
        change = _store_feedback(answer, user, fields)
    if change.previous_rating != rating:
        metrics.FEEDBACK.labels(rating).inc()
    return change


def clear_feedback(*, user: User, message_id: int) -> None:
    """Take back the person's rating of an answer; clearing one that is not there changes nothing."""
    answer = answer_for(user=user, message_id=message_id)
    deleted, _ = MessageFeedback.objects.filter(message=answer, user=user).delete()
    if deleted:
        metrics.FEEDBACK.labels("cleared").inc()
