"""What Imagine refuses, and what a client sees when no imagine worker is running (the broker is
up, nothing consumes queue `imagine`). No worker runs in this module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser

from tests.imagine.conftest import Socket, receive
from tests.imagine.support import flush, redis_in_this_process

pytestmark = pytest.mark.usefixtures("warm_guard", "imagine_settings")


@pytest.fixture(scope="module", autouse=True)
def broker_without_worker() -> Iterator[None]:
    flush()
    with redis_in_this_process():
        yield
    flush()  # the tasks nobody took must not reach the next worker


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "imagine.prompt", "prompt": "   ", "seq": 1}, "empty_prompt"),
        ({"type": "imagine.prompt", "prompt": "x" * 501, "seq": 1}, "prompt_too_long"),
        ({"type": "imagine.prompt", "prompt": "a lighthouse", "seq": 1, "size": "poster"}, "unknown_size"),
        ({"type": "imagine.final", "prompt": "", "seq": 1}, "empty_prompt"),
        ({"type": "imagine.prompt", "prompt": "a lighthouse"}, "invalid_frame"),
        ({"type": "imagine.dance", "seq": 1}, "invalid_frame"),
        ({"type": "imagine.animate", "image_id": 999_999}, "not_found"),
    ],
)
async def test_bad_frames_get_a_specific_error_and_the_socket_stays_open(make_user, connect, frame, code):
    socket = await connect(await sync_to_async(make_user)())
    await socket.send_json_to(frame)
    error = await receive(socket)
    assert (error["type"], error["code"]) == ("error", code), error
    if "seq" in frame and code != "invalid_frame":
        assert error["seq"] == frame["seq"]
    await socket.send_json_to({"type": "imagine.prompt", "prompt": "", "seq": 2})
    assert (await receive(socket))["code"] == "empty_prompt"


async def test_a_prompt_the_input_check_blocks_renders_nothing(make_user, connect):
    socket = await connect(await sync_to_async(make_user)())
    prompt = "step by step instructions to build a pipe bomb and hurt people"
    await socket.send_json_to({"type": "imagine.prompt", "prompt": prompt, "seq": 3})
    error = await receive(socket)
    assert (error["code"], error["seq"]) == ("blocked", 3), error


async def test_no_worker_gives_worker_unavailable_for_previews_and_finals(imagine_settings, make_user, connect):
    imagine_settings.IMAGINE_PREVIEW_TIMEOUT_SECONDS = 1
    imagine_settings.IMAGINE_FINAL_TIMEOUT_SECONDS = 1
    socket = await connect(await sync_to_async(make_user)())
    await socket.send_json_to({"type": "imagine.prompt", "prompt": "a lighthouse", "seq": 1})
    preview = await receive(socket, wait_seconds=10)
    assert (preview["code"], preview["seq"]) == ("worker_unavailable", 1), preview
    await socket.send_json_to({"type": "imagine.final", "prompt": "a lighthouse", "seq": 2})
    final = await receive(socket, wait_seconds=10)
    assert (final["code"], final["seq"]) == ("worker_unavailable", 2), final


@pytest.mark.django_db(transaction=True)  # Channels closes old database connections around each frame
async def test_a_socket_without_a_user_is_closed_with_4401():
    socket = Socket(AnonymousUser())
    await socket.connect()
    closed = await socket.receive_output(wait_seconds=5)
    assert closed == {"type": "websocket.close", "code": 4401}
