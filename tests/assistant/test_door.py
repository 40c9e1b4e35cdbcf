"""The one door (`assistant.door`): retries answered past their limits, NUL refused whatever the
channel, messaging answers kept off the channel layer, and titles that pass the same checks as
answers. The model and the guard are contract fakes: real loopback HTTP servers speaking vLLM's
wire formats (tests/support/fake_openai.py, fake_guard.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import InMemoryChannelLayer
from django.core.cache import cache
from pytest_django.fixtures import Settings

from assistant import door, tasks
from assistant.chat import api_keys, services
from assistant.chat.services import RequestMessage
from assistant.door import TurnRequest, answer_in_full, start_answer
from assistant.engine import early, recorder, turns
from assistant.engine.capabilities import default_capabilities
from assistant.engine.outcome import AnswerOutcome, BlockedTurn
from assistant.engine.sinks import ChannelLayerSink, QueueSink
from assistant.models import Channel, Conversation, Message, User
from assistant.web import consumers
from core import limits
from core.errors import AssistantError, ErrorCode
from core.text import NUL_REFUSAL
from safety.guard import content_guard
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)

YEAR = 365 * 24 * 3600


@pytest.fixture
async def fake_model(settings: Settings) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.MODEL_RETRIES = 0
        settings.ASSISTANT_MODEL_TITLES = False
        settings.SAFETY_CHECKS = False  # these tests are about the door, not the guard's verdicts
        default_capabilities.cache_clear()
        yield fake
        await turns.drain(5)  # let runners finish writing before the loop closes
        default_capabilities.cache_clear()


@pytest.fixture
async def guest() -> User:
    return await sync_to_async(services.create_guest)()


class Socket:
    """The browser's side of the chat socket, speaking ASGI to the real consumer."""

    def __init__(self, user: User) -> None:
        scope = {
            "type": "websocket",
            "path": "/ws/chat",
            "headers": [],
            "query_string": b"",
            "user": user,
            "client": ("203.0.113.7", 50000),
        }
        self.asgi = ApplicationCommunicator(consumers.ChatConsumer.as_asgi(), scope)

    async def __aenter__(self) -> Socket:
        await self.asgi.send_input({"type": "websocket.connect"})
        assert (await self.asgi.receive_output(5))["type"] == "websocket.accept"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.asgi.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.asgi.wait(5)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.asgi.send_input({"type": "websocket.receive", "text": json.dumps(frame)})

    async def next(self) -> dict[str, Any]:
        return json.loads((await self.asgi.receive_output(30))["text"])

    async def until_done(self) -> list[dict[str, Any]]:
        frames = [await self.next()]
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(await self.next())
        return frames


async def test_a_retried_message_past_its_limit_is_answered(fake_model: FakeOpenAI, guest: User, settings) -> None:
    # A window of a year: the test cannot straddle two windows (each would allow one message).
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "message_per_user": f"1/{YEAR}"}
    await sync_to_async(cache.clear)()
    message = {"type": "message", "text": "Say hello", "client_id": "first"}
    async with Socket(guest) as socket:
        await socket.send(message)
        answered = await socket.until_done()
        await socket.send(message)  # the page did not see the ack and sends it again
        retried = await socket.until_done()
        await socket.send({**message, "client_id": "second"})
        refused = await socket.next()

    assert (answered[0]["type"], answered[-1]["finish_reason"]) == ("ack", "stop")
    assert retried[0] == answered[0]  # the same turn: the same ids
    assert retried[-1] == answered[-1]
    assert "".join(f["text"] for f in retried if f["type"] == "token") == "Hello, world!"
    assert (refused["type"], refused["code"], refused["client_id"]) == ("error", "rate_limited", "second")
    assert len(fake_model.requests) == 1
    assert await sync_to_async(Message.objects.count)() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"channel": Channel.WEB, "text": "a\x00b", "client_id": "c"},
        {"channel": Channel.TELEGRAM, "text": "\x00", "client_id": "c"},
        {"channel": Channel.API, "history": [RequestMessage("user", "hi\x00")]},
        {"channel": Channel.API, "history": [RequestMessage("user", "hi")], "instructions": "be\x00brief"},
    ],
    ids=["web", "messaging", "api-message", "api-instructions"],
)
async def test_nul_is_refused_at_the_door_whatever_the_channel(guest: User, fields: dict[str, Any]) -> None:
    key = None
    if fields["channel"] == Channel.API:
        guest.is_guest = False
        await sync_to_async(guest.save)()
        key = (await sync_to_async(api_keys.create_key)(user=guest, name="tests")).key
    with pytest.raises(AssistantError) as refused:
        await start_answer(TurnRequest(user=guest, api_key=key, **fields), QueueSink())
    assert (refused.value.code, refused.value.detail) == (ErrorCode.INVALID_FRAME, NUL_REFUSAL)
    assert await sync_to_async(Message.objects.count)() == 0


async def test_a_nul_in_a_socket_frame_is_refused_and_nothing_is_stored(guest: User) -> None:
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "a\x00b", "client_id": "c"})
        error = await socket.next()
    assert (error["type"], error["code"], error["detail"]) == ("error", "invalid_frame", NUL_REFUSAL)
    assert await sync_to_async(Message.objects.count)() == 0


class LayerCalls:
    """Every call an answer makes on the in-memory channel layer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("send", "group_send", "group_add", "group_discard", "new_channel", "receive"):
            monkeypatch.setattr(InMemoryChannelLayer, name, self._recording(name, getattr(InMemoryChannelLayer, name)))

    def _recording(self, name: str, method: Any) -> Any:
        async def call(layer: InMemoryChannelLayer, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(layer, *args, **kwargs)

        return call


async def test_a_messaging_answer_publishes_nothing_to_the_channel_layer(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = LayerCalls(monkeypatch)
    outcome = await answer_in_full(TurnRequest(channel=Channel.WHATSAPP, user=guest, text="Say hello", client_id="m1"))
    assert (outcome.status, outcome.content) == (Message.Status.COMPLETE, "Hello, world!")
    assert layer.calls == []

    # The same answer for a web socket joins and leaves its control group (a stop or a follower on
    # another process reaches it there); it publishes frames to the group only once such a follower asks.
    handle = await start_answer(
        TurnRequest(channel=Channel.WEB, user=guest, text="Say hello", client_id="w1"), ChannelLayerSink()
    )
    await handle.task
    assert {"group_add", "group_discard"} <= set(layer.calls)
    assert "group_send" not in layer.calls


async def test_an_answer_started_at_the_door_is_finished_without_reading_its_conversation_again(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_for: list[int] = []
    read = recorder._place_of
    monkeypatch.setattr(recorder, "_place_of", lambda answer_id: read_for.append(answer_id) or read(answer_id))
    used_before = await sync_to_async(limits.tokens_used_today)(guest.pk)
    outcome = await answer_in_full(TurnRequest(channel=Channel.TELEGRAM, user=guest, text="Say hello", client_id="m1"))
    assert (outcome.status, read_for) == (Message.Status.COMPLETE, [])
    # Its usage counted against its owner's quota all the same.
    used = await sync_to_async(limits.tokens_used_today)(guest.pk) - used_before
    assert used == (outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0) > 0


async def test_a_retried_messaging_turn_is_answered_once_from_what_is_stored(
    fake_model: FakeOpenAI, guest: User
) -> None:
    request = TurnRequest(channel=Channel.TELEGRAM, user=guest, text="Say hello", client_id="tg-1")
    first = await answer_in_full(request)
    again = await answer_in_full(request)
    assert again.content == first.content == "Hello, world!"
    assert len(fake_model.requests) == 1


# --- titles -----------------------------------------------------------------------------------------


@pytest.fixture
def title_servers(settings: Settings) -> Iterator[tuple[FakeOpenAI, FakeGuard]]:
    """The model and the guard, for the title task (which runs its own event loop)."""
    with FakeOpenAI(default=Reply(texts=("Trip", " plans"))) as model, FakeGuard() as guard:
        _serve_with(settings, model, guard, titles=True)
        yield model, guard
        _rebuild_guards()


def _serve_with(settings: Settings, model: FakeOpenAI, guard: FakeGuard, *, titles: bool) -> None:
    """Point the product at the contract fakes, its guards built afresh from these settings."""
    settings.MODEL_BASE_URL = model.base_url
    settings.MODEL_RETRIES = 0
    settings.ASSISTANT_MODEL_TITLES = titles
    settings.SAFETY_CHECKS = True
    settings.SAFETY_GUARD_BASE_URL = guard.base_url
    _rebuild_guards()


def _rebuild_guards() -> None:
    content_guard.cache_clear()
    default_capabilities.cache_clear()


def _answered(user: User, conversation_id: int | None, question: str, outcome: AnswerOutcome) -> Message:
    start = services.start_turn(user=user, conversation_id=conversation_id, text=question, client_id=question[:60])
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    return start.answer


def _complete(text: str) -> AnswerOutcome:
    return AnswerOutcome(status="complete", finish_reason="stop", content=text, frame_ends=[len(text)])


@pytest.mark.parametrize("named_answer", [True, False], ids=["after-its-answer", "task-without-answer-id"])
def test_a_blocked_question_never_reaches_the_title_model(
    title_servers: tuple[FakeOpenAI, FakeGuard], named_answer: bool
) -> None:
    model, _ = title_servers
    user = services.create_guest()
    refusal = "I can't help with that."
    blocked = _answered(
        user,
        None,
        "how do I build a pipe bomb",
        AnswerOutcome(
            status="blocked",
            finish_reason="blocked",
            content=refusal,
            frame_ends=[len(refusal)],
            blocked=BlockedTurn(stage="input", categories=["S9"], original_text="how do I build a pipe bomb"),
        ),
    )
    answer = _answered(user, blocked.conversation_id, "Plan a weekend in Lisbon", _complete("Day one: Alfama."))

    tasks.title_conversation(answer.conversation_id, answer.pk if named_answer else None)

    [request] = model.requests
    prompt = request.prompt_text or ""
    assert "Plan a weekend in Lisbon" in prompt
    assert "pipe bomb" not in prompt
    assert Conversation.objects.get(pk=answer.conversation_id).title == "Trip plans"


def test_a_title_the_output_guard_refuses_is_not_used(title_servers: tuple[FakeOpenAI, FakeGuard]) -> None:
    model, guard = title_servers
    guard.default = GuardReply(text="unsafe\nS10")
    user = services.create_guest()
    answer = _answered(user, None, "Plan a weekend in Lisbon", _complete("Day one: Alfama."))
    provisional = Conversation.objects.get(pk=answer.conversation_id).title

    tasks.title_conversation(answer.conversation_id, answer.pk)

    assert len(model.requests) == 1
    [check] = guard.requests
    assert "Trip plans" in check.prompt_text
    assert Conversation.objects.get(pk=answer.conversation_id).title == provisional


# --- versions: edit and regenerate over the socket -------------------------------------------------


def _said(request: Any) -> list[str]:
    """What the person and the assistant said in a model request, the system prompt left out."""
    return [content.strip() for role, content in request.chatml_messages if role in ("user", "assistant")]


async def test_an_edit_over_the_socket_answers_from_its_own_branch(fake_model: FakeOpenAI, guest: User) -> None:
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "First question", "client_id": "q1"})
        first = (await socket.until_done())[0]
        conversation_id = first["conversation_id"]
        await socket.send({"type": "message", "conversation_id": conversation_id, "text": "Second", "client_id": "q2"})
        await socket.until_done()
        edit = {
            "type": "edit",
            "conversation_id": conversation_id,
            "message_id": first["user_message_id"],
            "text": "First, edited",
            "client_id": "e1",
        }
        await socket.send(edit)
        edited = await socket.until_done()
        await socket.send(edit)  # the page missed the ack and sends it again
        retried = await socket.until_done()

    assert (edited[0]["type"], edited[0]["client_id"], edited[-1]["finish_reason"]) == ("ack", "e1", "stop")
    assert retried[0] == edited[0]
    assert len(fake_model.requests) == 3  # the retry generated nothing
    assert _said(fake_model.requests[1])[-1] == "Second"
    assert _said(fake_model.requests[2]) == ["First, edited"]
    assert await sync_to_async(Message.objects.count)() == 6


async def test_a_regenerated_answer_and_the_chosen_version_continue_the_conversation(
    fake_model: FakeOpenAI, guest: User
) -> None:
    fake_model.script(Reply(texts=("Version one",)), Reply(texts=("Version two",)))
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "Question", "client_id": "q1"})
        first = (await socket.until_done())[0]
        conversation_id = first["conversation_id"]
        await socket.send({"type": "regenerate", "conversation_id": conversation_id})
        await socket.until_done()
        await socket.send({"type": "select_version", "message_id": first["message_id"]})
        selected = await socket.next()
        await socket.send({"type": "message", "conversation_id": conversation_id, "text": "Next", "client_id": "q2"})
        await socket.until_done()

    assert selected == {
        "type": "version_selected",
        "conversation_id": conversation_id,
        "message_id": first["message_id"],
    }
    assert _said(fake_model.requests[2]) == ["Question", "Version one", "Next"]


async def test_version_frames_about_unknown_messages_are_refused(fake_model: FakeOpenAI, guest: User) -> None:
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "Question", "client_id": "q1"})
        ack = (await socket.until_done())[0]
        await socket.send({"type": "select_version", "message_id": 999999})
        unknown = await socket.next()
        edit = {"conversation_id": ack["conversation_id"], "text": "x", "client_id": "e"}
        await socket.send({"type": "edit", "message_id": ack["message_id"], **edit})  # an answer, not a question
        not_a_question = await socket.next()

    assert (unknown["type"], unknown["code"]) == ("error", "not_found")
    assert (not_a_question["code"], not_a_question["client_id"]) == ("not_found", "e")
    assert await sync_to_async(Message.objects.count)() == 2


# --- the first message's input check, started beside storing it ------------------------------------


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[tuple[FakeOpenAI, FakeGuard]]:
    async with FakeOpenAI() as model, FakeGuard() as guard:
        _serve_with(settings, model, guard, titles=False)
        yield model, guard
        await turns.drain(5)
        _rebuild_guards()


def _checks_of(guard: FakeGuard, question: str) -> int:
    """Input checks (Llama Guard asked about the 'User' messages) that read `question`."""
    prompts = [request.prompt_text for request in guard.requests]
    return sum("in 'User' messages" in prompt and question in prompt for prompt in prompts)


def _recording_when_asked(guard: FakeGuard, asked_before_storing: list[bool]) -> Any:
    """door._admit, noting whether the guard was asked about the question once the turn passed its
    limits and before it was stored (waiting up to a second for the request to arrive)."""
    admit = door._admit

    def recording(request: TurnRequest, on_admitted: Any = None) -> Any:
        def admitted() -> None:
            if on_admitted is not None:
                on_admitted()
            deadline = time.monotonic() + 1
            while not _checks_of(guard, request.text) and time.monotonic() < deadline:
                time.sleep(0.005)
            asked_before_storing.append(_checks_of(guard, request.text) > 0)

        return admit(request, admitted)

    return recording


async def test_a_first_message_is_checked_while_it_is_stored_and_only_once(
    guarded: tuple[FakeOpenAI, FakeGuard], guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, guard = guarded
    asked_before_storing: list[bool] = []
    monkeypatch.setattr(door, "_admit", _recording_when_asked(guard, asked_before_storing))
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How tall is Mont Blanc?", "client_id": "first"})
        first = await socket.until_done()
        conversation_id = first[0]["conversation_id"]
        # A follow-up's check reads the conversation, which is known once stored: it starts after.
        await socket.send(
            {"type": "message", "conversation_id": conversation_id, "text": "And K2?", "client_id": "next"}
        )
        follow_up = await socket.until_done()

    assert asked_before_storing == [True, False]
    assert [frames[-1]["finish_reason"] for frames in (first, follow_up)] == ["stop", "stop"]
    # The follow-up's check reads the first question too: two checks read it, one each turn.
    assert (_checks_of(guard, "How tall is Mont Blanc?"), _checks_of(guard, "And K2?")) == (2, 1)


async def test_a_first_message_refused_by_its_early_check_is_blocked(
    guarded: tuple[FakeOpenAI, FakeGuard], guest: User
) -> None:
    _, guard = guarded
    guard.script(GuardReply("unsafe\nS9"))
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How do I build a bomb?", "client_id": "first"})
        frames = await socket.until_done()

    assert frames[-1]["finish_reason"] == "blocked"
    answer = await Message.objects.aget(role=Message.Role.ASSISTANT, conversation__owner=guest)
    assert answer.status == Message.Status.BLOCKED
    assert _checks_of(guard, "How do I build a bomb?") == 1


class _EarlyAnswers:
    """Every early answer the door starts, and which of them a runner took over. `max_wait` replaces the
    door's 50 ms rule, so that a loaded test machine (CI) does not decide whether an answer starts early."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, matches: bool | None = None, max_wait: float = 60.0) -> None:
        monkeypatch.setattr(door, "EARLY_ANSWER_MAX_WAIT_SECONDS", max_wait)
        self.started: list[early.EarlyAnswer] = []
        self.taken: list[early.EarlyAnswer] = []
        start, take = early.EarlyAnswer.__init__, early.EarlyAnswer.taken
        recorder_of = self

        def starting(answer: early.EarlyAnswer, *args: Any, **kwargs: Any) -> None:
            start(answer, *args, **kwargs)
            recorder_of.started.append(answer)

        def taking(answer: early.EarlyAnswer, question_id: int) -> early.StartedAnswer:
            recorder_of.taken.append(answer)
            return take(answer, question_id)

        monkeypatch.setattr(early.EarlyAnswer, "__init__", starting)
        monkeypatch.setattr(early.EarlyAnswer, "taken", taking)
        if matches is not None:
            monkeypatch.setattr(early.EarlyAnswer, "matches", lambda answer, stored: matches)


async def test_a_first_messages_answer_starts_beside_storing_and_is_the_one_streamed(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _EarlyAnswers(monkeypatch)
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How tall is Mont Blanc?", "client_id": "first"})
        first = await socket.until_done()
        await socket.send({"type": "message", "conversation_id": first[0]["conversation_id"], "text": "And K2?",
                           "client_id": "next"})  # fmt: skip
        follow_up = await socket.until_done()

    assert len(answers.started) == 1, "a follow-up reads its conversation, so it cannot start early"
    assert answers.taken == answers.started
    assert len(fake_model.requests) == 2  # one per turn: the early request was the first turn's
    for frames in (first, follow_up):
        assert "".join(f["text"] for f in frames if f["type"] == "token") == "Hello, world!"
    question = await Message.objects.aget(client_id="first", role=Message.Role.USER)
    assert question.token_count is not None  # counted in the early prompt, saved under its stored id


async def test_an_early_answer_the_stored_turn_does_not_ask_for_is_dropped(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _EarlyAnswers(monkeypatch, matches=False)
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How tall is Mont Blanc?", "client_id": "first"})
        frames = await socket.until_done()

    assert "".join(f["text"] for f in frames if f["type"] == "token") == "Hello, world!"
    assert (len(answers.started), answers.taken) == (1, [])
    assert answers.started[0]._task.cancelled()
    assert [request.completed for request in fake_model.requests].count(True) == 1


async def test_a_first_message_refused_after_its_limits_leaves_no_answer_running(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS = 10
    await sync_to_async(limits.record_tokens)(guest.pk, 10)  # the quota is read after the limits
    answers = _EarlyAnswers(monkeypatch)
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How tall is Mont Blanc?", "client_id": "first"})
        refused = await socket.next()
        await asyncio.sleep(0.2)  # what an early answer left running would do by now

    assert (refused["type"], refused["code"]) == ("error", "quota_exceeded")
    assert all(answer._task.done() for answer in answers.started)
    assert not any(request.completed for request in fake_model.requests)
    assert await Message.objects.acount() == 0


async def test_a_first_message_that_waited_to_be_admitted_is_answered_after_storing(
    fake_model: FakeOpenAI, guest: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _EarlyAnswers(monkeypatch, max_wait=-1.0)  # as if it had queued for a database thread
    async with Socket(guest) as socket:
        await socket.send({"type": "message", "text": "How tall is Mont Blanc?", "client_id": "first"})
        frames = await socket.until_done()

    assert answers.started == []
    assert "".join(f["text"] for f in frames if f["type"] == "token") == "Hello, world!"
    assert len(fake_model.requests) == 1
