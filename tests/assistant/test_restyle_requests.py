"""A restyle asked in plain words ("make it watercolour") where a picture is what "it" means: as a
photo's caption it restyles that photo, right after a render it restyles the render; anywhere else,
or when it is about words, the model answers it. Over the real consumer with a real imagine worker
on Redis (the tiny pipeline), as tests/assistant/test_photo_edit.py does for the command."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from imagine.models import ImagineImage
from tests.assistant.test_photo_edit import _person_with_photo, _turn
from tests.imagine.conftest import ChatSocket, imagine_settings, worker  # noqa: F401 (fixtures)
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_a_photos_caption_in_plain_words_restyles_the_photo(model: FakeOpenAI) -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()

    frames = await _turn(socket, "Make it watercolour, please", "p1", attachment_id=sent.pk)
    await socket.close()

    done = frames[-1]
    assert (done["finish_reason"], done["image"]["prompt"]) == ("stop", "watercolour, please, a photo you sent"), done
    edit = await ImagineImage.objects.aget(pk=done["image"]["id"])
    assert (edit.edited_from_id, edit.conversation_id) == (None, frames[0]["conversation_id"])
    assert model.requests == []  # a picture, not words: the model was never asked


@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_right_after_a_render_a_restyle_edits_the_render_and_later_it_is_a_question(
    model: FakeOpenAI,
) -> None:
    person = (await sync_to_async(_person_with_photo)())[0]
    socket = ChatSocket(person)
    await socket.connect()
    first = await _turn(socket, "/imagine a red bicycle", "r1")
    rendered, chat = first[-1], {"conversation_id": first[0]["conversation_id"]}

    restyled = (await _turn(socket, "turn it into a pencil sketch", "e1", **chat))[-1]
    words = (await _turn(socket, "make it shorter", "w1", **chat))[-1]
    await _turn(socket, "hello", "h1", **chat)
    later = (await _turn(socket, "make it watercolour", "w2", **chat))[-1]
    await socket.close()

    render = await ImagineImage.objects.aget(pk=rendered["image"]["id"])
    edit = await ImagineImage.objects.aget(pk=restyled["image"]["id"])
    assert (edit.edited_from_id, edit.prompt) == (render.pk, f"a pencil sketch, {render.prompt}")
    assert (words["finish_reason"], words["image"]) == ("stop", None), words  # about words: the model's
    assert (later["finish_reason"], later["image"]) == ("stop", None), later  # no picture just before it
    assert len(model.requests) == 3
