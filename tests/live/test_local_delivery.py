"""Frames handed over inside the web process (assistant/engine/sinks.py): a socket in the runner's
own process gets them with no channel layer on the way, a socket on another process through Redis,
and a socket that reads nothing holds back neither the runner nor the other sockets.

On the production shape (the `deployment` fixture: two web processes, Redis, PostgreSQL). The
answer groups' traffic is watched on Redis itself, where the pub/sub channel layer publishes it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
import websockets

from config.backends import redis_prefix
from tests.support.chat_client import ChatSession, ChatSocket, ask, joined_tokens
from tests.support.deployment import REDIS_URL, Deployment

pytestmark = pytest.mark.live

# Enough stored answers replayed to a socket that reads nothing to fill every buffer on the way
# (its kernel's, the server's, uvicorn's): its consumer then waits in `send`.
UNREAD_REPLAYS = 100
# Frames another socket must receive while that one reads nothing: about 10 s of tokens on a busy
# machine, well inside the server's keepalive (uvicorn pings every 20 s and closes a socket that has
# not answered 20 s later; a socket that reads nothing answers no ping).
FRAMES_WHILE_STALLED = 50


@pytest.fixture
async def answer_group_traffic(deployment: Deployment) -> AsyncIterator[redis.asyncio.client.PubSub]:
    """Every message the channel layer publishes to an answer's group (`answer.<id>`)."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.psubscribe(f"{redis_prefix(deployment.env['CHANNEL_LAYER_URL'])}__group__answer.*")
    yield pubsub
    await pubsub.aclose()
    await client.aclose()


async def published_for(pubsub: redis.asyncio.client.PubSub, message_id: int, wait_seconds: float = 0.5) -> int:
    """How many messages reached the group of `message_id` since the last call."""
    count = 0
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_seconds)) is not None:
        count += message["channel"].decode().endswith(f"__group__answer.{message_id}")
    return count


def assert_whole(frames: list[dict[str, Any]], message_id: int, stored: str) -> None:
    seqs, text = joined_tokens(frames, message_id)
    assert seqs == list(range(1, len(seqs) + 1)), "frames were lost or repeated"
    assert text == stored
    assert (frames[-1]["type"], frames[-1]["seq"]) == ("done", len(seqs))


async def test_a_local_socket_skips_the_channel_layer_until_another_process_follows(
    deployment: Deployment, answer_group_traffic: redis.asyncio.client.PubSub
) -> None:
    async with ChatSession(deployment.first_web) as session:
        asker = await session.connect()
        # The server declines the client's offer of per-message deflate (frames are ~100 bytes).
        assert "Sec-WebSocket-Extensions" not in asker.connection.response.headers
        ack = await ask(asker, "Describe the mountains of Norway.")
        message_id = ack["message_id"]
        seen = [await asker.recv() for _ in range(3)]
        assert await published_for(answer_group_traffic, message_id) == 0, "local frames went through Redis"

        elsewhere = await session.connect(server=deployment.second_web)
        await elsewhere.send({"type": "resume", "message_id": message_id, "after_seq": 0})
        asked, followed = await asyncio.gather(asker.until_done(message_id, seen), elsewhere.until_done(message_id))

        stored = (await session.messages(ack["conversation_id"]))[-1]["content"]
        assert_whole(asked, message_id, stored)
        assert_whole(followed, message_id, stored)
        assert await published_for(answer_group_traffic, message_id) > 0, "the other process's socket had no group"


async def unread_socket(session: ChatSession) -> ChatSocket:
    """A socket whose client reads nothing: a tiny receive buffer, and the library's queue of one."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = session.server.url.removeprefix("http://").split(":")
    raw.connect((host, int(port)))
    headers = {"Origin": session.server.url, "Cookie": session.cookie_header}
    # No pings of its own: their answers would wait unread behind the frames it does not read.
    connection = await websockets.connect(
        session.server.ws_url, additional_headers=headers, sock=raw, max_queue=1, ping_interval=None
    )
    return ChatSocket(connection)


async def test_a_socket_that_reads_nothing_holds_back_no_other_socket(deployment: Deployment) -> None:
    async with ChatSession(deployment.first_web) as session:
        reader = await session.connect()
        earlier = await ask(reader, "Tell me a long story about a ship.")
        await reader.until_done(earlier["message_id"])

        ack = await ask(reader, "Describe the mountains of Norway.")
        message_id = ack["message_id"]
        stalled = await unread_socket(session)
        await stalled.send({"type": "resume", "message_id": message_id, "after_seq": 0})
        for _ in range(UNREAD_REPLAYS):  # its consumer ends up waiting in `send`, this answer followed
            await stalled.send({"type": "resume", "message_id": earlier["message_id"], "after_seq": 0})

        seen: list[dict[str, Any]] = []  # the answer's frames, and any other (a title) that comes
        while sum(frame.get("message_id") == message_id for frame in seen) < FRAMES_WHILE_STALLED:
            seen.append(await reader.recv())

        # Then the stalled socket reads too: neither has lost anything.
        frames, behind = await asyncio.gather(reader.until_done(message_id, seen), stalled.until_done(message_id))
        stored = (await session.messages(ack["conversation_id"]))[-1]["content"]
        assert_whole(frames, message_id, stored)
        assert_whole([f for f in behind if f.get("message_id") == message_id], message_id, stored)
