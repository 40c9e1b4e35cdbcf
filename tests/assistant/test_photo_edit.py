"""`/imagine edit <instruction>` on a photo the person sent in the web chat: as the photo's caption it
restyles that photo; typed later it restyles the conversation's newest picture, a sent photo or a
render; sent with a picture's Edit button (`edit_picture_of`) it restyles that picture, however old.
Over the real consumer, with the real safety check and a real imagine worker on Redis (the tiny
pipeline), which alone decodes the photo; the photo is kept through the attachments' service as an
upload is once read."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from assistant.chat.attachments import MessageAttachment, keep_with, store
from assistant.chat.services import TurnStart, create_guest, start_edit, start_turn
from assistant.door import PHOTO_MARKER, PICTURE_EDIT_WHERE
from assistant.models import Message, User
from imagine.models import ImagineImage
from tests.imagine.conftest import (  # noqa: F401 (fixtures)
    ChatSocket,
    fixture_no_decoding_here,
    imagine_settings,
    warm_guard,
    worker,
)
from tests.imagine.test_edit import REFUSED_INSTRUCTION
from tests.imagine.test_edit_photo import photo
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO_READING = "[Photo, read by OCR: only its printed text and basic facts are known, not what it shows]"
SENT = (384, 384)  # a final render's shape with the tests' sizes: the edit keeps it


def _person_with_photo(data: bytes | None = None) -> tuple[User, MessageAttachment]:
    """A person and a photo they uploaded (`data`: the stored file, when not a good photo)."""
    person = create_guest()
    return person, store(
        owner=person,
        kind=MessageAttachment.Kind.PHOTO,
        data=photo(*SENT) if data is None else data,
        media_type="image/png",
        reading=PHOTO_READING,
    )


async def _turn(socket: ChatSocket, text: str, client_id: str, **fields: Any) -> list[dict[str, Any]]:
    await socket.send({"type": "message", "text": text, "client_id": client_id, **fields})
    return await socket.frames_until_done()


@pytest.mark.live
@pytest.mark.usefixtures("warm_guard", "worker", "imagine_settings")
async def test_a_photo_sent_with_an_imagine_edit_caption_is_restyled() -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()

    frames = await _turn(socket, " /imagine edit  at night", "p1", attachment_id=sent.pk)
    ack, done = frames[0], frames[-1]
    await socket.send({"type": "regenerate", "conversation_id": ack["conversation_id"]})
    again = (await socket.frames_until_done())[-1]
    await socket.close()

    assert (done["finish_reason"], done["error"]) == ("stop", None), done
    assert done["image"]["prompt"] == "at night, a photo you sent"
    edit = await ImagineImage.objects.aget(pk=done["image"]["id"])
    assert (edit.edited_from_id, edit.conversation_id, edit.owner_id) == (None, ack["conversation_id"], person.pk)
    assert (edit.width, edit.height) == SENT
    question = await Message.objects.aget(pk=ack["user_message_id"])
    assert question.content == f"{PHOTO_MARKER} /imagine edit  at night"  # as sent: only the command is read
    assert (await MessageAttachment.objects.aget(pk=sent.pk)).message_id == question.pk
    # Regenerated, it edits the photo again (found by its message now), never the first edit.
    assert (again["finish_reason"], again["image"]["prompt"]) == ("stop", "at night, a photo you sent"), again
    assert (await ImagineImage.objects.aget(pk=again["image"]["id"])).edited_from_id is None


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_the_web_process_never_decodes_the_photo_it_edits(model: FakeOpenAI, no_decoding_here: list[str]) -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()

    done = (await _turn(socket, "/imagine edit at night", "p1", attachment_id=sent.pk))[-1]
    await socket.close()

    assert no_decoding_here == []  # the imagine worker read, checked and fitted it
    assert (done["finish_reason"], done["error"]) == ("stop", None), done
    assert (done["image"]["width"], done["image"]["height"]) == SENT


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_a_damaged_stored_photo_ends_the_edit_with_its_own_sentence(
    model: FakeOpenAI, no_decoding_here: list[str]
) -> None:
    person, sent = await sync_to_async(_person_with_photo)(photo(*SENT)[:300])  # the file cut short in storage
    socket = ChatSocket(person)
    await socket.connect()

    done = (await _turn(socket, "/imagine edit at night", "p1", attachment_id=sent.pk))[-1]
    await socket.close()

    # The worker's `broken_file` reaches the chat as a failed render: the code a chat client knows for
    # it (`internal`, renders.py) with the worker's own sentence.
    assert (done["finish_reason"], done["error_code"]) == ("error", "internal"), done
    assert done["error"] == "That photo could not be read."
    assert (done["image"], no_decoding_here) == (None, [])
    assert not await ImagineImage.objects.filter(owner=person).aexists()


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_imagine_edit_after_a_photo_edits_the_photo_and_after_a_render_the_render(
    model: FakeOpenAI,
) -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()
    rendered = await _turn(socket, "/imagine a red bicycle", "r1")
    chat = {"conversation_id": rendered[0]["conversation_id"]}

    asked = await _turn(socket, "what is this?", "p1", attachment_id=sent.pk, **chat)
    of_photo = (await _turn(socket, "/imagine edit at night", "e1", **chat))[-1]
    of_edit = (await _turn(socket, "/imagine edit in blue", "e2", **chat))[-1]
    await socket.close()

    assert asked[-1]["finish_reason"] == "stop"  # the model answered the photo's question
    assert (of_photo["image"]["prompt"], of_edit["image"]["prompt"]) == (
        "at night, a photo you sent",
        "in blue, at night, a photo you sent",
    )
    first, second = [await ImagineImage.objects.aget(pk=done["image"]["id"]) for done in (of_photo, of_edit)]
    assert (first.edited_from_id, second.edited_from_id) == (None, first.pk)
    assert (first.width, first.height) == SENT


@pytest.mark.usefixtures("warm_guard", "imagine_settings")
async def test_a_refused_instruction_on_a_photo_gets_imagines_refusal_and_the_photo_goes() -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()

    frames = await _turn(socket, f"/imagine edit {REFUSED_INSTRUCTION}", "p1", attachment_id=sent.pk)
    chat = {"conversation_id": frames[0]["conversation_id"]}
    later = (await _turn(socket, "/imagine edit at night", "e1", **chat))[-1]
    await socket.close()

    assert [frame["type"] for frame in frames] == ["ack", "blocked", "done"], frames
    assert (frames[-1]["finish_reason"], frames[-1]["error_code"], frames[-1]["image"]) == ("blocked", "blocked", None)
    assert not await ImagineImage.objects.filter(owner=person).aexists()
    refused = await MessageAttachment.objects.aget(pk=sent.pk)
    assert (refused.refused, refused.file.name) == (True, "")  # the photo leaves the storage with its turn
    assert (later["error_code"], later["image"]) == ("not_found", None), later  # a refused photo is not edited


@pytest.mark.live
@pytest.mark.usefixtures("worker", "imagine_settings")
async def test_an_edit_button_names_an_older_picture_and_a_regeneration_keeps_it(model: FakeOpenAI) -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()
    asked = await _turn(socket, "what is this?", "p1", attachment_id=sent.pk)
    chat = {"conversation_id": asked[0]["conversation_id"]}
    rendered = (await _turn(socket, "/imagine a red bicycle", "r1", **chat))[-1]

    of_photo = await _turn(socket, "/imagine edit at night", "e1", edit_picture_of=asked[0]["user_message_id"], **chat)
    render_answer = rendered["message_id"]
    of_render = (await _turn(socket, "/imagine edit in blue", "e2", edit_picture_of=render_answer, **chat))[-1]
    await socket.send({"type": "regenerate", **chat})
    again = (await socket.frames_until_done())[-1]
    await socket.close()

    # The photo is older than the render, yet its Edit button restyles the photo.
    assert of_photo[-1]["image"]["prompt"] == "at night, a photo you sent", of_photo[-1]
    question = await Message.objects.aget(pk=of_photo[0]["user_message_id"])
    assert question.edits_picture_of_id == asked[0]["user_message_id"]
    render = await ImagineImage.objects.aget(pk=rendered["image"]["id"])
    for done in (of_render, again):  # the render's own Edit button, also when the answer is regenerated
        edit = await ImagineImage.objects.aget(pk=done["image"]["id"])
        assert (edit.edited_from_id, edit.prompt) == (render.pk, f"in blue, {render.prompt}"), done


@pytest.mark.usefixtures("imagine_settings")
@pytest.mark.parametrize(
    ("text", "target", "extra", "code"),
    [
        ("make it blue", "answer", {}, "invalid_frame"),  # not an `/imagine edit` command
        ("/imagine a boat", "answer", {}, "invalid_frame"),
        ("/imagine edit in blue", "answer", {"conversation_id": None}, "invalid_frame"),
        ("/imagine edit in blue", "question", {}, "not_found"),  # a message without a picture
        ("/imagine edit in blue", "answer", {}, "not_found"),  # an answer in words
        ("/imagine edit in blue", "elsewhere", {}, "not_found"),  # another person's conversation
    ],
)
async def test_an_edit_button_that_names_no_picture_here_is_refused_and_stores_nothing(
    model: FakeOpenAI, text: str, target: str, extra: dict[str, Any], code: str
) -> None:
    person, stranger = await sync_to_async(create_guest)(), await sync_to_async(create_guest)()
    socket, other = ChatSocket(person), ChatSocket(stranger)
    await socket.connect()
    await other.connect()
    words = await _turn(socket, "hello", "w1")
    theirs = await _turn(other, "hello", "t1")
    await other.close()
    named = {
        "question": words[0]["user_message_id"],
        "answer": words[-1]["message_id"],
        "elsewhere": theirs[-1]["message_id"],
    }[target]
    frame = {"conversation_id": words[0]["conversation_id"], **extra}

    await socket.send({"type": "message", "text": text, "client_id": "e1", "edit_picture_of": named, **frame})
    refusal = await socket.next_frame()
    await socket.close()

    assert (refusal["type"], refusal["code"], refusal["client_id"]) == ("error", code, "e1"), refusal
    assert await Message.objects.filter(conversation__owner=person).acount() == 2  # the first turn only


async def test_an_edit_button_cannot_go_with_an_upload() -> None:
    person, sent = await sync_to_async(_person_with_photo)()
    socket = ChatSocket(person)
    await socket.connect()

    frame = {"text": "/imagine edit at night", "client_id": "e1", "attachment_id": sent.pk, "edit_picture_of": 1}
    await socket.send({"type": "message", **frame})
    refusal = await socket.next_frame()
    await socket.close()

    assert (refusal["code"], refusal["detail"]) == ("invalid_frame", PICTURE_EDIT_WHERE)
    assert (await MessageAttachment.objects.aget(pk=sent.pk)).client_id is None  # still free to send


def _finished(start: TurnStart) -> TurnStart:
    Message.objects.filter(pk=start.answer.pk).update(status=Message.Status.COMPLETE)
    return start


def test_a_picture_edit_rewritten_as_another_edit_keeps_its_picture() -> None:
    person, sent = _person_with_photo()
    asked = _finished(start_turn(user=person, conversation_id=None, text="what is this?", client_id="p1"))
    keep_with(sent, message_id=asked.user_message.pk)
    chat = {"user": person, "conversation_id": asked.conversation.pk}
    edit = _finished(
        start_turn(text="/imagine edit at night", client_id="e1", edits_picture_of=asked.user_message.pk, **chat)
    )

    again = _finished(start_edit(message_id=edit.user_message.pk, text="/imagine edit in rain", client_id="e2", **chat))
    words = start_edit(message_id=again.user_message.pk, text="what colour is it?", client_id="e3", **chat)

    assert again.user_message.edits_picture_of_id == asked.user_message.pk
    assert words.user_message.edits_picture_of_id is None
