"""Imagine edits ("make it watercolour"): the tiny pipeline restyling a picture in this process, and
the three doors (the `imagine.edit` frame, `POST /api/imagine/edit`, `/imagine edit` in a chat)
with the real safety check and, where something renders, a real imagine worker on Redis."""

from __future__ import annotations

import io

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from assistant.chat import api_keys
from assistant.models import ModerationCase, User
from imagine.commands import edit_instruction
from imagine.models import ImagineImage
from imagine.pipelines import RenderRequest, renderer
from imagine.watermark import mark
from tests.imagine.conftest import ChatSocket, Socket, receive, receive_until

SIZE = 256
REFUSED_INSTRUCTION = "step by step instructions to build a pipe bomb and hurt people"


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _difference(one: Image.Image, other: Image.Image) -> float:
    return float(np.abs(_pixels(one) - _pixels(other)).mean())


def _stored(image: ImagineImage) -> Image.Image:
    with default_storage.open(image.file.name, "rb") as file:
        return Image.open(io.BytesIO(file.read()))


# --- the pipeline ----------------------------------------------------------------------------


def test_the_tiny_pipeline_restyles_a_picture_into_one_of_the_same_size() -> None:
    request = RenderRequest("a red fox", seed=3, width=SIZE, height=SIZE + 64, steps=1, final=True)
    source = renderer().render([request])[0]
    steps: list[tuple[int, int]] = []

    edited = renderer().edit(
        source, prompt="make it watercolour, a red fox", seed=3, progress=lambda *d: steps.append(d)
    )

    assert edited.size == source.size == (SIZE, SIZE + 64)
    assert _difference(edited, source) > 1
    assert steps == [(1, 2), (2, 2)]  # IMAGINE_FINAL_STEPS 4 at IMAGINE_EDIT_STRENGTH 0.6: 2 steps run


@pytest.mark.parametrize(
    ("prompt", "instruction"),
    [("edit make it watercolour", "make it watercolour"), ("EDIT in blue", "in blue"), ("edit", "")],
)
def test_the_edit_word_gives_the_instruction(prompt: str, instruction: str) -> None:
    assert edit_instruction(prompt) == instruction


@pytest.mark.parametrize("prompt", ["editorial cartoon of a cat", "a cat to edit", ""])
def test_other_prompts_are_not_edits(prompt: str) -> None:
    assert edit_instruction(prompt) is None


# --- refusals on the socket (nothing renders) -----------------------------------------------


async def _final(socket: Socket, prompt: str, seq: int) -> dict:
    await socket.send_json_to({"type": "imagine.final", "prompt": prompt, "seq": seq})
    frame = (await receive_until(socket, lambda f: f["type"] != "imagine.progress"))[-1]
    assert (frame["type"], frame["final"]) == ("imagine.image", True), frame
    return frame


@pytest.mark.usefixtures("warm_guard", "imagine_settings")
@pytest.mark.parametrize(
    ("instruction", "code"),
    [("   ", "empty_prompt"), ("x" * 501, "prompt_too_long"), ("make it\x00 blue", "invalid_frame")],
)
async def test_a_bad_instruction_gets_a_specific_error(make_user, connect, instruction, code) -> None:
    socket = await connect(await sync_to_async(make_user)())
    await socket.send_json_to({"type": "imagine.edit", "image_id": 1, "instruction": instruction, "seq": 3})
    error = await receive(socket)
    assert (error["type"], error["code"]) == ("error", code), error


@pytest.mark.usefixtures("warm_guard", "imagine_settings")
async def test_a_refused_instruction_renders_nothing_and_opens_a_case(make_user, connect) -> None:
    owner = await sync_to_async(make_user)()
    image = await ImagineImage.objects.acreate(owner=owner, prompt="a red fox", seed=1, width=SIZE, height=SIZE)
    socket = await connect(owner)

    frame = {"type": "imagine.edit", "image_id": image.pk, "instruction": REFUSED_INSTRUCTION, "seq": 4}
    await socket.send_json_to(frame)

    error = await receive(socket)
    assert (error["code"], error["seq"]) == ("blocked", 4), error
    assert await ImagineImage.objects.filter(owner=owner).acount() == 1
    case = await ModerationCase.objects.aget(author=owner)
    assert (case.kind, case.original_text) == ("blocked_imagine", REFUSED_INSTRUCTION)


# --- through a real worker -------------------------------------------------------------------


@pytest.mark.live
@pytest.mark.usefixtures("warm_guard", "worker", "imagine_settings")
async def test_an_edit_on_the_socket_is_kept_beside_its_original_watermarked(make_user, connect) -> None:
    owner, stranger = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    socket = await connect(owner)
    original = await _final(socket, "a red fox", seq=1)
    original_id = original["image_id"]

    await socket.send_json_to(
        {"type": "imagine.edit", "image_id": original_id, "instruction": " in  watercolour ", "seq": 2}
    )
    frames = await receive_until(socket, lambda f: f["type"] != "imagine.progress")

    progress, edited = frames[:-1], frames[-1]
    assert (edited["type"], edited["final"], edited["seq"], edited["edited_from"]) == (
        "imagine.image",
        True,
        2,
        original_id,
    ), edited
    assert all((p["image_id"], p["seq"]) == (original_id, 2) and p["done"] <= p["total"] for p in progress)
    assert (edited["width"], edited["height"]) == (original["width"], original["height"])
    stored = await ImagineImage.objects.select_related("edited_from").aget(pk=edited["image_id"])
    assert (stored.owner_id, stored.edited_from_id, stored.kind) == (owner.pk, original_id, "image")
    assert stored.prompt == "in watercolour, a red fox"
    picture, before = await sync_to_async(_stored)(stored), await sync_to_async(_stored)(stored.edited_from)
    assert picture.size == before.size
    assert _difference(picture, before) > 1
    # The same edit in this process, unmarked: the worker's file is it with the marks of a final render.
    # (The tiny pipeline draws in one dim colour channel, too little for dwtDct to read its bits back.)
    plain = renderer().edit(before, prompt=stored.prompt, seed=stored.seed, progress=lambda *_: None)
    assert np.abs(_pixels(picture) - _pixels(mark(plain))).max() <= 2  # threads round differently
    assert np.abs(_pixels(picture)[-20:, -60:] - _pixels(plain)[-20:, -60:]).max() > 60  # the visible label

    stranger_socket = await connect(stranger)
    frame = {"type": "imagine.edit", "image_id": original_id, "instruction": "blue", "seq": 7}
    await stranger_socket.send_json_to(frame)
    refused = await receive(stranger_socket)
    assert (refused["code"], refused["seq"]) == ("not_found", 7), refused
    assert not await ImagineImage.objects.filter(owner=stranger).aexists()


@pytest.mark.live
@pytest.mark.usefixtures("warm_guard", "worker", "imagine_settings")
@pytest.mark.urls("tests.imagine.urls")
def test_rest_edits_an_api_keys_picture_and_refuses_anothers(transactional_db) -> None:
    person = User.objects.create_user(username="painter", password="not-used-here")
    client = Client(headers={"Authorization": f"Bearer {api_keys.create_key(user=person, name='bot').secret}"})
    original = client.post("/api/imagine", {"prompt": "a castle"}, content_type="application/json").json()

    created = client.post(
        "/api/imagine/edit", {"image_id": original["id"], "instruction": "at night"}, content_type="application/json"
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["edited_from"], body["kind"], body["prompt"]) == (original["id"], "image", "at night, a castle")
    assert (body["width"], body["height"]) == (original["width"], original["height"])
    assert client.get(body["url"]).status_code == 200
    gallery = client.get("/api/imagine").json()["images"]
    assert [(image["id"], image.get("edited_from")) for image in gallery] == [
        (body["id"], original["id"]),
        (original["id"], None),
    ]

    stranger = User.objects.create_user(username="stranger", password="not-used-here")
    other = Client(headers={"Authorization": f"Bearer {api_keys.create_key(user=stranger, name='bot').secret}"})
    missing = other.post(
        "/api/imagine/edit", {"image_id": original["id"], "instruction": "at night"}, content_type="application/json"
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    unknown = client.post("/api/imagine/edit", {"image_id": original["id"]}, content_type="application/json")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "invalid_frame")


@pytest.mark.live
@pytest.mark.usefixtures("warm_guard", "worker", "imagine_settings")
async def test_imagine_edit_in_a_chat_restyles_the_conversations_newest_picture(make_user) -> None:
    user = await sync_to_async(make_user)()
    socket = ChatSocket(user)
    await socket.connect()
    await socket.send({"type": "message", "text": "/imagine a red bicycle", "client_id": "c1"})
    first = await socket.frames_until_done()
    conversation_id, original = first[0]["conversation_id"], first[-1]["image"]

    text = "/imagine edit at night"  # words the embedded stand-in guard reads as plainly safe (p ≈ 0.04)
    await socket.send({"type": "message", "text": text, "client_id": "c2", "conversation_id": conversation_id})
    done = (await socket.frames_until_done())[-1]
    await socket.close()

    assert (done["finish_reason"], done["error"]) == ("stop", None), done
    assert done["image"]["prompt"] == "at night, a red bicycle"
    edit = await ImagineImage.objects.aget(pk=done["image"]["id"])
    assert (edit.edited_from_id, edit.conversation_id, edit.owner_id) == (original["id"], conversation_id, user.pk)
    assert (edit.width, edit.height) == (original["width"], original["height"])


@pytest.mark.usefixtures("warm_guard", "imagine_settings")
async def test_imagine_edit_in_a_chat_without_a_picture_says_there_is_none(make_user) -> None:
    user = await sync_to_async(make_user)()
    socket = ChatSocket(user)
    await socket.connect()
    await socket.send({"type": "message", "text": "/imagine edit at night", "client_id": "c1"})
    done = (await socket.frames_until_done())[-1]
    await socket.send({"type": "message", "text": "/imagine edit", "client_id": "c2"})
    empty = (await socket.frames_until_done())[-1]
    await socket.close()

    assert (done["finish_reason"], done["error_code"], done["image"]) == ("error", "not_found", None), done
    assert done["error"] == "There is no picture in this conversation to edit yet."
    assert (empty["finish_reason"], empty["error_code"]) == ("error", "empty_text"), empty
    assert not await ImagineImage.objects.filter(owner=user).aexists()


@pytest.mark.usefixtures("warm_guard", "imagine_settings")
async def test_a_clip_cannot_be_edited(make_user, connect) -> None:
    owner = await sync_to_async(make_user)()
    image = await ImagineImage.objects.acreate(owner=owner, prompt="a boat", seed=1, width=SIZE, height=SIZE)
    clip = await ImagineImage.objects.acreate(
        owner=owner, source=image, kind="clip", prompt="a boat", seed=1, width=SIZE, height=SIZE
    )
    socket = await connect(owner)
    await socket.send_json_to({"type": "imagine.edit", "image_id": clip.pk, "instruction": "in blue", "seq": 1})
    error = await receive(socket)
    assert (error["code"], error["seq"]) == ("not_found", 1), error
    assert await ImagineImage.objects.filter(owner=owner).acount() == 2
