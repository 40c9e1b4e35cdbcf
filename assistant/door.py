"""One door for every turn.

Every channel (the web socket, `/v1`, the messaging reply task, `/imagine` from any of them)
translates its wire format into a `TurnRequest` and calls `start_answer`, which validates it, finds
a retry's stored turn, applies the channel's limits from one policy table, stores the turn, loads
what the model needs and launches the runner with the channel's sink. Channels then translate the
answer's frames, or its outcome, back into their wire format; none re-implements a step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from django.utils import timezone

from assistant.chat import services
from assistant.chat.services import RequestMessage, TurnStart
from assistant.conf import assistant_settings
from assistant.engine.client_tools import ClientTools
from assistant.engine.outcome import AnswerOutcome, stored_outcome
from assistant.engine.pipeline import Sampling, Turn
from assistant.engine.recorder import HEARTBEAT_SECONDS
from assistant.engine.renders import answer_image
from assistant.engine.runner import TurnRunner
from assistant.engine.sinks import CollectorSink, FrameSink
from assistant.engine.turns import launch, load_turn
from assistant.models import ApiKey, Channel, Message, User
from core import limits
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode
from core.text import NUL_REFUSAL
from imagine.commands import IMAGINE_COMMAND

MAX_CLIENT_ID_CHARS = 64
# An answer saved more recently than this is being written somewhere (its runner saves a heartbeat
# every second); older, its process died and it no longer counts as the person's running answer.
ANSWER_ALIVE_SECONDS = 5 * HEARTBEAT_SECONDS
ANSWER_IN_PROGRESS_DETAIL = "Another of your answers is still being written. Wait for it or stop it, then send again."


class Action(StrEnum):
    MESSAGE = "message"  # a new user message (`/imagine <prompt>` included)
    REGENERATE = "regenerate"  # the last user message answered again


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
    ip: str | None = None  # the caller's address, for per-address limits
    image_prompt: str | None = None  # an `/imagine` turn whose prompt the channel already read
    search_mode: str | None = None  # None: the account's own setting
    sampling: Sampling | None = None  # `/v1`: the request's overrides of the operator's settings
    api_key: ApiKey | None = None  # `/v1`: the key that sent it
    instructions: str = ""  # `/v1`: the client's own system instructions
    history: Sequence[RequestMessage] = ()  # `/v1`: the whole conversation, ending with the question
    client_tools: ClientTools | None = None  # `/v1`: function tools, and `history` as Llama 3.1 reads it

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


BeforeLaunch = Callable[[TurnStart], Awaitable[None]]


async def start_answer(
    request: TurnRequest, sink: FrameSink, *, before_launch: BeforeLaunch | None = None
) -> AnswerHandle:
    """Admit and store the turn, then launch its answer with `sink` as its listener.

    `before_launch` runs for a new turn before its first frame can exist (a socket joins the
    answer's group there); if a dependency fails in it, the turn is undone so a retry starts afresh."""
    start, turn = await database_sync_to_async(_admit)(request)
    if turn is None:
        return AnswerHandle(start.conversation.pk, start.user_message.pk, start.answer, False, None)
    if before_launch is not None:
        try:
            await before_launch(start)
        except DEPENDENCY_ERRORS:
            if start.created:
                await database_sync_to_async(services.abandon_turn)(start=start)
            raise
    # A person's chats and messages take turns with the model; `/v1` requests do not (programs send
    # them in parallel on purpose, within the API's own rate limit), each is a person of its own.
    person = None if request.channel == Channel.API else request.user.pk
    task = launch(TurnRunner(start.answer.pk, sink, turn=turn, person=person))
    return AnswerHandle(start.conversation.pk, start.user_message.pk, start.answer, start.created, task)


async def answer_in_full(request: TurnRequest) -> AnswerOutcome:
    """The whole answer's outcome, for a channel that replies once (messaging)."""
    sink = CollectorSink()
    handle = await start_answer(request, sink)
    if handle.task is not None:
        return await sink.outcome()
    return await database_sync_to_async(_stored_outcome)(handle.answer.pk)


def policy_for(request: TurnRequest) -> Policy:
    try:
        return POLICIES[(request.channel, request.action)]
    except KeyError:
        raise AssistantError(
            ErrorCode.INVALID_FRAME, f"{request.channel} turns cannot {request.action.value}."
        ) from None


def _admit(request: TurnRequest) -> tuple[TurnStart, Turn | None]:
    """Store the turn, in one trip to the database thread; the turn to run is None when there is
    nothing to generate (a retry whose answer exists or runs elsewhere)."""
    _validate(request)
    policy = policy_for(request)

    def admit() -> None:
        if policy.refusable and assistant_settings().concurrent_answers == "refuse":
            _refuse_while_answering(request.user)
        limits.hit_both(policy.rate_scope, user_id=request.user.pk, ip=request.ip)

    start = _store(request, admit)
    rerun = policy.on_retry is OnRetry.RERUN and start.answer.status == Message.Status.STREAMING
    if not (start.created or rerun):
        return start, None
    turn = load_turn(
        start.answer, sampling=request.sampling, search_mode=request.search_mode, image_prompt=request.image_prompt
    )
    return start, replace(turn, client_tools=request.client_tools)


def _store(request: TurnRequest, admit: Callable[[], None]) -> TurnStart:
    if request.action is Action.REGENERATE:
        admit()  # never a retry: each regeneration is a new answer
        return services.start_regeneration(user=request.user, conversation_id=_conversation_id(request))
    if request.api_key is not None:
        admit()  # `/v1` requests carry no client id: each is a new turn
        return services.start_api_turn(key=request.api_key, instructions=request.instructions, messages=request.history)
    if not request.client_id:
        raise AssistantError(ErrorCode.INVALID_FRAME, "client_id: a message needs the sender's id for it.")
    return services.start_turn(
        user=request.user,
        conversation_id=request.conversation_id,
        text=request.text,
        client_id=request.client_id,
        admit=admit,
    )


def _conversation_id(request: TurnRequest) -> int:
    if request.conversation_id is None:
        raise AssistantError(ErrorCode.INVALID_FRAME, "conversation_id: regenerating needs the conversation.")
    return request.conversation_id


def _validate(request: TurnRequest) -> None:
    """What every channel's request must be, whatever its wire format already checked."""
    texts = [request.text, request.instructions, *(message.content for message in request.history)]
    if any("\x00" in text for text in texts):
        raise AssistantError(ErrorCode.INVALID_FRAME, NUL_REFUSAL)
    if request.client_id is not None and not 1 <= len(request.client_id) <= MAX_CLIENT_ID_CHARS:
        raise AssistantError(ErrorCode.INVALID_FRAME, f"client_id: 1 to {MAX_CLIENT_ID_CHARS} characters.")
    if request.conversation_id is not None and request.conversation_id < 1:
        raise AssistantError(ErrorCode.NOT_FOUND, "That conversation does not exist.")


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
