"""A photo turn in production: Llama Guard 3 Vision judges the photo with the question, beside the
text guard reading the question and the photo's printed text; both must pass.

Both guards are contract fakes of their vLLM servers (real HTTP servers on loopback:
tests/support/fake_guard.py for Llama Guard 3 on completions, tests/support/fake_vision_guard.py for
Llama Guard 3 Vision on chat completions); the model is the OpenAI contract fake."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from PIL import Image
from pytest_django.fixtures import Settings

from assistant.chat import services
from assistant.door import PHOTO_MARKER, TurnRequest, answer_in_full
from assistant.engine.capabilities import default_capabilities
from assistant.engine.guard_checks import InputCheck, PhotoCheck
from assistant.engine.outcome import AnswerOutcome
from assistant.engine.pipeline import Attachment, AttachmentKind
from assistant.models import Channel, Message, ModerationCase, User
from core.errors import ErrorCode
from safety.llama_guard import S_CATEGORIES
from safety.vision_guard import Photo, VisionGuard
from safety.vllm_guard import VllmGuard
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_vision_guard import FakeVisionGuard

pytestmark = pytest.mark.django_db(transaction=True)

READING = (
    "[Photo, read by OCR: only its printed text and basic facts are known, not what it shows]\n"
    "64×48 pixels, landscape; main colours: green.\nText found in the photo:\nPARK"
)


@dataclass
class Guards:
    text: FakeGuard
    vision: FakeVisionGuard


@pytest.fixture
async def person() -> User:
    return await sync_to_async(services.create_guest)()


@pytest.fixture
async def guards(settings: Settings, model: FakeOpenAI) -> AsyncIterator[Guards]:
    """Production's two guards, failing closed as compose runs them."""
    async with FakeGuard() as text, FakeVisionGuard() as vision:
        settings.SAFETY_CHECKS = True
        settings.SAFETY_FAIL_CLOSED = True
        settings.SAFETY_GUARD_BASE_URL = text.base_url
        settings.SAFETY_VISION_GUARD_BASE_URL = vision.base_url
        yield Guards(text, vision)
        default_capabilities.cache_clear()


def photo() -> Attachment:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buffer, "JPEG")
    return Attachment(
        AttachmentKind.PHOTO, READING, photo_text="PARK", image=buffer.getvalue(), image_type="image/jpeg"
    )


async def test_the_two_guards_judge_at_the_same_time() -> None:
    """Each guard takes 1.5 s: one after the other would take 3 s or more."""
    slow = GuardReply(stall=1.5)
    async with FakeGuard(slow) as text, FakeVisionGuard(slow) as vision:
        text_guard = VllmGuard(text.base_url, model=text.model, categories=S_CATEGORIES)
        judge = VisionGuard(vision.base_url, model=vision.model, categories=S_CATEGORIES).seeing(
            Photo(photo().image, "image/jpeg")
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        check = InputCheck(text_guard, [("user", "Who is this?")], PhotoCheck(judge, "Who is this?"))
        try:
            assert await check.refusal() is None
        finally:
            await text_guard.aclose()
    assert 1.5 <= loop.time() - started < 2.5
    assert (len(text.requests), len(vision.requests)) == (1, 1)


async def send(person: User, client_id: str, caption: str = "Who is this?") -> AnswerOutcome:
    request = TurnRequest.with_attachment(
        photo(), caption=caption, channel=Channel.WHATSAPP, user=person, client_id=client_id
    )
    return await answer_in_full(request)


async def test_a_photo_judged_unsafe_is_refused_and_recorded_as_a_photo(guards: Guards, person: User) -> None:
    guards.vision.script(GuardReply(text="\n\nunsafe\nS4"))

    outcome = await send(person, "unsafe-photo")

    assert outcome.status == Message.Status.BLOCKED
    case = await ModerationCase.objects.select_related("message").aget()
    assert (case.kind, case.categories) == (ModerationCase.Kind.BLOCKED_INPUT, ["S4"])
    assert case.original_text.startswith(f"{PHOTO_MARKER} Who is this?")
    assert (case.message.content, case.message.photo_reading) == (f"{PHOTO_MARKER} Who is this?", READING)
    answer = await Message.objects.aget(role=Message.Role.ASSISTANT)
    assert answer.content == outcome.content  # the refusal, nothing the model wrote


async def test_the_same_photo_judged_safe_is_answered(guards: Guards, person: User, model: FakeOpenAI) -> None:
    outcome = await send(person, "safe-photo")

    assert outcome.status == Message.Status.COMPLETE
    assert outcome.content == "Hello, world!"
    assert not await ModerationCase.objects.aexists()
    [judged] = guards.vision.requests
    assert [picture.size for picture in judged.images] == [(64, 48)]
    assert "\n\nUser: Who is this?\n\n<END CONVERSATION>" in judged.prompt  # the caption, without the marker
    assert "PARK" in guards.text.requests[0].prompt_text  # the printed text, read by the text guard


async def test_both_guards_judge_and_a_refusal_carries_both_verdicts(guards: Guards, person: User) -> None:
    guards.text.script(GuardReply(text="unsafe\nS9"))
    guards.vision.script(GuardReply(text="unsafe\nS4,S9"))

    outcome = await send(person, "both")

    assert outcome.status == Message.Status.BLOCKED
    case = await ModerationCase.objects.aget()
    assert case.categories == ["S9", "S4"]
    assert (len(guards.text.requests), len(guards.vision.requests)) == (1, 1)


async def test_a_vision_guard_that_is_down_refuses_when_the_policy_is_closed(guards: Guards, person: User) -> None:
    guards.vision.script(GuardReply(status=503))

    outcome = await send(person, "down")

    assert (outcome.status, outcome.error_code) == (Message.Status.ERROR, ErrorCode.SAFETY_UNAVAILABLE)
    assert not await ModerationCase.objects.aexists()


async def test_a_vision_guard_that_is_down_lets_the_photo_through_when_the_policy_is_open(
    guards: Guards, person: User, settings: Settings
) -> None:
    settings.SAFETY_FAIL_CLOSED = False
    guards.vision.script(GuardReply(status=503))

    outcome = await send(person, "down-open")

    assert outcome.status == Message.Status.COMPLETE


async def test_without_a_vision_guard_the_photo_is_judged_by_its_text(
    guards: Guards, person: User, settings: Settings
) -> None:
    settings.SAFETY_VISION_GUARD_BASE_URL = ""

    outcome = await send(person, "text-only")

    assert outcome.status == Message.Status.COMPLETE
    assert guards.vision.requests == []
    assert "PARK" in guards.text.requests[0].prompt_text


async def test_a_photo_sent_to_be_edited_is_judged_with_the_instruction(guards: Guards, person: User) -> None:
    guards.vision.script(GuardReply(text="unsafe\nS4"))

    outcome = await send(person, "edit-photo", caption="/imagine edit make it watercolour")

    assert outcome.status == Message.Status.BLOCKED
    assert outcome.image is None  # refused before anything was rendered
    [judged] = guards.vision.requests
    assert "\n\nUser: /imagine edit make it watercolour\n\n<END CONVERSATION>" in judged.prompt
    case = await ModerationCase.objects.aget()
    assert case.categories == ["S4"]
