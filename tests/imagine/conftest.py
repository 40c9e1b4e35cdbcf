from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from PIL import Image

from assistant.chat.services import create_guest
from assistant.models import User
from assistant.web.consumers import ChatConsumer
from imagine.consumers import ImagineConsumer
from imagine.moderation import check_prompt
from tests.imagine.support import CACHE_URL, imagine_worker

SMALL_SIZES = {"square": (256, 256), "landscape": (320, 256)}  # the invisible mark needs ≥ 256²
RENDER_SECONDS = 90  # a final render on 2 shared cores, the safety check included


class Socket:
    """A WebSocket client of the consumer in this process, speaking ASGI's websocket messages
    (channels.testing needs daphne, which this project does not install)."""

    def __init__(self, user: User) -> None:
        scope = {"type": "websocket", "path": "/ws/imagine", "headers": [], "subprotocols": [], "user": user}
        self.communicator = ApplicationCommunicator(ImagineConsumer.as_asgi(), scope)

    async def connect(self) -> None:
        await self.communicator.send_input({"type": "websocket.connect"})
        accepted = await self.communicator.receive_output(timeout=10)
        assert accepted["type"] == "websocket.accept", accepted

    async def send_json_to(self, frame: dict) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive_output(self, wait_seconds: float) -> dict:
        return await self.communicator.receive_output(timeout=wait_seconds)

    async def disconnect(self) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(timeout=5)


class ChatSocket:
    """The browser's side of the chat WebSocket, speaking ASGI to the consumer in this process."""

    def __init__(self, user: User) -> None:
        scope = {"type": "websocket", "path": "/ws/chat", "headers": [], "query_string": b"", "user": user}
        self.communicator = ApplicationCommunicator(ChatConsumer.as_asgi(), scope)

    async def connect(self) -> None:
        await self.communicator.send_input({"type": "websocket.connect"})
        assert (await self.communicator.receive_output(10))["type"] == "websocket.accept"

    async def send(self, frame: dict) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "text": json.dumps(frame)})

    async def next_frame(self) -> dict:
        return json.loads((await self.communicator.receive_output(RENDER_SECONDS))["text"])

    async def frames_until_done(self) -> list[dict]:
        frames: list[dict] = []
        while not frames or frames[-1]["type"] != "done":
            frames.append(await self.next_frame())
        return frames

    async def close(self) -> None:
        await self.communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.communicator.wait(5)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with imagine_worker(tmp_path_factory.mktemp("imagine")):
        yield


@pytest.fixture(scope="module")
def warm_guard() -> None:
    """The safety check loads its model on first use (seconds to tens of seconds on a busy CPU):
    done once here, so the tests' timeouts measure Imagine, not that."""
    async_to_sync(check_prompt)("a lighthouse")


@pytest.fixture
def imagine_settings(settings, tmp_path: Path):
    """The web side as production runs it: the shared cache on Redis, files in a folder of this
    test, and small sizes so the CPU renders quickly (the web side picks the size)."""
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": CACHE_URL}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMAGINE_SIZES = SMALL_SIZES
    return settings


@pytest.fixture(name="no_decoding_here")  # named apart, so a test module importing it can take its value
def fixture_no_decoding_here(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pillow refuses to open any image in this process, which plays the web process (the imagine
    worker is a process of its own): each attempt is recorded here, and raises."""
    opened: list[str] = []

    def refuse(source: object, *args: object, **kwargs: object) -> NoReturn:
        opened.append(repr(source))
        raise AssertionError("the web process decoded an image")

    monkeypatch.setattr(Image, "open", refuse)
    return opened


@pytest.fixture
def make_user(transactional_db) -> Callable[[], User]:
    return create_guest


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[User], Socket]]:
    """Opens Imagine sockets for users; all are closed after the test."""
    opened: list[Socket] = []

    async def open_socket(user: User) -> Socket:
        socket = Socket(user)
        await socket.connect()
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        await socket.disconnect()


async def receive(socket: Socket, wait_seconds: float = 30) -> dict:
    message = await socket.receive_output(wait_seconds)
    assert message["type"] == "websocket.send", message
    return json.loads(message["text"])


async def receive_until(socket: Socket, done: Callable[[dict], bool], wait_seconds: float = 60) -> list[dict]:
    """Every frame up to and including the first for which `done` is true."""
    frames = []
    while True:
        frames.append(await receive(socket, wait_seconds))
        if done(frames[-1]):
            return frames
