"""The pipeline against the real embedded model: prompt fitting and streamed events."""

import pytest

from assistant.engine.capabilities import Capabilities
from assistant.engine.llm import ModelGateway
from assistant.engine.pipeline import AnswerEnd, AnswerText, HistoryMessage, PromptReady, Turn, respond
from model_service.chat_formats import ChatMLFormat
from model_service.client import CompletionsClient, ModelEndpoint
from model_service.context import ContextTooLong
from model_service.embedded import bundled_gguf
from model_service.tokens import GgufTokenizer

pytestmark = pytest.mark.live
UNCHECKED = Capabilities()  # the steps tested here; safety and search: test_pipeline_checks.py


def gateway_for(base_url: str, *, window: int, max_tokens: int = 32) -> ModelGateway:
    return ModelGateway(
        client=CompletionsClient(ModelEndpoint(base_url=base_url, model="smollm2-135m-instruct")),
        prompt_format=ChatMLFormat(),
        tokenizer=GgufTokenizer.load(bundled_gguf()),
        context_window=window,
        max_tokens=max_tokens,
        temperature=0.0,
        extra_body={},
    )


def long_history(turns: int) -> list[HistoryMessage]:
    history = []
    for i in range(turns):
        history.append(
            HistoryMessage(id=2 * i + 1, role="user", content=f"Question {i}: " + "word " * 40, token_count=None)
        )
        history.append(HistoryMessage(id=2 * i + 2, role="assistant", content="Answer " * 40, token_count=None))
    history.append(HistoryMessage(id=999, role="user", content="What is two plus two?", token_count=None))
    return history


async def test_old_turns_are_dropped_to_fit_the_window(embedded_model: str) -> None:
    gateway = gateway_for(embedded_model, window=400, max_tokens=32)
    events = [e async for e in respond(Turn(system_prompt="Be brief.", history=long_history(6)), gateway, UNCHECKED)]
    ready = events[0]
    assert isinstance(ready, PromptReady)
    assert ready.dropped_messages > 0
    assert ready.prompt_tokens + 32 <= 400
    assert set(ready.new_token_counts) == {m.id for m in long_history(6)}
    assert any(isinstance(e, AnswerText) for e in events)
    end = events[-1]
    assert isinstance(end, AnswerEnd)
    assert 0 < end.completion_tokens <= 32
    await gateway.client.aclose()


async def test_known_counts_are_not_recounted(embedded_model: str) -> None:
    gateway = gateway_for(embedded_model, window=8192)
    history = [HistoryMessage(id=1, role="user", content="Hi", token_count=7)]
    events = [e async for e in respond(Turn(system_prompt="Be brief.", history=history), gateway, UNCHECKED)]
    assert events[0].new_token_counts == {}
    await gateway.client.aclose()


async def test_a_message_too_long_for_the_window_is_refused(embedded_model: str) -> None:
    gateway = gateway_for(embedded_model, window=64, max_tokens=32)
    history = [HistoryMessage(id=1, role="user", content="word " * 100, token_count=None)]
    with pytest.raises(ContextTooLong):
        [e async for e in respond(Turn(system_prompt="Be brief.", history=history), gateway, UNCHECKED)]
    await gateway.client.aclose()
