"""A person's second answer at the door (ASSISTANT_CONCURRENT_ANSWERS=refuse): refused on the web
while another answer of theirs is being written, in any process; never on `/v1`. The model is a
contract fake: a real loopback HTTP server speaking vLLM's wire format (tests/support/fake_openai.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from pytest_django.fixtures import Settings

from assistant.chat import api_keys, services
from assistant.chat.services import RequestMessage
from assistant.door import ANSWER_ALIVE_SECONDS, Action, TurnRequest, start_answer
from assistant.engine import turns
from assistant.engine.capabilities import default_capabilities
from assistant.engine.sinks import QueueSink
from assistant.models import Channel, Message, User
from core.errors import AssistantError, ErrorCode
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def refusing(settings: Settings) -> AsyncIterator[FakeOpenAI]:
    """The `refuse` policy, with a model that answers whatever is let through."""
    async with FakeOpenAI() as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.ASSISTANT_MODEL_TITLES = False
        settings.SAFETY_CHECKS = False  # these tests are about the door, not the guard's verdicts
        settings.ASSISTANT_CONCURRENT_ANSWERS = "refuse"
        default_capabilities.cache_clear()
        yield fake
        await turns.drain(5)
        default_capabilities.cache_clear()


@pytest.fixture
async def person() -> User:
    user = await sync_to_async(services.create_guest)()
    user.is_guest = False  # an account, so it may hold an API key
    await sync_to_async(user.save)()
    return user


async def answering(user: User, *, saved_seconds_ago: float = 0) -> Message:
    """A turn of `user` whose answer is being written (stored as `streaming`, last saved that long ago)."""
    start = await sync_to_async(services.start_turn)(
        user=user, conversation_id=None, text="Tell me a story.", client_id="a"
    )
    saved_at = timezone.now() - dt.timedelta(seconds=saved_seconds_ago)
    await sync_to_async(Message.objects.filter(pk=start.answer.pk).update)(updated_at=saved_at)
    return start.answer


def web_turn(user: User, **fields: object) -> TurnRequest:
    return TurnRequest(channel=Channel.WEB, user=user, text="Name a colour.", client_id="b", **fields)  # type: ignore[arg-type]


@pytest.mark.usefixtures("refusing")
@pytest.mark.parametrize("action", [Action.MESSAGE, Action.REGENERATE])
async def test_a_web_turn_is_refused_while_another_answer_is_written_and_nothing_is_stored(
    person: User, action: Action
) -> None:
    answer = await answering(person)
    conversation_id = answer.conversation_id if action is Action.REGENERATE else None
    with pytest.raises(AssistantError) as refused:
        await start_answer(web_turn(person, action=action, conversation_id=conversation_id), QueueSink())

    assert refused.value.code is ErrorCode.ANSWER_IN_PROGRESS
    assert refused.value.code.http_status == 409
    assert await sync_to_async(Message.objects.count)() == 2


@pytest.mark.usefixtures("refusing")
async def test_an_answer_whose_process_died_refuses_nothing(person: User) -> None:
    await answering(person, saved_seconds_ago=ANSWER_ALIVE_SECONDS + 1)
    handle = await start_answer(web_turn(person), QueueSink())
    assert handle.created


@pytest.mark.usefixtures("refusing")
async def test_another_persons_answer_refuses_nothing(person: User) -> None:
    await answering(await sync_to_async(services.create_guest)())
    handle = await start_answer(web_turn(person), QueueSink())
    assert handle.created


@pytest.mark.usefixtures("refusing")
async def test_api_requests_are_never_refused(person: User) -> None:
    await answering(person)
    key = await sync_to_async(api_keys.create_key)(user=person, name="tests")
    request = TurnRequest(channel=Channel.API, user=person, api_key=key.key, history=[RequestMessage("user", "Hi")])
    sink = QueueSink()
    handle = await start_answer(request, sink)
    frames = [frame async for frame in sink.frames()]

    assert handle.created
    assert frames[-1].finish_reason == "stop"
