"""Photos for a vision model (MODEL_VISION_BASE_URL), and a photo's reading carried to later turns.

The vision model is a contract fake of vLLM serving Llama 3.2 Vision with the project's chat template
(a real HTTP server on loopback, tests/support/loopback.py): it checks the chat request as vLLM does
(content parts, one image per prompt, an `image_url` that decodes as a picture, `stream: true`),
renders the messages with the template the preset starts vLLM with and tokenizes the result as vLLM
does, so a test can compare the ids the project counted with the ids the server would run."""

from __future__ import annotations

import base64
import codecs
import functools
import io
from collections.abc import AsyncIterator
from typing import Any

import jinja2.sandbox
import pytest
from asgiref.sync import sync_to_async
from PIL import Image
from pytest_django.fixtures import Settings
from tokenizers import Tokenizer as HfTokenizer

from assistant.chat import services
from assistant.door import PHOTO_MARKER, TurnRequest, answer_in_full
from assistant.engine.grounding import PHOTO_PREAMBLE, PHOTO_SEEN_PREAMBLE
from assistant.engine.pipeline import Attachment, AttachmentKind
from assistant.models import Channel, Message, User
from model_service.chat_formats import LLAMA32_VISION_CHAT_TEMPLATE
from model_service.tokens import llama3_tokenizer_path
from tests.support.fake_openai import FakeOpenAI
from tests.support.loopback import Exchange

pytestmark = pytest.mark.django_db(transaction=True)

VISION_MODEL = "llama-3.2-11b-vision-instruct"
READING = (
    "[Photo, read by OCR: only its printed text and basic facts are known, not what it shows]\n"
    "64×48 pixels, landscape; main colours: red.\nText found in the photo:\nTAXI 42"
)


class InvalidRequest(Exception):
    """What vLLM answers with a 400 before it runs anything."""


@functools.cache
def _template() -> jinja2.Template:
    return jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(
        codecs.decode(LLAMA32_VISION_CHAT_TEMPLATE, "unicode_escape")  # as vLLM loads an inline template
    )


@functools.cache
def _tokenizer() -> HfTokenizer:
    return HfTokenizer.from_file(str(llama3_tokenizer_path()))  # special tokens parsed, as vLLM does


class FakeVisionServer(FakeOpenAI):
    """vLLM with `--limit-mm-per-prompt {"image":1}` and the project's chat template. `images` holds
    each accepted request's decoded pictures, `served_ids` the ids its rendered prompt runs as."""

    def __init__(self) -> None:
        super().__init__(model=VISION_MODEL)
        self.images: list[list[Image.Image]] = []
        self.served_ids: list[list[int]] = []

    async def fallback(self, exchange: Exchange) -> None:
        body = exchange.json_or_text()
        if exchange.path == "/v1/chat/completions":
            try:
                images, messages = _read_chat_request(body)
            except InvalidRequest as invalid:
                await exchange.respond_json(400, {"object": "error", "message": str(invalid), "code": 400})
                return
            self.images.append(images)
            prompt = _template().render(messages=messages, add_generation_prompt=True)
            self.served_ids.append(_tokenizer().encode(prompt, add_special_tokens=False).ids)
        await super().fallback(exchange)


def _read_chat_request(body: Any) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    """The request's pictures, and its messages as the chat template reads them (`openai` format)."""
    if not isinstance(body, dict) or body.get("stream") is not True or body.get("model") != VISION_MODEL:
        raise InvalidRequest("a streamed request for the served model")
    images: list[Image.Image] = []
    messages = []
    for message in body.get("messages") or []:
        content = message["content"]
        if not isinstance(content, str):
            content = [_part(part, images) for part in content]
        messages.append({"role": message["role"], "content": content})
    if len(images) > 1:
        raise InvalidRequest("At most 1 image(s) may be provided in one request.")
    return images, messages


def _part(part: dict[str, Any], images: list[Image.Image]) -> dict[str, Any]:
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return part
    if part.get("type") != "image_url":
        raise InvalidRequest(f"unknown content part {part.get('type')!r}")
    header, _, data = part["image_url"]["url"].partition(",")
    if not (header.startswith("data:image/") and header.endswith(";base64")):
        raise InvalidRequest("image_url: a base64 data URL of an image")
    picture = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    picture.load()
    images.append(picture)
    return {"type": "image"}


@pytest.fixture
async def vision(settings: Settings, model: FakeOpenAI) -> AsyncIterator[FakeVisionServer]:
    async with FakeVisionServer() as fake:
        settings.MODEL_VISION_BASE_URL = fake.base_url
        settings.MODEL_VISION_NAME = VISION_MODEL
        yield fake


@pytest.fixture
async def person() -> User:
    return await sync_to_async(services.create_guest)()


def red_car_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 20, 20)).save(out, format="PNG")
    return out.getvalue()


def photo(image: bytes = b"") -> Attachment:
    return Attachment(
        AttachmentKind.PHOTO, READING, photo_text="TAXI 42", image=image, image_type="image/png" if image else ""
    )


def sent(
    person: User,
    client_id: str,
    *,
    text: str = "",
    attachment: Attachment | None = None,
    conversation_id: int | None = None,
) -> TurnRequest:
    fields: dict[str, Any] = {
        "channel": Channel.WHATSAPP,
        "user": person,
        "client_id": client_id,
        "conversation_id": conversation_id,
    }
    if attachment is None:
        return TurnRequest(text=text, **fields)
    return TurnRequest.with_attachment(attachment, caption=text, **fields)


async def test_a_photo_goes_to_the_vision_model_as_an_image_part(
    model: FakeOpenAI, vision: FakeVisionServer, person: User
) -> None:
    image = red_car_png()
    outcome = await answer_in_full(sent(person, "p1", attachment=photo(image), text="What colour is the car?"))

    assert outcome.status == Message.Status.COMPLETE
    assert outcome.content == "Hello, world!"
    assert model.requests == []  # the main model is not asked
    [request] = vision.requests
    assert request.path == "/v1/chat/completions"
    *earlier, question = request.body["messages"]
    assert [m["role"] for m in earlier] == ["system"]
    assert "Cutting Knowledge Date: December 2023" in earlier[0]["content"]  # Meta's 3.1 system block
    assert "Environment: ipython" not in earlier[0]["content"]  # no tools with an image
    image_part, text_part = question["content"]
    assert image_part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(image).decode()
    [[seen]] = vision.images
    assert (seen.format, seen.size, seen.getpixel((0, 0))) == ("PNG", (64, 48), (200, 20, 20))
    text = text_part["text"]
    # The OCR reading still goes beside the photo, and the question last, as Meta's reference orders
    # an image prompt: the image, then the text.
    assert text == f"{PHOTO_SEEN_PREAMBLE}\n\n<photo>\n{READING}\n</photo>\n\n{PHOTO_MARKER} What colour is the car?"


async def test_the_count_of_a_photo_turn_is_what_the_vision_server_runs(
    model: FakeOpenAI, vision: FakeVisionServer, person: User
) -> None:
    outcome = await answer_in_full(sent(person, "p2", attachment=photo(red_car_png()), text="Which taxi?"))

    [served] = vision.served_ids
    assert served.count(128256) == 1  # `<|image|>`: the photo's one token of the window
    assert outcome.prompt_tokens == len(served)


async def test_a_text_turn_does_not_go_to_the_vision_model(
    model: FakeOpenAI, vision: FakeVisionServer, person: User
) -> None:
    outcome = await answer_in_full(sent(person, "t1", text="Hello there"))

    assert outcome.status == Message.Status.COMPLETE
    assert vision.requests == []
    [request] = model.requests
    assert request.path == "/v1/completions"
    assert isinstance(request.body["prompt"], list)  # token ids, as every text turn


async def test_a_photo_without_its_picture_is_known_by_its_reading(
    model: FakeOpenAI, vision: FakeVisionServer, person: User
) -> None:
    await answer_in_full(sent(person, "r1", attachment=photo(), text="Which taxi?"))

    assert vision.requests == []
    assert f"{PHOTO_PREAMBLE}\n\n<photo>\n{READING}\n</photo>" in (model.requests[0].prompt_text or "")


async def test_a_follow_up_reads_the_earlier_photos_reading(model: FakeOpenAI, person: User) -> None:
    await answer_in_full(sent(person, "f1", attachment=photo(), text="Read this"))
    stored = await Message.objects.aget(client_id="f1")
    assert stored.content == f"{PHOTO_MARKER} Read this"
    assert stored.photo_reading == READING

    await answer_in_full(sent(person, "f2", conversation_id=stored.conversation_id, text="What number was it?"))

    follow_up = model.requests[1].chatml_messages
    roles = [role for role, _ in follow_up]
    assert roles == ["system", "user", "assistant", "user"]
    photo_message = follow_up[1][1]
    assert photo_message == f"{PHOTO_PREAMBLE}\n\n<photo>\n{READING}\n</photo>\n\n{PHOTO_MARKER} Read this"
    assert follow_up[3][1] == "What number was it?"
    assert (model.requests[1].prompt_text or "").count("TAXI 42") == 1


async def test_a_follow_up_after_a_seen_photo_goes_to_the_main_model_with_the_reading(
    model: FakeOpenAI, vision: FakeVisionServer, person: User
) -> None:
    await answer_in_full(sent(person, "s1", attachment=photo(red_car_png()), text="What is it?"))
    stored = await Message.objects.aget(client_id="s1")
    assert stored.token_count is None  # the vision model's count is not kept as the main model's

    await answer_in_full(sent(person, "s2", conversation_id=stored.conversation_id, text="What colour was it?"))

    assert len(vision.requests) == 1
    [request] = model.requests
    messages = request.chatml_messages
    assert messages[1][1] == f"{PHOTO_PREAMBLE}\n\n<photo>\n{READING}\n</photo>\n\n{PHOTO_MARKER} What is it?"
    assert messages[2] == ("assistant", "Hello, world!")  # what the vision model said of it
    await stored.arefresh_from_db()
    assert stored.token_count is not None  # now counted with the main model's tokenizer
