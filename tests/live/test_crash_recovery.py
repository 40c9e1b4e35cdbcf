"""A web process that dies mid-answer loses at most one save interval of text, and the answer is
reported as interrupted by the next process that is asked about it."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.processes import NEVER_STOP_BIAS, free_port, migrate, product_env, running, web_server_command

pytestmark = pytest.mark.live


async def test_killed_process_leaves_saved_text_and_resume_reports_interrupted(
    embedded_model: str, tmp_path: Path
) -> None:
    env = product_env(
        tmp_path,
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="2000",
        MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
        ASSISTANT_MODEL_TITLES="false",
    )
    migrate(env)
    port = free_port()
    server = ServerAddress(f"http://127.0.0.1:{port}")
    session = ChatSession(server)  # its guest session lives in the database both processes share
    try:
        with running(web_server_command(port), env=env, ready_url=f"{server.url}/healthz", log=tmp_path / "a.log") as a:
            await session.__aenter__()
            socket = await session.connect()
            await socket.send({"type": "message", "conversation_id": None, "text": "Go on.", "client_id": "k"})
            ack = await socket.recv()
            seen = [await socket.recv() for _ in range(30)]
            await asyncio.sleep(0.6)  # at least two save intervals pass while tokens keep coming
            a.send_signal(signal.SIGKILL)
            a.wait()

        with running(web_server_command(port), env=env, ready_url=f"{server.url}/healthz", log=tmp_path / "b.log"):
            stored = (await session.messages(ack["conversation_id"]))[-1]
            assert stored["status"] == "streaming"
            assert stored["seq"] >= len(seen)  # everything seen 0.6 s before the kill was saved
            socket = await session.connect()
            await socket.send({"type": "resume", "message_id": ack["message_id"], "after_seq": 0})
            frames = await socket.until_done(ack["message_id"])
    finally:
        await session.__aexit__(None, None, None)

    done = frames[-1]
    replayed = [f for f in frames if f["type"] == "token"]
    assert done["finish_reason"] == "interrupted"
    assert [f["seq"] for f in replayed] == list(range(1, done["seq"] + 1))
    assert "".join(f["text"] for f in replayed[: len(seen)]) == "".join(f["text"] for f in seen)
    assert "".join(f["text"] for f in replayed) == stored["content"]
