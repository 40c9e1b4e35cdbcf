"""The pipeline waits for its turn with the model (assistant/engine/admission.py in front of
`_generate`'s stream): told its place while it waits, its request sent only when a stream ended.

The model is a contract test: vLLM's completions API served by tests/support/fake_openai.py, a real
HTTP server on loopback whose paced replies stand in for a busy GPU server."""

from __future__ import annotations

import asyncio

import pytest

from assistant.engine import admission
from assistant.engine.capabilities import Capabilities
from assistant.engine.llm import ModelGateway
from assistant.engine.pipeline import AnswerEnd, AnswerText, HistoryMessage, PipelineEvent, Queued, Turn, respond
from tests.assistant.test_pipeline import gateway_for
from tests.support.fake_openai import FakeOpenAI, Reply

SLOW = Reply(texts=("Once", " upon", " a", " time"), stall_between=0.3)  # about a second of streaming
QUICK = Reply(texts=("Yes",))


@pytest.fixture
def one_stream_at_a_time(settings) -> None:
    settings.MODEL_MAX_CONCURRENT_STREAMS = 1


async def answer(gateway: ModelGateway, person: str, question: str) -> list[PipelineEvent]:
    """Answer `question` for `person`, as a runner does in its own task."""
    admission.answering_for.set(person)
    turn = Turn(system_prompt="Be brief.", history=[HistoryMessage(1, "user", question, None)])
    return [event async for event in respond(turn, gateway, Capabilities())]


def asked(request_messages: list[tuple[str, str]]) -> str:
    return request_messages[-1][1]


@pytest.mark.usefixtures("one_stream_at_a_time")
async def test_an_answer_waits_while_the_model_is_full_and_is_told_its_place() -> None:
    async with FakeOpenAI(SLOW, default=QUICK) as model:
        gateway = gateway_for(model.base_url, window=4096)
        first = asyncio.create_task(answer(gateway, "ada", "Tell me a story."))
        await model.until_requests(1)
        second = asyncio.create_task(answer(gateway, "bo", "Is it raining?"))
        requests = await asyncio.wait_for(model.until_requests(2), 10)
        sent_before_second = requests[0].texts_sent
        first_events, second_events = await asyncio.gather(first, second)
        await gateway.client.aclose()

    assert sent_before_second == len(SLOW.texts)  # the second request waited for the whole first stream
    assert not any(isinstance(event, Queued) for event in first_events)
    shown = [event for event in second_events if isinstance(event, Queued | AnswerText | AnswerEnd)]
    assert shown == [Queued(1), AnswerText("Yes"), AnswerEnd("stop", 1)]


@pytest.mark.usefixtures("one_stream_at_a_time")
async def test_an_answer_stopped_while_waiting_never_reaches_the_model() -> None:
    async with FakeOpenAI(SLOW, default=QUICK) as model:
        gateway = gateway_for(model.base_url, window=4096)
        first = asyncio.create_task(answer(gateway, "ada", "Tell me a story."))
        await model.until_requests(1)
        stopped = asyncio.create_task(answer(gateway, "bo", "Is it raining?"))
        later = asyncio.create_task(answer(gateway, "cy", "Is it sunny?"))
        await asyncio.sleep(0.1)  # both wait behind the story
        stopped.cancel()
        await asyncio.gather(first, later)
        await gateway.client.aclose()

    assert stopped.cancelled()
    assert [asked(request.chatml_messages) for request in model.requests] == ["Tell me a story.", "Is it sunny?"]
    assert admission.admission_queue().waiting() == 0
