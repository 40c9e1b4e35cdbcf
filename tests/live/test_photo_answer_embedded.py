"""A photo with printed text, answered with that text by the embedded default alone: rapidocr (its
models ship in the package) reads the photo, and the real SmolLM2 on llama.cpp answers from what was
read, through the door every channel uses. The photo is read in this process, as the `media` worker's
task reads it (tests/integrations/test_live_media_replies.py covers the worker and the apps)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from pytest_django.fixtures import Settings

from assistant.chat.services import create_guest
from assistant.door import TurnRequest, answer_in_full
from assistant.engine.capabilities import default_capabilities
from assistant.engine.pipeline import Attachment, AttachmentKind, Sampling
from assistant.models import Channel, Message
from media.service import prepare_photo
from tests.media.support import text_photo

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

GATE = "B22"


@pytest.fixture
def embedded_answers(embedded_model: str, settings: Settings) -> None:
    settings.MODEL_BASE_URL = embedded_model
    settings.ASSISTANT_MODEL_TITLES = False
    default_capabilities.cache_clear()


@pytest.mark.usefixtures("embedded_answers")
async def test_a_photo_is_answered_with_the_text_printed_on_it() -> None:
    photo = await sync_to_async(prepare_photo)(text_photo([f"Boarding gate {GATE}"]))
    printed = "\n".join(line.text for line in photo.reading.lines)
    attachment = Attachment(
        AttachmentKind.PHOTO, photo.reading.description(), photo_text=printed, image=photo.data,
        image_type=photo.media_type.mime,
    )  # fmt: skip
    person = await sync_to_async(create_guest)()
    request = TurnRequest.with_attachment(
        attachment,
        caption="What gate is on the photo?",
        channel=Channel.WEB,
        user=person,
        client_id="photo-1",
        sampling=Sampling(max_tokens=48, temperature=0),
    )

    outcome = await answer_in_full(request)

    assert GATE in printed  # what OCR read; the answer must come from it, never from the caption
    assert outcome.status == Message.Status.COMPLETE, outcome
    assert GATE in outcome.content, outcome.content
