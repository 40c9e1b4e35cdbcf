"""Contract test: VisionGuard against a fake of vLLM serving Llama Guard 3 Vision through the chat
completions API (tests/support/fake_vision_guard.py, a real HTTP server on loopback), and the failure
policy around it: every failure of the vision guard becomes an `unavailable` verdict."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from safety.guard import PolicyGuard
from safety.llama_guard import S_CATEGORIES
from safety.verdict import GuardUnavailable, Verdict
from safety.vision_guard import Photo, VisionGuard, vision_task
from tests.support.fake_guard import GuardReply
from tests.support.fake_vision_guard import FakeVisionGuard, served_prompt

QUESTION = [("user", "Who is this?")]


def jpeg(colour: str = "red") -> Photo:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return Photo(buffer.getvalue(), "image/jpeg")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVisionGuard]:
    async with FakeVisionGuard() as server:
        yield server


@pytest.fixture
def guard(fake: FakeVisionGuard) -> VisionGuard:
    return VisionGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, timeout=1.0)


def policy(guard: VisionGuard, *, fail_closed: bool) -> PolicyGuard:
    return PolicyGuard(guard.seeing(jpeg()), fail_closed=fail_closed)


async def test_the_request_carries_the_photo_and_the_task_as_the_server_reads_them(
    fake: FakeVisionGuard, guard: VisionGuard
) -> None:
    photo = jpeg("blue")
    await guard.check(photo, QUESTION, agent=False)

    [request] = fake.requests
    assert request.path == "/v1/chat/completions"
    assert {key: request.body[key] for key in ("model", "max_tokens", "temperature")} == {
        "model": "llama-guard-3-11b-vision",
        "max_tokens": 10,
        "temperature": 0,
    }
    [picture] = request.images
    assert (picture.size, picture.getpixel((32, 24))[2] > 200) == ((64, 48), True)  # the photo sent, blue
    task = vision_task(QUESTION, agent=False, categories=S_CATEGORIES)
    as_read = [{"type": "image"}, {"type": "text", "text": task}]  # vLLM's `openai` content format
    assert request.prompt == served_prompt([{"role": "user", "content": as_read}])
    assert request.prompt.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|> Task:")
    assert "\n\nUser: Who is this?\n\n<END CONVERSATION>" in request.prompt


async def test_safe(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(text="\n\nsafe"))
    assert await guard.check(jpeg(), QUESTION, agent=False) == Verdict(safe=True)


async def test_unsafe_with_its_category(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(text="\n\nunsafe\nS4"))
    assert await guard.check(jpeg(), QUESTION, agent=False) == Verdict(safe=False, categories=("S4",))


async def test_a_code_outside_the_vision_taxonomy_is_not_a_refusal(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(text="unsafe\nS14"))
    verdict = await guard.check(jpeg(), QUESTION, agent=False)
    assert (verdict.safe, verdict.detail) == (True, "flagged only for unchecked categories S14")


async def test_the_api_key_is_sent_as_a_bearer_token(fake: FakeVisionGuard) -> None:
    client = VisionGuard(fake.base_url, model=fake.model, categories=S_CATEGORIES, api_key="sekrit")
    await client.check(jpeg(), QUESTION, agent=False)
    assert fake.requests[0].headers["authorization"] == "Bearer sekrit"


async def test_malformed_output_is_no_verdict(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(text="The image shows a cat."))
    with pytest.raises(GuardUnavailable, match="not a verdict"):
        await guard.check(jpeg(), QUESTION, agent=False)


@pytest.mark.parametrize("fail_closed", [False, True])
async def test_a_server_error_follows_the_failure_policy(
    fake: FakeVisionGuard, guard: VisionGuard, fail_closed: bool
) -> None:
    fake.script(GuardReply(status=500))
    verdict = await policy(guard, fail_closed=fail_closed).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (not fail_closed, True)
    assert "HTTP 500" in verdict.detail


async def test_a_slow_guard_times_out(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(stall=3.0))
    verdict = await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "ReadTimeout" in verdict.detail


async def test_a_dropped_connection_is_unavailable(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    fake.script(GuardReply(drop_connection=True))
    verdict = await policy(guard, fail_closed=False).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (True, True)


@pytest.mark.parametrize("body", ['{"choices": []}', '{"choices": [{"message": {"content": null}}]}', "not json"])
async def test_a_body_that_is_not_a_chat_completion_is_unavailable(
    fake: FakeVisionGuard, guard: VisionGuard, body: str
) -> None:
    fake.script(GuardReply(raw_body=body))
    verdict = await policy(guard, fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "vision guard reply" in verdict.detail


async def test_an_unknown_model_is_unavailable(fake: FakeVisionGuard) -> None:
    client = VisionGuard(fake.base_url, model="not-served", categories=S_CATEGORIES)
    verdict = await PolicyGuard(client.seeing(jpeg()), fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "HTTP 404" in verdict.detail


async def test_a_guard_that_is_down_is_unavailable() -> None:
    async with FakeVisionGuard() as stopped:
        base_url = stopped.base_url  # nothing listens on this port once the block ends
    client = VisionGuard(base_url, model="llama-guard-3-11b-vision", categories=S_CATEGORIES)
    verdict = await PolicyGuard(client.seeing(jpeg()), fail_closed=True).check(QUESTION, agent=False)
    assert (verdict.safe, verdict.unavailable) == (False, True)
    assert "ConnectError" in verdict.detail


async def test_the_fake_refuses_two_photos_as_vllm_does(fake: FakeVisionGuard, guard: VisionGuard) -> None:
    """Control for the contract: the fake checks what the served vLLM would (`--limit-mm-per-prompt`)."""
    body = guard.request_body(jpeg(), QUESTION, agent=False)
    [message] = body["messages"]  # type: ignore[misc]
    message["content"].insert(0, message["content"][0])
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        response = await http.post("/chat/completions", json=body)
    assert response.status_code == 400
    assert "At most 1 image" in response.json()["message"]
