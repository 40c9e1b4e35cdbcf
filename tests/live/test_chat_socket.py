"""The web chat end to end: a real uvicorn server, real WebSockets, the real embedded model."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
import websockets

from tests.support.chat_client import ChatSession, ServerAddress, ask, joined_tokens, message_frame

pytestmark = pytest.mark.live


async def test_answer_streams_in_order_and_matches_stored_text(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        ack = await ask(socket, "What is the capital of France?")
        frames = await socket.until_done(ack["message_id"])
        seqs, text = joined_tokens(frames, ack["message_id"])
        done = frames[-1]

        assert seqs == list(range(1, len(seqs) + 1))
        assert text.strip()
        assert done["seq"] == len(seqs)
        assert done["finish_reason"] in {"stop", "length"}
        assert done["usage"]["prompt_tokens"] > 0
        assert done["usage"]["completion_tokens"] > 0
        user, answer = await session.messages(ack["conversation_id"])
        assert (user["role"], user["content"]) == ("user", "What is the capital of France?")
        assert (answer["id"], answer["content"], answer["status"], answer["seq"]) == (
            ack["message_id"],
            text,
            "complete",
            len(seqs),
        )
        await socket.close()


async def test_follow_up_uses_the_same_conversation(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        first = await ask(socket, "My name is Ada.")
        await socket.until_done(first["message_id"])
        second = await ask(socket, "What is my name?", conversation_id=first["conversation_id"])
        done = (await socket.until_done(second["message_id"]))[-1]
        assert second["conversation_id"] == first["conversation_id"]
        assert done["usage"]["prompt_tokens"] > 0
        roles = [m["role"] for m in await session.messages(first["conversation_id"])]
        assert roles == ["user", "assistant", "user", "assistant"]


async def test_stop_cancels_quickly_and_keeps_partial_answer(endless_chat_server: ServerAddress) -> None:
    async with ChatSession(endless_chat_server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Tell me a long story.")
        frames = [await socket.recv() for _ in range(5)]
        stop_sent = time.monotonic()
        await socket.send({"type": "stop", "message_id": ack["message_id"]})
        frames = await socket.until_done(ack["message_id"], frames)
        stop_to_done = time.monotonic() - stop_sent
        seqs, text = joined_tokens(frames, ack["message_id"])

        assert frames[-1]["finish_reason"] == "cancelled"
        assert seqs == list(range(1, len(seqs) + 1))
        # 400 tokens take ~4 s; a stop that did not cancel generation would wait for all of them.
        assert stop_to_done < 1.0, f"done came {stop_to_done:.3f}s after stop"
        assert len(seqs) < 100
        stored = (await session.messages(ack["conversation_id"]))[-1]
        assert (stored["status"], stored["content"], stored["seq"]) == ("cancelled", text, len(seqs))


async def test_reconnect_resumes_after_last_seen_frame(endless_chat_server: ServerAddress) -> None:
    async with ChatSession(endless_chat_server) as session:
        first_socket = await session.connect()
        ack = await ask(first_socket, "Describe the sea.")
        seen = [await first_socket.recv() for _ in range(4)]
        await first_socket.close()  # the page reloads mid-answer
        last_seen = seen[-1]["seq"]

        second_socket = await session.connect()
        await second_socket.send({"type": "resume", "message_id": ack["message_id"], "after_seq": last_seen})
        rest = await second_socket.until_done(ack["message_id"])

        resumed_seqs, resumed_text = joined_tokens(rest, ack["message_id"])
        assert resumed_seqs == list(range(last_seen + 1, rest[-1]["seq"] + 1))
        assert rest[-1]["finish_reason"] == "length"
        stored = (await session.messages(ack["conversation_id"]))[-1]
        assert stored["content"] == "".join(f["text"] for f in seen) + resumed_text


async def test_resume_of_finished_answer_replays_missing_frames(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Say hello.")
        frames = await socket.until_done(ack["message_id"])
        seqs, text = joined_tokens(frames, ack["message_id"])
        await socket.send({"type": "resume", "message_id": ack["message_id"], "after_seq": 1})
        replay = await socket.until_done(ack["message_id"])
        replay_seqs, replay_text = joined_tokens(replay, ack["message_id"])
        first_frame = next(f for f in frames if f["type"] == "token")
        assert replay_seqs == seqs[1:]
        assert first_frame["seq"] == 1
        assert first_frame["text"] + replay_text == text
        assert replay[-1] == frames[-1]


async def test_retried_message_is_stored_once(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        frame = message_frame("Count to three.")
        await socket.send(frame)
        ack = await socket.recv()
        original = await socket.until_done(ack["message_id"])
        await socket.send(frame)  # the same client_id, as after a lost connection
        retry_ack = await socket.recv()
        retry = await socket.until_done(retry_ack["message_id"])

        assert retry_ack == ack
        assert joined_tokens(retry, ack["message_id"]) == joined_tokens(original, ack["message_id"])
        assert len(await session.messages(ack["conversation_id"])) == 2


async def test_regenerate_supersedes_previous_answer(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Name a colour.")
        await socket.until_done(ack["message_id"])
        await socket.send({"type": "regenerate", "conversation_id": ack["conversation_id"]})
        regen_ack = await socket.recv()
        frames = await socket.until_done(regen_ack["message_id"])

        assert regen_ack["type"] == "ack"
        assert regen_ack["user_message_id"] == ack["user_message_id"]
        assert regen_ack["message_id"] != ack["message_id"]
        visible = await session.messages(ack["conversation_id"])
        assert [m["id"] for m in visible] == [ack["user_message_id"], regen_ack["message_id"]]
        assert visible[-1]["content"] == joined_tokens(frames, regen_ack["message_id"])[1]


async def test_two_conversations_stream_at_once(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        first = await ask(socket, "Tell me about cats.")
        second = await ask(socket, "Tell me about dogs.")
        assert first["conversation_id"] != second["conversation_id"]
        frames: list[dict[str, Any]] = []
        finished: set[int] = set()
        while finished != {first["message_id"], second["message_id"]}:
            frame = await socket.recv()
            frames.append(frame)
            if frame["type"] == "done":
                finished.add(frame["message_id"])
        for ack in (first, second):
            seqs, text = joined_tokens(frames, ack["message_id"])
            assert seqs == list(range(1, len(seqs) + 1))
            assert (await session.messages(ack["conversation_id"]))[-1]["content"] == text


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"type": "shout"}), "unknown_type"),
        (json.dumps({"type": "message", "text": "hi"}), "invalid_frame"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "x", "extra": 1}), "invalid_frame"),
        (json.dumps({"type": "message", "text": "   ", "client_id": "x"}), "empty_text"),
        (json.dumps({"type": "message", "text": "a" * 8001, "client_id": "x"}), "text_too_long"),
        (json.dumps({"type": "stop", "message_id": "seven"}), "invalid_frame"),
        (json.dumps({"type": "resume", "message_id": 1, "after_seq": -1}), "invalid_frame"),
        (json.dumps({"type": "stop", "message_id": 999999}), "not_found"),
        (json.dumps({"type": "regenerate", "conversation_id": 999999}), "not_found"),
        (json.dumps({"type": "message", "conversation_id": 999999, "text": "hi", "client_id": "y"}), "not_found"),
    ],
)
async def test_bad_frame_gets_specific_error_and_socket_stays_open(
    chat_server: ServerAddress, frame: str, code: str
) -> None:
    async with ChatSession(chat_server) as session:
        socket = await session.connect()
        await socket.send(frame)
        error = await socket.recv()
        assert (error["type"], error["code"]) == ("error", code)
        assert error["detail"].endswith(".")
        ack = await ask(socket, "Still there?")  # the socket still works
        await socket.until_done(ack["message_id"])
        conversations = (await session.api("GET", "/api/conversations")).json()["conversations"]
        assert len(conversations) == 1  # the bad frame stored nothing


async def test_second_message_while_streaming_is_refused(endless_chat_server: ServerAddress) -> None:
    async with ChatSession(endless_chat_server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Write an essay.")
        await socket.send(message_frame("And another thing", ack["conversation_id"], client_id="second"))
        await socket.send({"type": "regenerate", "conversation_id": ack["conversation_id"]})
        frames: list[dict[str, Any]] = []
        errors = []
        while len(errors) < 2:
            frame = await socket.recv()
            (errors if frame["type"] == "error" else frames).append(frame)
        await socket.send({"type": "stop", "message_id": ack["message_id"]})
        await socket.until_done(ack["message_id"], frames)

        assert [e["code"] for e in errors] == ["turn_in_progress", "turn_in_progress"]
        assert errors[0]["client_id"] == "second"
        stored = await session.messages(ack["conversation_id"])
        assert [m["role"] for m in stored] == ["user", "assistant"]


async def test_other_users_conversation_is_not_found(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as alice, ChatSession(chat_server) as mallory:
        alice_socket = await alice.connect()
        ack = await ask(alice_socket, "A private question.")
        await alice_socket.until_done(ack["message_id"])

        socket = await mallory.connect()
        for frame in (
            message_frame("let me in", ack["conversation_id"]),
            {"type": "resume", "message_id": ack["message_id"], "after_seq": 0},
            {"type": "regenerate", "conversation_id": ack["conversation_id"]},
        ):
            await socket.send(frame)
            assert (await socket.recv())["code"] == "not_found"
        assert (await mallory.api("GET", f"/api/conversations/{ack['conversation_id']}/messages")).status_code == 404
        assert len(await alice.messages(ack["conversation_id"])) == 2


async def test_socket_without_session_or_from_foreign_origin_is_refused(chat_server: ServerAddress) -> None:
    async with ChatSession(chat_server) as session:
        with pytest.raises(websockets.InvalidStatus) as foreign:
            await session.connect(origin="http://evil.example")
        assert foreign.value.response.status_code == 403
        anonymous = await session.connect(with_cookies=False)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await anonymous.recv(wait_seconds=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401


async def test_many_frames_are_coalesced(endless_chat_server: ServerAddress) -> None:
    """400 tokens at ~100 tokens/s: frames never come faster than one per ~10 ms."""
    async with ChatSession(endless_chat_server) as session:
        socket = await session.connect()
        await ask(socket, "Go on and on.")
        arrivals = []
        while True:
            frame = await socket.recv()
            arrivals.append(time.monotonic())
            if frame["type"] == "done":
                break
        gaps = [b - a for a, b in itertools.pairwise(arrivals[:-1])]  # token frames only
        assert len(arrivals) > 50
        assert sorted(gaps)[len(gaps) // 2] >= 0.008
