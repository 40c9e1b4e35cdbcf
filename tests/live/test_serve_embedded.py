"""`make run`'s command: `manage.py serve_embedded` starts the content guard's process, the model,
the workers and the web server, prints the URL, serves a chat turn (checked by the guard's process:
the web process never loads the classifier), and stops them all on SIGTERM."""

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
from assistant.management.commands.serve_embedded import runs_the_embedded_guard
from tests.support.chat_client import ChatSession, ServerAddress, ask, joined_tokens
from tests.support.processes import ROOT, free_ports, maps_onnxruntime, migrate, product_env

pytestmark = pytest.mark.live

START_TIMEOUT_SECONDS = 240  # the guard loading its classifier, the model, the workers and the web server


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


def children(process: subprocess.Popen[bytes]) -> dict[str, int]:
    """The command's child processes by what they run (Linux's /proc): `uvicorn`, `safety.guard_server`…"""
    found: dict[str, int] = {}
    for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split():
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        found[arguments[2].decode()] = int(pid)  # python -m <module>
    return found


# Five processes start one after another on a shared machine: the start may take START_TIMEOUT_SECONDS.
@pytest.mark.timeout(START_TIMEOUT_SECONDS + 60)
def test_one_command_runs_the_whole_product(tmp_path: Path) -> None:
    model_port, web_port, guard_port = free_ports(3)
    env = product_env(
        tmp_path,
        MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
        MODEL_MAX_TOKENS="48",
        SAFETY_EMBEDDED_GUARD_PORT=str(guard_port),
    )
    migrate(env)
    command = [sys.executable, "manage.py", "serve_embedded", "--port", str(web_port)]
    log = tmp_path / "serve_embedded.log"
    # A file, not a pipe: the children write to it for the whole test and must never block.
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for_output(process, log, f"ready at http://127.0.0.1:{web_port}/")
        answer, title = asyncio.run(chat_turn_with_title(ServerAddress(f"http://127.0.0.1:{web_port}")))
        assert answer.strip()
        assert title != provisional_title("Give me three tips for learning to play the guitar"), "no worker ran"
        running = children(process)
        assert maps_onnxruntime(running["safety.guard_server"])
        assert not maps_onnxruntime(running["uvicorn"]), "the web process loaded the classifier"
        assert httpx.get(f"http://127.0.0.1:{guard_port}/health", timeout=2).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)  # each process after the one before, each given up to 10 s

    assert process.returncode == 0, log.read_text()
    log_text = log.read_text()
    assert log_text.index("starting guard") < log_text.index("starting worker") < log_text.index("starting web")
    for port in (model_port, web_port, guard_port):
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_the_guard_process_is_started_by_default(settings) -> None:
    assert runs_the_embedded_guard()


@pytest.mark.parametrize(
    "operators_choice",
    [
        {"SAFETY_GUARD_BASE_URL": "http://guard:8000/v1"},
        {"SAFETY_GUARD_GGUF": "/models/guard.gguf"},
        {"SAFETY_CHECKS": False},
    ],
    ids=["a guard server", "a GGUF guard", "checks off"],
)
def test_no_guard_process_when_the_operator_chose_another_guard_or_none(settings, operators_choice: dict) -> None:
    for name, value in operators_choice.items():
        setattr(settings, name, value)
    assert not runs_the_embedded_guard()
