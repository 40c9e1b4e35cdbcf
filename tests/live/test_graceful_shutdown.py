"""A web process that receives SIGTERM (a deploy, a scale-down) in the production shape: its
sockets close, readers resume on the other process, and running answers finish within the grace
period or are saved as interrupted. Nothing a user sent is lost or stored twice."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.support.chat_client import ChatSession, ChatSocket, ServerAddress, ask, joined_tokens, message_frame
from tests.support.deployment import Deployment
from tests.support.processes import free_port, running, web_server_command

pytestmark = pytest.mark.live


@contextmanager
def leaving_web_process(deployment: Deployment, name: str, **settings: str) -> Iterator[LeavingProcess]:
    """A third web process of the deployment, for the test to stop."""
    port = free_port()
    server = ServerAddress(f"http://127.0.0.1:{port}")
    env = {**deployment.env, **settings}
    log = deployment.var_dir / f"web-{name}.log"
    with running(web_server_command(port), env=env, ready_url=f"{server.url}/healthz", log=log) as process:
        yield LeavingProcess(server, process, log)


class LeavingProcess:
    def __init__(self, server: ServerAddress, process: subprocess.Popen[bytes], log: Path) -> None:
        self.server = server
        self.process = process
        self.log = log

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    async def shut_down_cleanly(self, wait_seconds: float) -> bool:
        """Whether the process ran its whole shutdown. uvicorn re-raises SIGTERM once it is done,
        so the exit status is -SIGTERM either way; its log tells a finished shutdown apart."""
        await asyncio.to_thread(self.process.wait, wait_seconds)
        return self.process.returncode == -signal.SIGTERM and "Application shutdown complete" in self.log.read_text()


async def frames_until_closed(socket: ChatSocket) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            frames.append(await socket.recv(wait_seconds=10))
    except websockets.ConnectionClosed:
        return frames


async def test_sigterm_lets_a_running_answer_finish_for_readers_elsewhere(deployment: Deployment) -> None:
    with leaving_web_process(deployment, "drained", ASSISTANT_SHUTDOWN_GRACE_SECONDS="30") as leaving:
        async with ChatSession(deployment.second_web) as session:
            socket = await session.connect(server=leaving.server)
            ack = await ask(socket, "Describe a long walk along the coast.")
            seen = [await socket.recv() for _ in range(3)]
            leaving.terminate()
            seen += await frames_until_closed(socket)  # the process closes its sockets first

            moved = await session.connect()  # the reader reconnects to the other process
            last_seq = max(f["seq"] for f in seen if f["type"] == "token")
            await moved.send({"type": "resume", "message_id": ack["message_id"], "after_seq": last_seq})
            rest = await moved.until_done(ack["message_id"])

            assert rest[-1]["finish_reason"] == "length", "the answer was not allowed to finish"
            seqs, text = joined_tokens([*seen, *rest], ack["message_id"])
            assert seqs == list(range(1, rest[-1]["seq"] + 1))
            stored = (await session.messages(ack["conversation_id"]))[-1]
            assert (stored["status"], stored["content"]) == ("complete", text)
            assert await leaving.shut_down_cleanly(wait_seconds=30)


async def test_answers_still_running_after_the_grace_period_are_saved_as_interrupted(
    deployment: Deployment,
) -> None:
    settings = {"ASSISTANT_SHUTDOWN_GRACE_SECONDS": "1", "MODEL_MAX_TOKENS": "3000"}  # ~30 s of tokens
    with leaving_web_process(deployment, "cut", **settings) as leaving:
        async with ChatSession(deployment.second_web) as session:
            socket = await session.connect(server=leaving.server)
            ack = await ask(socket, "Tell me an endless story.")
            seen = [await socket.recv() for _ in range(3)]
            leaving.terminate()
            seen += await frames_until_closed(socket)
            assert await leaving.shut_down_cleanly(wait_seconds=15)

            stored = (await session.messages(ack["conversation_id"]))[-1]
            assert stored["status"] == "interrupted"
            assert stored["finish_reason"] == "interrupted"
            _, text_seen = joined_tokens(seen, ack["message_id"])
            assert stored["content"].startswith(text_seen), "text the reader saw was not kept"


async def test_a_message_sent_while_the_process_stops_is_stored_once(deployment: Deployment) -> None:
    with leaving_web_process(deployment, "racing") as leaving:
        async with ChatSession(deployment.second_web) as session:
            socket = await session.connect(server=leaving.server)
            frame = message_frame("What is the tallest mountain in Africa?")
            leaving.terminate()
            with contextlib.suppress(websockets.ConnectionClosed):
                await socket.send(frame)  # may reach the stopping process, or not
            await frames_until_closed(socket)

            retry = await session.connect()  # the page retries on the other process, same client_id
            await retry.send(frame)
            ack = await retry.recv()
            assert ack["type"] == "ack", ack
            done = (await retry.until_done(ack["message_id"]))[-1]
            assert done["finish_reason"] in {"stop", "length"}

            stored = await session.messages(ack["conversation_id"])
            assert [m["content"] for m in stored if m["role"] == "user"] == [frame["text"]]
            assert [m["id"] for m in stored if m["role"] == "assistant"] == [ack["message_id"]]
