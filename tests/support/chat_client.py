"""A black-box client of the running product: a guest's session, its WebSocket and REST calls."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

FRAME_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ServerAddress:
    url: str  # http://127.0.0.1:PORT
    env: dict[str, str] = field(default_factory=dict, compare=False)  # the server's environment, for manage.py

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws/chat"


class ChatSocket:
    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, wait_seconds: float = FRAME_TIMEOUT_SECONDS) -> dict[str, Any]:
        async with asyncio.timeout(wait_seconds):
            return json.loads(await self.connection.recv())

    async def until_done(self, message_id: int, frames: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Collect frames until the `done` of `message_id`; returns everything received."""
        frames = frames if frames is not None else []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == "done" and frame["message_id"] == message_id:
                return frames

    async def close(self) -> None:
        await self.connection.close()


class ChatSession:
    """One browser: the chat page makes it a guest; the cookies then open sockets and REST calls."""

    def __init__(self, server: ServerAddress) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=30)

    async def __aenter__(self) -> ChatSession:
        response = await self.http.get("/")
        response.raise_for_status()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    async def connect(
        self, *, origin: str | None = None, with_cookies: bool = True, server: ServerAddress | None = None
    ) -> ChatSocket:
        """Open a socket as this browser, to its own server or (same session) to another web process."""
        server = server or self.server
        headers = {"Origin": origin or server.url}
        if with_cookies:
            headers["Cookie"] = self.cookie_header
        return ChatSocket(await websockets.connect(server.ws_url, additional_headers=headers))

    async def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", "")}
        return await self.http.request(method, path, json=body, headers=headers)

    async def title_after_change(self, conversation_id: int, provisional: str, wait_seconds: float = 30) -> str:
        """The conversation's title once it differs from `provisional`, or as it is after the wait."""
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            response = await self.api("GET", f"/api/conversations/{conversation_id}")
            response.raise_for_status()
            title = response.json()["title"]
            if title != provisional or asyncio.get_running_loop().time() > deadline:
                return title
            await asyncio.sleep(0.2)

    async def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        response = await self.api("GET", f"/api/conversations/{conversation_id}/messages")
        response.raise_for_status()
        return response.json()["messages"]


def message_frame(text: str, conversation_id: int | None = None, client_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation_id": conversation_id,
        "text": text,
        "client_id": client_id or uuid.uuid4().hex,
    }


def joined_tokens(frames: list[dict[str, Any]], message_id: int) -> tuple[list[int], str]:
    tokens = [f for f in frames if f["type"] == "token" and f["message_id"] == message_id]
    return [f["seq"] for f in tokens], "".join(f["text"] for f in tokens)


async def ask(socket: ChatSocket, text: str, conversation_id: int | None = None) -> dict[str, Any]:
    await socket.send(message_frame(text, conversation_id))
    ack = await socket.recv()
    assert ack["type"] == "ack", ack
    return ack
