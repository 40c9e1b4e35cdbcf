"""The pipeline's safety and grounding steps against the real embedded model.

The guard is vLLM's completions API served by the Llama Guard contract fake (a real HTTP server on
loopback: production's guard needs a GPU); pages come from the loopback web server (a contract test
for the web)."""

import asyncio
import re
from collections.abc import Sequence

import pytest

from assistant.engine.capabilities import Capabilities
from assistant.engine.guard_checks import SafetyUnavailable
from assistant.engine.llm import ModelGateway
from assistant.engine.pipeline import (
    AnswerEnd,
    AnswerText,
    Blocked,
    HistoryMessage,
    PromptReady,
    SearchDone,
    SearchStarted,
    Turn,
    respond,
)
from model_service.chat_formats import Llama3Format
from model_service.client import CompletionsClient, ModelEndpoint
from model_service.tokens import llama3_tokenizer
from safety.guard import PolicyGuard
from safety.vllm_guard import VllmGuard
from search.math import solve
from search.service import gather
from search.sources import SearchOutcome
from tests.assistant.test_pipeline import gateway_for
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.fake_web import FakeWeb, Result
from tests.support.processes import free_port

pytestmark = pytest.mark.live

QUESTION = "Tell me about the harbour."


def turn(text: str = QUESTION, search_mode: str = "off") -> Turn:
    return Turn(system_prompt="Be brief.", history=[HistoryMessage(1, "user", text, None)], search_mode=search_mode)


def guard_at(base_url: str, *, fail_closed: bool = False) -> PolicyGuard:
    inner = VllmGuard(base_url, model="llama-guard-3-1b", categories=("S1", "S9", "S10"), api_key="", timeout=2.0)
    return PolicyGuard(inner, fail_closed=fail_closed)


async def events_of(turn: Turn, embedded_model: str, capabilities: Capabilities) -> list:
    gateway = gateway_for(embedded_model, window=4096, max_tokens=24)
    try:
        return [event async for event in respond(turn, gateway, capabilities)]
    finally:
        await gateway.client.aclose()


async def test_an_unsafe_question_is_refused_before_anything_of_the_answer_is_used(embedded_model: str) -> None:
    async with FakeGuard(GuardReply("unsafe\nS9")) as fake:
        events = await events_of(turn(), embedded_model, Capabilities(guard=guard_at(fake.base_url)))
    assert events == [Blocked("input", ("S9",), QUESTION)]
    assert len(fake.requests) == 1
    assert "ONLY THE LAST User message" in fake.requests[0].prompt_text


async def test_the_model_reads_the_prompt_while_the_guard_reads_the_question() -> None:
    # A guard slower than the model's first token: the model was asked before the verdict came,
    # and its text waits for the verdict (here a refusal, so none of it is used).
    slow_refusal = GuardReply("unsafe\nS9", stall=0.5)
    async with FakeGuard(slow_refusal) as guard, FakeOpenAI(Reply(texts=("Bread", " is", " old."))) as model:
        gateway = ModelGateway(
            client=CompletionsClient(ModelEndpoint(base_url=model.base_url, model="fake")),
            prompt_format=Llama3Format(),
            tokenizer=llama3_tokenizer(),
            context_window=4096,
            max_tokens=24,
            temperature=0.0,
            extra_body={},
        )
        try:
            events = [event async for event in respond(turn(), gateway, Capabilities(guard=guard_at(guard.base_url)))]
        finally:
            await gateway.client.aclose()
        assert events == [Blocked("input", ("S9",), QUESTION)]
        assert len(model.requests) == 1


async def test_a_question_is_checked_before_a_search_sends_it_anywhere(embedded_model: str) -> None:
    class RecordingSearch:
        def __init__(self) -> None:
            self.queries: list[str] = []

        async def search(self, query: str, urls: Sequence[str], question: str = "") -> SearchOutcome:
            self.queries.append(query)
            return SearchOutcome(query, sources=[])

        async def solve(self, query: str) -> str:
            return await solve(query)

    web = RecordingSearch()
    async with FakeGuard(GuardReply("unsafe\nS9", stall=0.2)) as fake:
        capabilities = Capabilities(guard=guard_at(fake.base_url), web=web)
        events = await events_of(turn("What is the latest news today?", "auto"), embedded_model, capabilities)
    assert events == [Blocked("input", ("S9",), "What is the latest news today?")]
    assert web.queries == []


async def test_an_unsafe_answer_is_stopped_and_reported(embedded_model: str) -> None:
    async with FakeGuard(GuardReply("safe"), GuardReply("unsafe\nS1")) as fake:
        events = await events_of(turn(), embedded_model, Capabilities(guard=guard_at(fake.base_url)))
    assert isinstance(events[0], PromptReady)
    blocked = events[-1]
    assert isinstance(blocked, Blocked)
    assert (blocked.stage, blocked.categories) == ("output", ("S1",))
    assert blocked.text == "".join(e.text for e in events if isinstance(e, AnswerText))
    assert not any(isinstance(e, AnswerEnd) for e in events)
    assert "ONLY THE LAST Agent message" in fake.requests[-1].prompt_text


async def test_a_safe_answer_is_checked_and_ends_normally(embedded_model: str) -> None:
    async with FakeGuard(default=GuardReply("safe")) as fake:
        events = await events_of(turn(), embedded_model, Capabilities(guard=guard_at(fake.base_url)))
    assert isinstance(events[-1], AnswerEnd)
    assert len(fake.requests) >= 2  # the question, then at least the whole answer


async def test_a_guard_that_is_down_refuses_when_failing_closed(embedded_model: str) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(SafetyUnavailable):
        await events_of(turn(), embedded_model, Capabilities(guard=guard_at(nobody, fail_closed=True)))


async def test_a_guard_that_is_down_lets_answers_through_when_failing_open(embedded_model: str) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    events = await events_of(turn(), embedded_model, Capabilities(guard=guard_at(nobody, fail_closed=False)))
    assert isinstance(events[-1], AnswerEnd)


class InProcessSearch:
    """The search package's own entry point, run in this process (the worker runs the same call)."""

    async def search(self, query: str, urls: Sequence[str], question: str = "") -> SearchOutcome:
        return await asyncio.to_thread(gather, query, urls=urls, max_sources=3, question=question)

    async def solve(self, query: str) -> str:
        return await asyncio.to_thread(solve, query)


ARTICLE = """<html><head><title>Harbour news</title></head><body><nav>Home | About</nav>
<article><h1>The harbour reopens</h1><p>The old harbour of Port Vell reopened on Monday after two years
of repairs, the city council said. Ferries to the islands resume next week.</p>
<p>Repairs cost 40 million euros and replaced the breakwater.</p></article><footer>(c) News</footer></body></html>"""


async def test_a_shared_link_grounds_the_answer_and_citations_are_checked(embedded_model: str, settings) -> None:
    with FakeWeb() as web:
        settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
        link = web.add("/harbour", ARTICLE)
        question = f"What happened at {link} ?"
        events = await events_of(
            turn(question, search_mode="auto"), embedded_model, Capabilities(web=InProcessSearch())
        )
    started, done = events[0], events[1]
    assert started == SearchStarted(query="", urls=(link,))
    assert isinstance(done, SearchDone)
    assert [s.url for s in done.outcome.sources] == [link]
    assert "40 million euros" in done.outcome.sources[0].text
    assert isinstance(events[-1], AnswerEnd)
    answer = "".join(e.text for e in events if isinstance(e, AnswerText))
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert set(events[-1].invalid_citations) == cited - {1}  # one source: only [1] is a citation


async def test_search_off_fetches_nothing(embedded_model: str, settings) -> None:
    with FakeWeb() as web:
        settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
        link = web.add("/harbour", ARTICLE)
        events = await events_of(
            turn(f"What is at {link}?", search_mode="off"), embedded_model, Capabilities(web=InProcessSearch())
        )
        assert web.seen("/harbour") == []
    assert not any(isinstance(e, SearchStarted | SearchDone) for e in events)


def llama_gateway(base_url: str) -> ModelGateway:
    return ModelGateway(
        client=CompletionsClient(ModelEndpoint(base_url=base_url, model="fake-model")),
        prompt_format=Llama3Format(),
        tokenizer=llama3_tokenizer(),
        context_window=8192,
        max_tokens=64,
        temperature=0.0,
        extra_body={},
        builtin_tools=True,
    )


async def test_llama_31_decides_to_search_with_its_builtin_tool(settings) -> None:
    """Contract test: the vLLM server is the OpenAI-compatible fake (a Llama 3.1 needs a GPU)."""
    with FakeWeb() as web:
        settings.SEARCH_PROVIDER = "searxng"
        settings.SEARCH_SEARXNG_URL = web.url("/searxng")
        settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
        settings.SEARCH_CACHE_SECONDS = 0
        web.results = [Result("Harbour news", web.add("/harbour", ARTICLE), "The harbour reopens")]
        tool_call = Reply(texts=["brave", '_search.call(query="', "Port Vell harbour", '")'])
        answer = Reply(texts=["It reopened on Monday [1]", " after repairs [3]."])
        async with FakeOpenAI(tool_call, answer, detokenize=llama3_tokenizer().decode) as fake:
            gateway = llama_gateway(fake.base_url)
            events = [
                e
                async for e in respond(
                    turn("Is the harbour open?", "auto"), gateway, Capabilities(web=InProcessSearch())
                )
            ]
            await gateway.client.aclose()
    shown = "".join(e.text for e in events if isinstance(e, AnswerText))
    assert shown == "It reopened on Monday [1] after repairs [3]."  # the call itself is never shown
    assert SearchStarted(query="Port Vell harbour", urls=()) in events
    done = next(e for e in events if isinstance(e, SearchDone))
    assert [s.title for s in done.outcome.sources] == ["Harbour news"]
    assert events[-1].invalid_citations == [3]
    first, second = (r.prompt_text or "" for r in fake.requests)
    assert "<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, wolfram_alpha\n" in first
    call = '<|python_tag|>brave_search.call(query="Port Vell harbour")<|eom_id|><|start_header_id|>ipython'
    assert call in second
    assert "40 million euros" in second.split("<|start_header_id|>ipython")[1]


async def test_an_answer_that_only_looks_like_a_call_at_first_is_shown_whole() -> None:
    async with FakeOpenAI(Reply(texts=["brave", " new world is a novel."])) as fake:
        gateway = llama_gateway(fake.base_url)
        events = [e async for e in respond(turn("Name a novel.", "auto"), gateway, Capabilities(web=InProcessSearch()))]
        await gateway.client.aclose()
    assert "".join(e.text for e in events if isinstance(e, AnswerText)) == "brave new world is a novel."
    assert len(fake.requests) == 1


async def test_llama_31_math_goes_to_the_local_exact_evaluator() -> None:
    tool_call = Reply(texts=['wolfram_alpha.call(query="integrate x^2 dx")'])
    async with FakeOpenAI(tool_call, Reply(texts=["It is x³/3 + C."]), detokenize=llama3_tokenizer().decode) as fake:
        gateway = llama_gateway(fake.base_url)
        events = [
            e async for e in respond(turn("Integrate x squared.", "auto"), gateway, Capabilities(web=InProcessSearch()))
        ]
        await gateway.client.aclose()
    assert "".join(e.text for e in events if isinstance(e, AnswerText)) == "It is x³/3 + C."
    assert not any(isinstance(e, SearchStarted) for e in events)  # math is not a web search
    tool_answer = (fake.requests[1].prompt_text or "").split("<|start_header_id|>ipython<|end_header_id|>")[1]
    assert "x**3/3" in tool_answer
