"""Imagine through a real Celery worker (queue `imagine`, thread pool) on Redis, with the web side
(consumer, scheduler, services) in this process, as one web process runs it."""

from __future__ import annotations

import asyncio
import io
import itertools
import tempfile
import time

import imageio_ffmpeg
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage
from django.test import AsyncClient
from PIL import Image

from assistant.chat import api_keys
from assistant.models import User
from imagine import scheduler
from imagine.models import ImagineImage
from imagine.watermark import INVISIBLE_MARK, read_invisible
from tests.imagine.conftest import receive, receive_until

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("warm_guard", "worker", "imagine_settings")]

TYPED = "a lighthouse on a cliff at sunset"


async def _type(communicator, text: str, *, interval: float) -> int:
    """Send the prompt as it grows, one character at a time; the last sequence number."""
    seq = 0
    for seq in range(1, len(text) + 1):
        await communicator.send_json_to({"type": "imagine.prompt", "prompt": text[:seq], "seq": seq})
        await asyncio.sleep(interval)
    return seq


async def _typist(communicator, text: str, *, interval: float) -> list[dict]:
    last_seq = await _type(communicator, text, interval=interval)
    return await receive_until(communicator, lambda f: f["type"] == "imagine.image" and f["seq"] == last_seq)


async def test_burst_from_several_users_shows_only_ever_newer_images_and_ends_on_the_last(make_user, connect):
    users = [await sync_to_async(make_user)() for _ in range(3)]
    sockets = [await connect(user) for user in users]
    # 50 prompts a second each: five times the rate limit, far faster than the CPU renders
    results = await asyncio.gather(*(_typist(socket, TYPED, interval=0.02) for socket in sockets))
    for frames in results:
        images = [frame for frame in frames if frame["type"] == "imagine.image"]
        seqs = [image["seq"] for image in images]
        assert seqs == sorted(set(seqs)), "an older image was shown after a newer one"
        assert seqs[-1] == len(TYPED)
        assert len(images) < len(TYPED) / 2, "stale prompts were rendered instead of dropped"
        errors = [frame for frame in frames if frame["type"] == "error"]
        assert {error["code"] for error in errors} == {"rate_limited"}, errors
        assert images[-1]["url"].startswith("data:image/jpeg;base64,")
        assert (images[-1]["width"], images[-1]["height"]) == (256, 256)


async def test_keys_are_read_while_the_server_is_busy_and_only_the_newest_waits(make_user, connect):
    """Each prompt takes a rate token and an offer through the process's one thread for synchronous
    work, which a loaded server keeps busy (other sockets' database writes). Frames are read
    meanwhile: a server stops reading a socket whose frames wait, its keepalive pongs included."""
    socket = await connect(await sync_to_async(make_user)())
    busy = asyncio.create_task(sync_to_async(time.sleep)(3))  # that same thread, busy for 3 s
    await asyncio.sleep(0.1)
    for seq in range(1, len(TYPED) + 1):
        await socket.send_json_to({"type": "imagine.prompt", "prompt": TYPED[:seq], "seq": seq})
    await socket.communicator.send_input({"type": "websocket.receive", "bytes": b"not text"})

    await receive_until(socket, lambda f: f["type"] == "error" and f["code"] == "invalid_frame")
    assert not busy.done(), "the frame after the keys was read only once the busy thread was free"
    await busy
    frames = await receive_until(socket, lambda f: f["type"] == "imagine.image" and f["seq"] == len(TYPED))
    rendered = [frame["seq"] for frame in frames if frame["type"] == "imagine.image"]
    assert set(rendered) <= {1, len(TYPED)}, "keys replaced while waiting were offered anyway"


async def _collect_renders(channel: str, last_seq: int) -> list[tuple[float, float]]:
    """The (start, end) of each pipeline call that rendered for this channel, up to `last_seq`."""
    layer = get_channel_layer()
    intervals = []
    while True:
        event = await asyncio.wait_for(layer.receive(channel), timeout=60)
        intervals.append(tuple(event["rendered"]))
        if event["seq"] == last_seq:
            return intervals


async def test_one_preview_in_flight_per_user_and_users_share_batches():
    """Through the scheduler alone: 4 users offer prompts as fast as they can; each user's renders
    never overlap in time, and renders of different users share pipeline calls."""
    layer = get_channel_layer()
    channels = {user_id: await layer.new_channel() for user_id in range(900_001, 900_005)}
    offers = 12
    for seq in range(1, offers + 1):
        for user_id, channel in channels.items():
            await scheduler.offer(
                scheduler.Preview(
                    user_id=user_id,
                    prompt=f"a lighthouse {seq}",
                    seed=7,
                    width=256,
                    height=256,
                    seq=seq,
                    reply_channel=channel,
                )
            )
        await asyncio.sleep(0.005)
    per_user = await asyncio.gather(*(_collect_renders(channel, offers) for channel in channels.values()))
    for intervals in per_user:
        assert len(intervals) < offers, "stale prompts were rendered instead of replaced"
        for (_, end), (next_start, _) in itertools.pairwise(intervals):
            assert next_start >= end, "two previews of one user were rendered at once"
    calls = [interval for intervals in per_user for interval in intervals]
    assert len(set(calls)) < len(calls), "no pipeline call rendered more than one user"


async def test_the_same_session_seed_keeps_the_picture_and_another_session_changes_it(make_user, connect):
    user = await sync_to_async(make_user)()
    first, second = await connect(user), await connect(user)

    async def preview(socket, seq: int) -> str:
        await socket.send_json_to({"type": "imagine.prompt", "prompt": "a blue whale", "seq": seq})
        frames = await receive_until(socket, lambda f: f["type"] == "imagine.image" and f["seq"] == seq)
        return frames[-1]["url"]

    one = await preview(first, 1)
    assert await preview(first, 2) == one
    assert await preview(second, 1) != one


def _probe_mp4(data: bytes) -> tuple[int, float]:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(data)
        file.flush()
        reader = imageio_ffmpeg.read_frames(file.name)
        metadata = next(reader)
        return sum(1 for _ in reader), float(metadata["duration"])


@pytest.mark.urls("tests.imagine.urls")
async def test_final_render_and_clip_are_stored_watermarked_and_served_only_to_their_owner(make_user, connect):
    owner, stranger = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    socket = await connect(owner)
    await socket.send_json_to({"type": "imagine.final", "prompt": "a red  fox ", "seq": 5, "size": "landscape"})
    final = (await receive_until(socket, lambda f: f["type"] != "imagine.progress"))[-1]
    assert (final["type"], final["final"], final["seq"]) == ("imagine.image", True, 5), final
    assert (final["width"], final["height"]) == (512, 384)  # 1.5 × 320×256 = 480×384, rounded to 64
    image = await ImagineImage.objects.aget(pk=final["image_id"])
    assert (image.owner_id, image.prompt, image.kind) == (owner.pk, "a red fox", "image")
    with default_storage.open(image.file.name, "rb") as file:
        assert read_invisible(Image.open(file)) == INVISIBLE_MARK

    await socket.send_json_to({"type": "imagine.animate", "image_id": image.pk})
    frames = await receive_until(socket, lambda f: f["type"] != "imagine.progress", wait_seconds=120)
    progress, clip_frame = frames[:-1], frames[-1]
    assert clip_frame["type"] == "imagine.clip", clip_frame
    assert [(p["done"], p["total"]) for p in progress] == [(4, 16), (8, 16), (12, 16), (16, 16)]
    clip = await ImagineImage.objects.aget(pk=clip_frame["clip_id"])
    assert (clip.kind, clip.source_id, clip.frames, clip.fps) == ("clip", image.pk, 16, 8)

    client = AsyncClient()
    await client.aforce_login(owner)
    mp4 = await client.get(clip_frame["mp4_url"])
    assert (mp4.status_code, mp4["Content-Type"]) == (200, "video/mp4")
    assert _probe_mp4(mp4.getvalue()) == (16, 2.0)
    gif = await client.get(clip_frame["gif_url"])
    assert Image.open(io.BytesIO(gif.getvalue())).n_frames == 16
    png = await client.get(final["url"])
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png["Cache-Control"].startswith("private, max-age=")
    assert (await client.get(final["url"].replace("image.png", "clip.gif"))).status_code == 404

    await client.aforce_login(stranger)
    for url in (final["url"], clip_frame["mp4_url"], clip_frame["gif_url"]):
        assert (await client.get(url)).status_code == 404
    assert (await AsyncClient().get(final["url"])).status_code == 404
    stranger_socket = await connect(stranger)
    await stranger_socket.send_json_to({"type": "imagine.animate", "image_id": image.pk})
    assert (await receive(stranger_socket))["code"] == "not_found"


@pytest.mark.urls("tests.imagine.urls")
def test_rest_renders_for_an_api_key_and_refuses_bad_requests(make_user):
    from django.test import Client

    person = User.objects.create_user(username="painter", password="not-used-here")
    secret = api_keys.create_key(user=person, name="bot").secret
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    created = client.post("/api/imagine", {"prompt": "a castle", "size": "square"}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["width"], body["height"], body["kind"]) == (384, 384, "image")
    assert ImagineImage.objects.get(pk=body["id"]).owner == person
    assert client.get(body["url"]).status_code == 200
    empty = client.post("/api/imagine", {"prompt": "  "}, content_type="application/json")
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "empty_prompt")
    size = client.post("/api/imagine", {"prompt": "x", "size": "huge"}, content_type="application/json")
    assert (size.status_code, size.json()["error"]["code"]) == (400, "unknown_size")
    anonymous = Client().post("/api/imagine", {"prompt": "a castle"}, content_type="application/json")
    assert anonymous.status_code == 401
