"""One door for every turn.

Every channel (the web socket, `/v1`, the messaging reply task, `/imagine` from any of them)
translates its wire format into a `TurnRequest` and calls `start_answer`, which validates it, finds
a retry's stored turn, applies the channel's limits from one policy table, stores the turn, loads
what the model needs and launches the runner with the channel's sink. Channels then translate the
answer's frames, or its outcome, back into their wire format; none re-implements a step.

A complete answer of a turn with memory is then read for facts to keep (`remember_exchange` on a
Celery worker), off the answer's path: the web page hears of what was kept in a `memory_updated`
frame on the person's chat sockets, and of sensitive facts to ask about in a `memory_consent`
frame; a messaging reply never waits for it: the request's `after_remembering` task gets what it
did, and the messaging channel sends it as a short note after the reply (integrations.tasks).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from celery.canvas import Signature
from channels.layers import get_channel_layer
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from assistant.chat import services
from assistant.chat.selectors import NO_SUCH_CONVERSATION
from assistant.chat.services import RequestMessage, TurnStart
from assistant.conf import assistant_settings
from assistant.engine.capabilities import ContentGuard, default_capabilities
from assistant.engine.client_tools import ClientTools
from assistant.engine.early import EarlyAnswer, StartedAnswer
from assistant.engine.frames import MemoryConsentAsk, MemoryConsentFrame, MemoryItemRef, MemoryUpdatedFrame
from assistant.engine.guard_checks import EarlyCheck
from assistant.engine.llm import model_gateway
from assistant.engine.outcome import AnswerOutcome, stored_outcome
from assistant.engine.pipeline import PHOTO_MARKER, Attachment, AttachmentKind, Sampling, Turn, recall_soon
from assistant.engine.recorder import HEARTBEAT_SECONDS, AnswerPlace
from assistant.engine.renders import answer_image
from assistant.engine.runner import TurnRunner
from assistant.engine.sinks import CollectorSink, FrameSink, control_group
from assistant.engine.turns import launch, load_turn, turn_of
from assistant.models import ApiKey, Channel, Conversation, Message, User
from core import limits
from core.celery_results import TaskFailed, await_result
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode
from core.text import NUL_REFUSAL
from imagine.commands import IMAGINE_COMMAND, imagine_prompt, is_edit_command
from imagine.restyle import restyle_instruction
from knowledge import tasks as knowledge_tasks
from knowledge.commands import memory_command
from knowledge.memory import ExchangeMemory, configured_model

logger = logging.getLogger(__name__)

MAX_CLIENT_ID_CHARS = 64
# A first message whose limits were counted later than this after it arrived waited behind other turns
# for a database thread: its turn will take as long again to be stored, and an answer started early would
# only fill a buffer meanwhile, then reach the socket in one piece (2,000 first messages at once).
EARLY_ANSWER_MAX_WAIT_SECONDS = 0.05
# How long the web process waits for the worker's facts: a model call of a few hundred tokens, which
# takes seconds on the embedded CPU model; a page closed by then sees the memory in Settings.
MEMORY_RESULT_SECONDS = 120.0
MEMORY_POLL_SECONDS = 0.25
# An answer saved more recently than this is being written somewhere (its runner saves a heartbeat
# every second); older, its process died and it no longer counts as the person's running answer.
ANSWER_ALIVE_SECONDS = 5 * HEARTBEAT_SECONDS
ANSWER_IN_PROGRESS_DETAIL = "Another of your answers is still being written. Wait for it or stop it, then send again."
PICTURE_EDIT_WHERE = "edit_picture_of: an Edit button works in the conversation showing the picture, without an upload."
PICTURE_EDIT_TEXT = "edit_picture_of: the message must be `/imagine edit <instruction>`."


class Action(StrEnum):
    MESSAGE = "message"  # a new user message (`/imagine <prompt>` included)
    REGENERATE = "regenerate"  # the last user message answered again (a new version of its answer)
    EDIT = "edit"  # a new version of a shown user message, answered in a branch of its own


class OnRetry(Enum):
    """What a retried request (a client id already stored) gets when its answer is still streaming."""

    FOLLOW = "follow"  # its runner lives on (in some web process): the caller follows it
    RERUN = "rerun"  # it had one run, in a task that died: generate it again


@dataclass(frozen=True)
class Policy:
    rate_scope: str  # `<scope>_per_user` and `<scope>_per_ip` in settings.ASSISTANT_RATE_LIMITS
    on_retry: OnRetry = OnRetry.FOLLOW
    # Refused while another answer of the person streams, when ASSISTANT_CONCURRENT_ANSWERS=refuse;
    # otherwise (and always on the other channels) it waits its turn with the model.
    refusable: bool = False


_WEB = Policy("message", refusable=True)
_MESSAGING = Policy("messaging", OnRetry.RERUN)  # a reply task re-runs after a worker died
POLICIES: dict[tuple[Channel, Action], Policy] = {
    (Channel.WEB, Action.MESSAGE): _WEB,
    (Channel.WEB, Action.REGENERATE): _WEB,
    (Channel.WEB, Action.EDIT): _WEB,
    (Channel.API, Action.MESSAGE): Policy("api"),
    **{(app, Action.MESSAGE): _MESSAGING for app in (Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM)},
    (Channel.TELEGRAM, Action.MESSAGE): _MESSAGING,
}


@dataclass(frozen=True, kw_only=True)
class TurnRequest:
    channel: Channel
    user: User
    action: Action = Action.MESSAGE
    conversation_id: int | None = None  # None: a new conversation
    text: str = ""
    client_id: str | None = None  # the caller's idempotency key: a retry finds the stored turn
    edited_message_id: int | None = None  # `edit`: the user message the text is a new version of
    ip: str | None = None  # the caller's address, for per-address limits
    image_prompt: str | None = None  # an `/imagine` turn whose prompt the channel already read
    search_mode: str | None = None  # None: the account's own setting
    sampling: Sampling | None = None  # `/v1`: the request's overrides of the operator's settings
    api_key: ApiKey | None = None  # `/v1`: the key that sent it
    instructions: str = ""  # `/v1`: the client's own system instructions
    history: Sequence[RequestMessage] = ()  # `/v1`: the whole conversation, ending with the question
    client_tools: ClientTools | None = None  # `/v1`: function tools, and `history` as Llama 3.1 reads it
    temporary: bool = False  # web: a temporary chat, which neither reads nor writes memory (end_temporary_chat)
    attachment: Attachment | None = None  # messaging: a photo's reading, or a voice note's transcript
    # Web: `/imagine edit …` sent with a picture's Edit button: the message that shows that picture.
    edits_picture_of: int | None = None
    # Messaging: the task run with what memory did with the exchange (an ExchangeMemory's JSON, passed
    # first), once a worker has read it; the web is told on its sockets instead.
    after_remembering: Signature | None = None
    admitted: bool = False  # its limits were counted already, by `admit_before_reading`

    @classmethod
    def with_attachment(cls, attachment: Attachment, *, caption: str = "", **fields: object) -> TurnRequest:
        """A photo or a voice note. What is stored as the person's message is what they sent in words: a
        voice note's transcript, or a photo's caption after PHOTO_MARKER (its reading is the prompt's,
        for this answer only)."""
        voice = attachment.kind is AttachmentKind.VOICE
        text = attachment.reading if voice else f"{PHOTO_MARKER} {caption}".strip()
        return cls(text=text, attachment=attachment, **fields)  # type: ignore[arg-type]

    @classmethod
    def imagine(cls, *, prompt: str, **fields: object) -> TurnRequest:
        """An `/imagine <prompt>` turn, stored as the command the person typed."""
        return cls(text=f"{IMAGINE_COMMAND} {prompt}", image_prompt=prompt, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AnswerHandle:
    conversation_id: int
    user_message_id: int
    answer: Message
    created: bool  # False: a retry found this turn stored
    task: asyncio.Task[AnswerOutcome] | None  # None when this call launched nothing
    # Reading the exchange for facts once the answer is complete: on the web, what memory did with it
    # (None when it could not be read); elsewhere only queued (None). None when the turn has no memory.
    remembering: asyncio.Task[ExchangeMemory | None] | None = None


def memory_group(user_id: int) -> str:
    """The channel-layer group of a person's chat sockets, told when their memory kept something."""
    return f"memory.{user_id}"


BeforeLaunch = Callable[[TurnStart], Awaitable[None]]


async def start_answer(
    request: TurnRequest, sink: FrameSink, *, before_launch: BeforeLaunch | None = None
) -> AnswerHandle:
    """Admit and store the turn, then launch its answer with `sink` as its listener.

    `before_launch` runs for a new turn before its first frame can exist (a socket joins the
    answer's group there); if a dependency fails in it, the turn is undone so a retry starts afresh."""
    early = _EarlyStart.of(request)
    try:
        start, turn = await database_sync_to_async(_admit)(request, early.start_soon if early else None)
        if turn is not None and before_launch is not None:
            await _before_launch(before_launch, start)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    if turn is None:
        if early is not None:
            early.cancel()  # started, then a concurrent retry of the same message stored it first
        return AnswerHandle(start.conversation.pk, start.user_message.pk, start.answer, False, None)
    started = None
    if early is not None:
        turn, started = early.handed_to(turn, start.user_message.pk)
    # A person's chats and messages take turns with the model; `/v1` requests do not (programs send
    # them in parallel on purpose, within the API's own rate limit), each is a person of its own.
    person = None if request.channel == Channel.API else request.user.pk
    conversation = start.conversation
    began = start.shown_before == []  # a new message in a conversation that had none
    place = AnswerPlace(conversation.pk, conversation.owner_id, conversation.channel, began_conversation=began)
    task = launch(TurnRunner(start.answer.pk, sink, turn=turn, person=person, place=place, started=started))
    memory_of = _memory_to_update(turn)
    remembering = None if memory_of is None else _remember_after(task, start, memory_of, request)
    return AnswerHandle(start.conversation.pk, start.user_message.pk, start.answer, start.created, task, remembering)


async def _before_launch(before_launch: BeforeLaunch, start: TurnStart) -> None:
    """Run the channel's step for a new turn; if a dependency fails in it, the turn is undone so a
    retry starts afresh."""
    try:
        await before_launch(start)
    except DEPENDENCY_ERRORS:
        if start.created:
            await database_sync_to_async(services.abandon_turn)(start=start)
        raise


class _EarlyStart:
    """A new conversation's first message, which is the whole conversation its answer reads: the
    person's facts are read at once, and as soon as the request has passed its limits (on the database
    thread, which hands it to this loop) the question's check and the answer itself start
    (assistant/engine/early.py), so that the guard and the model read while the turn is stored rather
    than after."""

    def __init__(self, guard: ContentGuard | None, question: str, turn: Turn, person: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.asked_at = self.loop.time()
        self.guard = guard
        self.question = question
        self.turn = turn
        self.person = person
        # Only a read, so it need not wait for the limits: the person's facts come while the turn is admitted.
        self.recalled = recall_soon(turn, model_gateway())
        self.check: EarlyCheck | None = None
        self.answer: EarlyAnswer | None = None
        self.cancelled = False

    @classmethod
    def of(cls, request: TurnRequest) -> _EarlyStart | None:
        """None unless the turn is a question whose conversation the request alone tells: a first
        message without a photo or a voice note, not a command (Imagine and memory check their own),
        nor a restyle (it reads the conversation's pictures)."""
        first_message = request.action is Action.MESSAGE and request.conversation_id is None
        plain = request.attachment is None and request.image_prompt is None and request.api_key is None
        if not first_message or not plain:
            return None
        try:
            _validate(request)
            question = services.clean_message_text(request.text)
        except AssistantError:
            return None  # refused when stored, with the same error
        if any(read(question) is not None for read in (imagine_prompt, memory_command, restyle_instruction)):
            return None
        turn = turn_of(
            Conversation(owner=request.user),  # as `services.start_turn` will store it
            [EarlyAnswer.question(question)],
            sampling=request.sampling,
            search_mode=request.search_mode,
            memory=not request.temporary,
            files=False,
        )
        return cls(default_capabilities().guard, question, turn, request.user.pk)

    def start_soon(self) -> None:
        """Called on the database thread once the limits let the turn in."""
        self.loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self.cancelled:
            return  # the turn failed after its limits, before this loop got here
        if self.guard is not None:
            self.check = EarlyCheck.start(self.guard, [("user", self.question)])
        if self.loop.time() - self.asked_at > EARLY_ANSWER_MAX_WAIT_SECONDS:
            return  # a busy process: its stream would only fill a buffer while the turn waits to be stored
        self.answer = EarlyAnswer(replace(self.turn, early_check=self.check, recalled=self.recalled), self.person)

    def handed_to(self, stored: Turn, question_id: int) -> tuple[Turn, StartedAnswer | None]:
        """The stored turn with what started early for it: its check and recall, and the answer itself
        when one is under way for the same prompt."""
        if self.answer is None:
            return replace(stored, early_check=self.check, recalled=self.recalled), None
        if self.answer.matches(stored):
            return replace(stored, early_check=self.check), self.answer.taken(question_id)
        self.cancel()
        return stored, None

    def cancel(self) -> None:
        self.cancelled = True
        if self.answer is not None:
            self.answer.cancel()  # its pipeline cancels the check when it ends
        for started in (self.check, self.recalled):
            if started is not None:
                started.cancel()


async def answer_in_full(request: TurnRequest) -> AnswerOutcome:
    """The whole answer's outcome, for a channel that replies once (messaging). Its exchange is queued to
    be read for facts (`request.after_remembering` hears what was kept), never waited for."""
    sink = CollectorSink()
    handle = await start_answer(request, sink)
    if handle.task is None:
        return await database_sync_to_async(_stored_outcome)(handle.answer.pk)
    outcome = await sink.outcome()
    if handle.remembering is not None:
        await handle.remembering  # only queues the task, but must before this loop stops with the reply task
    return outcome


# --- memory ----------------------------------------------------------------------------------------

_remembering: set[asyncio.Task[ExchangeMemory | None]] = set()


def _memory_to_update(turn: Turn) -> int | None:
    """Whose exchange is read for facts (the worker keeps them in that person's memory, or in the web
    account's they are linked to): none for a turn without memory, or a memory command (its own reply
    says what changed), or when no model is named to read exchanges."""
    knowledge = turn.knowledge
    if knowledge is None or not knowledge.memory or turn.memory_command is not None or configured_model() is None:
        return None
    return knowledge.owner_id


def _remember_after(
    answer: asyncio.Task[AnswerOutcome], start: TurnStart, person_id: int, request: TurnRequest
) -> asyncio.Task[ExchangeMemory | None]:
    """Queue the exchange for a worker to read once `answer` is complete; on the web, wait for what it
    did and tell the person's sockets. A task of its own, so the answer's `done` never waits for it."""
    task = asyncio.create_task(_remember(answer, start, person_id, request), context=contextvars.Context())
    _remembering.add(task)
    task.add_done_callback(_remembering.discard)
    return task


async def _remember(
    answer: asyncio.Task[AnswerOutcome], start: TurnStart, person_id: int, request: TurnRequest
) -> ExchangeMemory | None:
    """Queue the exchange to be read for `person_id`'s memory; on the web, what it did, its frames sent to
    their sockets. Elsewhere None at once: a messaging reply worker is not held for a model call (the
    queued task runs `request.after_remembering` with its result)."""
    outcome = await answer
    if outcome.status != Message.Status.COMPLETE or not outcome.content.strip():
        return None  # a blocked, failed or stopped turn teaches nothing
    question = start.user_message
    exchange = (
        person_id,
        question.pk,
        start.conversation.channel,
        question.content,
        outcome.content,
        start.conversation.pk,
    )
    web = request.channel == Channel.WEB
    try:
        # Only the web reads the result back; elsewhere it would be stored for nobody.
        pending = await asyncio.to_thread(
            knowledge_tasks.remember_exchange.apply_async,
            exchange,
            link=request.after_remembering,
            ignore_result=not web,
        )
        if not web:
            return None
        news = ExchangeMemory.model_validate(
            await await_result(pending, wait_seconds=MEMORY_RESULT_SECONDS, poll_seconds=MEMORY_POLL_SECONDS)
        )
    except (BrokerUnavailable, TimeoutError, TaskFailed) as exc:
        logger.warning("answer %s: memory not updated from its exchange: %r", start.answer.pk, exc)
        return None
    await _tell_sockets(person_id, _memory_frames(start, news))
    return news


def _memory_frames(start: TurnStart, news: ExchangeMemory) -> list[MemoryUpdatedFrame | MemoryConsentFrame]:
    about = {"message_id": start.answer.pk, "user_message_id": start.user_message.pk}
    frames: list[MemoryUpdatedFrame | MemoryConsentFrame] = []
    if news.kept:
        frames.append(MemoryUpdatedFrame(**about, items=[MemoryItemRef(id=i.id, text=i.text) for i in news.kept]))
    if news.ask:
        facts = [MemoryConsentAsk(text=ask.text, token=ask.token) for ask in news.ask]
        frames.append(MemoryConsentFrame(**about, facts=facts))
    return frames


async def _tell_sockets(user_id: int, frames: Sequence[MemoryUpdatedFrame | MemoryConsentFrame]) -> None:
    """Every memory frame travels as the layer event `memory.updated`: the consumer forwards its frame."""
    try:
        for frame in frames:
            await get_channel_layer().group_send(
                memory_group(user_id), {"type": "memory.updated", "frame": frame.dump()}
            )
    except DEPENDENCY_ERRORS as exc:
        logger.warning("memory frames not sent to user %s: %s", user_id, exc)


def policy_for(request: TurnRequest) -> Policy:
    try:
        return POLICIES[(request.channel, request.action)]
    except KeyError:
        raise AssistantError(
            ErrorCode.INVALID_FRAME, f"{request.channel} turns cannot {request.action.value}."
        ) from None


async def admit_before_reading(request: TurnRequest) -> TurnRequest:
    """Count a new turn against its channel's limits and check the day's quota before the channel does
    costly work for it (a photo or a voice note read on the `media` worker), so a flood is refused
    before it costs anything; a retry of a stored turn is not counted. The request returned is not
    counted again when it is started."""
    await database_sync_to_async(_count_unless_stored)(request, policy_for(request))
    return replace(request, admitted=True)


def _count_unless_stored(request: TurnRequest, policy: Policy) -> None:
    stored = request.client_id is not None and services.is_stored(
        user=request.user, conversation_id=request.conversation_id, client_id=request.client_id
    )
    if not stored:  # a retry was counted the first time
        _count_against_limits(request, policy)
        limits.check_quota(request.user)


def _count_against_limits(request: TurnRequest, policy: Policy) -> None:
    if policy.refusable and assistant_settings().concurrent_answers == "refuse":
        _refuse_while_answering(request.user)
    limits.hit_both(policy.rate_scope, user_id=request.user.pk, ip=request.ip)


def _admit(request: TurnRequest, on_admitted: Callable[[], None] | None = None) -> tuple[TurnStart, Turn | None]:
    """Store the turn, in one trip to the database thread; the turn to run is None when there is
    nothing to generate (a retry whose answer exists or runs elsewhere). `on_admitted` runs once a
    new turn has passed its limits, before its messages are stored."""
    _validate(request)
    policy = policy_for(request)

    def admit() -> None:
        if not request.admitted:
            _count_against_limits(request, policy)
        if on_admitted is not None:
            on_admitted()

    start = _store(request, admit)
    rerun = policy.on_retry is OnRetry.RERUN and start.answer.status == Message.Status.STREAMING
    if not (start.created or rerun):
        return start, None
    turn = load_turn(
        start.answer,
        sampling=request.sampling,
        search_mode=request.search_mode,
        image_prompt=request.image_prompt,
        memory=not request.temporary,
        files=_may_have_files(request),
        shown=None if start.shown_before is None else [*start.shown_before, start.user_message],
    )
    return start, replace(turn, client_tools=request.client_tools, attachment=request.attachment)


def _may_have_files(request: TurnRequest) -> bool:
    """Whether the turn's conversation may have files attached, so their passages are looked for. Only
    the web page attaches files, to a conversation that exists: an app's document is answered as a
    kind the assistant does not read, and a messaging identity never signs in to upload one."""
    return request.channel is Channel.WEB and request.conversation_id is not None


def _store(request: TurnRequest, admit: Callable[[], None]) -> TurnStart:
    if request.action is Action.REGENERATE:
        admit()  # never a retry: each regeneration is a new answer
        return services.start_regeneration(user=request.user, conversation_id=_conversation_id(request))
    if request.api_key is not None:
        admit()  # `/v1` requests carry no client id: each is a new turn
        return services.start_api_turn(key=request.api_key, instructions=request.instructions, messages=request.history)
    if not request.client_id:
        raise AssistantError(ErrorCode.INVALID_FRAME, "client_id: a message needs the sender's id for it.")
    if request.action is Action.EDIT:
        return services.start_edit(
            user=request.user,
            conversation_id=_conversation_id(request),
            message_id=_edited_message_id(request),
            text=request.text,
            client_id=request.client_id,
            admit=admit,
        )
    return services.start_turn(
        user=request.user,
        conversation_id=request.conversation_id,
        text=request.text,
        client_id=request.client_id,
        admit=admit,
        photo_reading=request.attachment.photo_reading if request.attachment else "",
        edits_picture_of=request.edits_picture_of,
    )


def _conversation_id(request: TurnRequest) -> int:
    if request.conversation_id is None:
        raise AssistantError(
            ErrorCode.INVALID_FRAME, f"conversation_id: {request.action.value} needs the conversation."
        )
    return request.conversation_id


def _edited_message_id(request: TurnRequest) -> int:
    if request.edited_message_id is None:
        raise AssistantError(ErrorCode.INVALID_FRAME, "message_id: an edit names the message it replaces.")
    if request.edited_message_id < 1:
        raise AssistantError(ErrorCode.NOT_FOUND, "That message does not exist.")
    return request.edited_message_id


def _validate(request: TurnRequest) -> None:
    """What every channel's request must be, whatever its wire format already checked."""
    texts = [request.text, request.instructions, *(message.content for message in request.history)]
    if request.attachment is not None:
        texts.append(request.attachment.reading)
    if any("\x00" in text for text in texts):
        raise AssistantError(ErrorCode.INVALID_FRAME, NUL_REFUSAL)
    if request.client_id is not None and not 1 <= len(request.client_id) <= MAX_CLIENT_ID_CHARS:
        raise AssistantError(ErrorCode.INVALID_FRAME, f"client_id: 1 to {MAX_CLIENT_ID_CHARS} characters.")
    if request.conversation_id is not None and request.conversation_id < 1:
        raise AssistantError(ErrorCode.NOT_FOUND, NO_SUCH_CONVERSATION)
    if request.edits_picture_of is not None:
        _validate_picture_edit(request)


def _validate_picture_edit(request: TurnRequest) -> None:
    """A picture's Edit button sends `/imagine edit <instruction>` in the conversation showing it."""
    if request.conversation_id is None or request.attachment is not None:
        raise AssistantError(ErrorCode.INVALID_FRAME, PICTURE_EDIT_WHERE)
    if not is_edit_command(request.text):
        raise AssistantError(ErrorCode.INVALID_FRAME, PICTURE_EDIT_TEXT)


def _refuse_while_answering(user: User) -> None:
    """Another answer of this person is being written, in any process (the database knows)."""
    alive_since = timezone.now() - dt.timedelta(seconds=ANSWER_ALIVE_SECONDS)
    answering = Message.objects.filter(
        conversation__owner=user, status=Message.Status.STREAMING, updated_at__gte=alive_since
    )
    if answering.exists():
        raise AssistantError(ErrorCode.ANSWER_IN_PROGRESS, ANSWER_IN_PROGRESS_DETAIL)


def _stored_outcome(answer_id: int) -> AnswerOutcome:
    answer = Message.objects.select_related("image").get(pk=answer_id)
    return stored_outcome(answer, answer_image(answer))


# --- temporary chats -------------------------------------------------------------------------------

_ending: set[asyncio.Task[None]] = set()


def end_temporary_chat(*, user: User, last_turn: AnswerHandle) -> None:
    """The page that held a temporary chat closed: stop its last answer if it still runs (nobody is
    left to read it), then delete the conversation and its files. A task of its own: the socket is gone."""
    task = asyncio.create_task(_end_temporary_chat(user, last_turn), context=contextvars.Context())
    _ending.add(task)
    task.add_done_callback(_ending.discard)


async def _end_temporary_chat(user: User, last_turn: AnswerHandle) -> None:
    if last_turn.task is not None and not last_turn.task.done():
        await get_channel_layer().group_send(control_group(last_turn.answer.pk), {"type": "turn.stop"})
        await asyncio.wait([last_turn.task])
    conversation_id = last_turn.conversation_id
    try:
        await database_sync_to_async(services.delete_conversation)(user=user, conversation_id=conversation_id)
    except AssistantError as exc:  # the person deleted it meanwhile
        logger.info("temporary chat %s not deleted: %s", conversation_id, exc.detail)
