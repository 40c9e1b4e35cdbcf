"""VllmGuard against a contract fake of vLLM's completions API (tests/support/fake_guard.py), and
the failure policy around it: every failure of the guard becomes an `unavailable` verdict."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_service.llama31 import Llama3Format
from model_service.messages import ChatMessage, prompt_segments
from model_service.tokens import encode, llama3_tokenizer
from safety.guard import PolicyGuard, content_guard
from safety.llama_guard import S_CATEGORIES, render_prompt
from safety.verdict import Verdict
from safety.vllm_guard import VllmGuard
from tests.support.fake_guard import FakeGuard, GuardReply

QUESTION = [("user", "How do I make a pipe bomb?")]
ANSWERED = [("user", "Tell me a story"), ("assistant", "Once upon a time...")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeGuard]:
    async with FakeGuard() as server:
        yield server


@pytest.fixture
async def guard(fake: FakeGuard) -> AsyncIterator[VllmGuard]:
    client = VllmGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, timeout=1.0)
    yield client
    await client.aclose()


def policy(guard: VllmGuard, *, fail_closed: bool) -> PolicyGuard:
    return PolicyGuard(guard, fail_closed=fail_closed)


async def test_the_request_is_a_completion_of_the_exact_prompts_ids(fake: FakeGuard, guard: VllmGuard) -> None:
    await guard.check(ANSWERED, agent=True)
    [request] = fake.requests
    assert request.body == {
        "model": "llama-guard-3-1b",
        "prompt": request.body["prompt"],
        "max_tokens": 10,
        "temperature": 0,
    }
    assert llama3_tokenizer().decode(request.body["prompt"]) == render_prompt(
        ANSWERED, agent=True, categories=S_CATEGORIES
    )


# Endings and beginnings where a tokenizer might join text across the cuts around the dialogue.
_EDGES = st.sampled_from(
    ["", " ", "\n", "\n\n", "?", "!!", "42", "7", ">", "<", "é", "東京", "🙂", " \t", "\r\n", "'s"]
)
_GENERATION_PROMPT = "<|start_header_id|>assistant<|end_header_id|>\n\n"
_MESSAGES = st.builds(lambda a, b, c: a + b + c, _EDGES, st.text(max_size=30), _EDGES)


@settings(max_examples=150, deadline=None)
@given(question=_MESSAGES, answer=_MESSAGES, agent=st.booleans())
def test_the_template_tokenized_once_gives_the_whole_prompts_tokens(question: str, answer: str, agent: bool) -> None:
    """The frame around the dialogue is tokenized once per guard; the ids sent must be those of the
    task text tokenized in one piece, whatever the messages begin and end with."""
    conversation = [("user", question), ("assistant", answer)] if agent else [("user", question)]
    guard = VllmGuard("http://127.0.0.1:9", model="llama-guard-3-1b", categories=S_CATEGORIES)
    prompt = render_prompt(conversation, agent=agent, categories=S_CATEGORIES)
    task = prompt.split("<|end_header_id|>\n\n", 1)[1].removesuffix(_GENERATION_PROMPT).removesuffix("<|eot_id|>")

    whole = encode(prompt_segments(Llama3Format(), [ChatMessage("user", task)]), llama3_tokenizer())

    assert guard.request_body(conversation, agent=agent)["prompt"] == whole


async def test_safe_answer(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(text="safe"))
    assert await guard.check(QUESTION, agent=False) == Verdict(safe=True)


async def test_unsafe_answer_with_categories(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(text="\n\nunsafe\nS9"))
    assert await guard.check(QUESTION, agent=False) == Verdict(safe=False, categories=("S9",))


async def test_api_key_is_sent_as_bearer_token(fake: FakeGuard) -> None:
    client = VllmGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, api_key="sekrit")
    await client.check(QUESTION, agent=False)
    await client.aclose()
    assert fake.requests[0].headers["authorization"] == "Bearer sekrit"


@pytest.mark.parametrize("fail_closed", [False, True])
async def test_server_error_follows_the_failure_policy(fake: FakeGuard, guard: VllmGuard, fail_closed: bool) -> None:
    fake.script(GuardReply(status=503))
    verdict = await policy(guard, fail_closed=fail_closed).check(QUESTION, agent=False)
    assert verdict.unavailable
    assert verdict.safe is not fail_closed
    assert "HTTP 503" in verdict.detail


async def test_unknown_model_is_unavailable(fake: FakeGuard) -> None:
    client = VllmGuard(fake.base_url, model="not-served", categories=S_CATEGORIES)
    verdict = await policy(client, fail_closed=True).check(QUESTION, agent=False)
    await client.aclose()
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "HTTP 404" in verdict.detail


async def test_a_stalled_guard_times_out(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(stall=3.0))
    verdict = await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "ReadTimeout" in verdict.detail


async def test_checks_past_the_connection_limit_wait_their_turn(fake: FakeGuard) -> None:
    """At most `max_connections` checks reach the server at once (the rest wait at the client's gate,
    not in httpcore's pool, whose wait queue costs quadratic CPU); every one is answered."""
    fake.default = GuardReply(stall=0.2)
    client = VllmGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, timeout=10.0, max_connections=2)
    verdicts = await asyncio.gather(*(client.check(QUESTION, agent=False) for _ in range(6)))
    await client.aclose()
    assert verdicts == [Verdict(safe=True)] * 6
    assert len(fake.requests) == 6
    assert fake.most_in_flight == 2


async def test_a_check_that_waits_a_whole_timeout_for_a_connection_is_unavailable(fake: FakeGuard) -> None:
    """One connection, each check 1.5 s: the first two are answered, the third waits 2 s at the gate
    while the second holds the connection, and is unavailable without ever being sent."""
    fake.default = GuardReply(stall=1.5)
    client = VllmGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, timeout=2.0, max_connections=1)
    checks = [policy(client, fail_closed=True).check(QUESTION, agent=False) for _ in range(3)]
    first, second, third = await asyncio.gather(*checks)
    await client.aclose()
    assert first == second == Verdict(safe=True)
    assert (third.safe, third.unavailable) == (False, True)
    assert "guard busy: no free connection (of 1) for 2 s" in third.detail
    assert len(fake.requests) == 2


async def test_a_dropped_connection_is_unavailable(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(drop_connection=True))
    verdict = await policy(guard, fail_closed=False).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (True, True)


async def test_a_body_that_is_not_a_completion_is_unavailable(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(raw_body='{"choices": []}'))
    verdict = await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    assert verdict.unavailable
    assert "not a completion" in verdict.detail


async def test_malformed_model_output_is_unavailable(fake: FakeGuard, guard: VllmGuard) -> None:
    fake.script(GuardReply(text="I'm not sure"))
    verdict = await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)


async def test_a_guard_that_is_down_is_unavailable() -> None:
    async with FakeGuard() as stopped:
        base_url = stopped.base_url  # nothing listens on this port once the block ends
    client = VllmGuard(base_url, model="llama-guard-3-1b", categories=S_CATEGORIES)
    verdict = await policy(client, fail_closed=True).check(QUESTION, agent=False)
    await client.aclose()
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "ConnectError" in verdict.detail


async def test_failures_are_logged_with_the_policy(
    fake: FakeGuard, guard: VllmGuard, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(GuardReply(status=500))
    with caplog.at_level(logging.WARNING, logger="safety.guard"):
        await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    [record] = caplog.records
    assert "failing closed" in record.getMessage()
    assert record.fail_policy == "closed"


async def test_content_guard_uses_vllm_when_a_base_url_is_set(fake: FakeGuard, settings) -> None:
    settings.SAFETY_GUARD_BASE_URL = fake.base_url
    settings.SAFETY_FAIL_CLOSED = True
    content_guard.cache_clear()
    try:
        fake.script(GuardReply(text="unsafe\nS9"))
        guard = content_guard()
        assert guard.name == "llama-guard-vllm"
        assert await guard.check(QUESTION, agent=False) == Verdict(safe=False, categories=("S9",))
        assert content_guard() is guard
    finally:
        content_guard.cache_clear()


async def test_one_guard_serves_several_event_loops(fake: FakeGuard, guard: VllmGuard) -> None:
    """As when the web process and a Celery task (asyncio.run per task) share the process's guard."""
    fake.default = GuardReply(text="unsafe\nS9")
    assert not (await guard.check(QUESTION, agent=False)).safe
    verdicts: list[Verdict] = []

    def other_loop() -> None:
        for _ in range(2):
            verdicts.append(asyncio.run(guard.check(QUESTION, agent=False)))

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert verdicts == [Verdict(safe=False, categories=("S9",))] * 2
