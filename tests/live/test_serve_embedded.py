"""`make run`'s command: `manage.py serve_embedded` starts the model, a worker and the web server,
prints the URL, serves a chat turn, and stops all three on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.chat.services import provisional_title
from tests.support.chat_client import ChatSession, ServerAddress, ask, joined_tokens
from tests.support.processes import ROOT, free_ports, migrate, product_env

pytestmark = pytest.mark.live

START_TIMEOUT_SECONDS = 240  # model, workers, and the web server warming its content guard


def wait_for_output(process: subprocess.Popen[bytes], log: Path, needle: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while needle not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise AssertionError(f"serve_embedded exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} within {START_TIMEOUT_SECONDS}s:\n{log.read_text()}")
        time.sleep(0.1)


async def chat_turn_with_title(server: ServerAddress) -> tuple[str, str]:
    """One turn through the web server; returns the answer and the title the worker gave it."""
    async with ChatSession(server) as session:
        socket = await session.connect()
        text = "Give me three tips for learning to play the guitar"
        ack = await ask(socket, text)
        frames = await socket.until_done(ack["message_id"])
        _, answer = joined_tokens(frames, ack["message_id"])
        return answer, await session.title_after_change(ack["conversation_id"], provisional_title(text))


def test_one_command_runs_the_whole_product(tmp_path: Path) -> None:
    model_port, web_port = free_ports(2)
    env = product_env(tmp_path, MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1", MODEL_MAX_TOKENS="48")
    migrate(env)
    command = [sys.executable, "manage.py", "serve_embedded", "--port", str(web_port)]
    log = tmp_path / "serve_embedded.log"
    # A file, not a pipe: the three children write to it for the whole test and must never block.
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for_output(process, log, f"ready at http://127.0.0.1:{web_port}/")
        answer, title = asyncio.run(chat_turn_with_title(ServerAddress(f"http://127.0.0.1:{web_port}")))
        assert answer.strip()
        assert title != provisional_title("Give me three tips for learning to play the guitar"), "no worker ran"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    assert process.returncode == 0, log.read_text()
    for port in (model_port, web_port):
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
