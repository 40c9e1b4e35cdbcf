"""The model service killed or stalled under a running web process: the user gets a clear error in
bounded time, the partial answer is kept and marked, the socket stays usable, nothing is left
running against the model, and the web process recovers without a restart.

The model service is a real server on loopback speaking vLLM's wire format (tests/support/fake_openai.py):
- for the kill, run as its own process, answering with paced tokens that spend no CPU, so the
  SIGKILL lands mid-answer whatever the machine's load and the restart on the same port takes a
  second (the embedded llama.cpp server would compete for the two cores and load for seconds);
- for the stalls, inside the test and scripted per request, so the test also sees when the web
  process hangs up on the model.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.chat_client import ChatSession, ChatSocket, ServerAddress, ask, joined_tokens
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import free_ports, manage, migrate, product_env, running, web_server_command

pytestmark = pytest.mark.live

READ_TIMEOUT_SECONDS = 3  # MODEL_READ_TIMEOUT: the longest silence once text streams
FIRST_TOKEN_TIMEOUT_SECONDS = 5  # MODEL_FIRST_TOKEN_TIMEOUT: request to first token, retries included
HANG_GUARD_SECONDS = FIRST_TOKEN_TIMEOUT_SECONDS + 10  # past this, the server is hanging
STALL_SECONDS = 120.0  # longer than any test: the model never goes on by itself


@dataclass(frozen=True)
class WebProcess:
    server: ServerAddress
    pid: int
    model_port: int

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}/v1"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """A real web process whose model service is expected on a fixed loopback port; each test
    puts its own model server there (or nothing)."""
    model_port, web_port = free_ports(2)
    var_dir = tmp_path_factory.mktemp("model-faults")
    env = product_env(
        var_dir,
        MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
        MODEL_READ_TIMEOUT=str(READ_TIMEOUT_SECONDS),
        MODEL_FIRST_TOKEN_TIMEOUT=str(FIRST_TOKEN_TIMEOUT_SECONDS),
        ASSISTANT_MODEL_TITLES="false",
    )
    migrate(env)
    url = f"http://127.0.0.1:{web_port}"
    with running(web_server_command(web_port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log") as process:
        yield WebProcess(ServerAddress(url, env=env), process.pid, model_port)


def model_process(port: int, *, tokens: int) -> list[str]:
    """The fake vLLM as a process: every answer is `tokens` chunks of " word", 50 a second."""
    fake = [sys.executable, "-m", "tests.support.fake_openai"]
    return [*fake, "--port", str(port), "--tokens", str(tokens), "--rate", "50"]


def open_model_connections(web: WebProcess) -> int:
    """TCP connections the web process holds open to the model service (a hung request holds one)."""
    connections = psutil.Process(web.pid).net_connections(kind="tcp")
    return sum(1 for c in connections if c.raddr and c.raddr.port == web.model_port and c.status == "ESTABLISHED")


async def active_answers(session: ChatSession) -> float:
    """The web process's own count of answers it is generating (/metrics)."""
    response = await session.http.get("/metrics")
    [line] = [line for line in response.text.splitlines() if line.startswith("assistant_active_answers ")]
    return float(line.split()[1])


async def finished(socket: ChatSocket, message_id: int) -> list[dict[str, Any]]:
    """Frames until the answer's `done`, which must come before the server could be said to hang."""
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await socket.until_done(message_id)


async def stored_answer(session: ChatSession, conversation_id: int) -> dict[str, Any]:
    return (await session.messages(conversation_id))[-1]


async def assert_nothing_left_running(web: WebProcess, session: ChatSession) -> None:
    assert open_model_connections(web) == 0
    assert await active_answers(session) == 0


async def test_model_killed_mid_answer_gives_model_error_and_recovers_after_restart(
    web: WebProcess, tmp_path: Path
) -> None:
    ready_url = f"{web.model_url}/models"
    async with ChatSession(web.server) as session:
        socket = await session.connect()
        with running(
            model_process(web.model_port, tokens=5000),
            env=dict(os.environ),
            ready_url=ready_url,
            log=tmp_path / "model-a.log",
        ) as model:
            ack = await ask(socket, "Tell me a long story.")
            seen = [await socket.recv() for _ in range(10)]
            assert open_model_connections(web) == 1  # what the checks below count is there while streaming
            assert await active_answers(session) == 1
            model.send_signal(signal.SIGKILL)
            model.wait()
            frames = await finished(socket, ack["message_id"])

        done = frames[-1]
        seqs, text = joined_tokens(seen + frames, ack["message_id"])
        assert {f["type"] for f in seen} == {"token"}
        assert (done["finish_reason"], done["error_code"]) == ("error", "model_error")
        assert done["error"] == "The model service stopped in the middle of the answer."
        assert seqs == list(range(1, done["seq"] + 1))
        stored = await stored_answer(session, ack["conversation_id"])
        assert (stored["status"], stored["finish_reason"], stored["content"]) == ("error", "error", text)
        assert text.startswith(" word" * 10)
        await assert_nothing_left_running(web, session)

        # Down: the same socket gets a clear refusal at once, and readiness says why.
        down = await ask(socket, "Are you there?", ack["conversation_id"])
        done = (await finished(socket, down["message_id"]))[-1]
        assert (done["finish_reason"], done["error_code"]) == ("error", "model_unavailable")
        assert done["error"] == "The model service is not answering. Please try again shortly."
        ready = (await session.http.get("/readyz")).json()
        assert ready["checks"]["model_service"].startswith("failed")

        # Restarted on the same port: the next message is answered, the web process untouched.
        with running(
            model_process(web.model_port, tokens=6),
            env=dict(os.environ),
            ready_url=ready_url,
            log=tmp_path / "model-b.log",
        ):
            again = await ask(socket, "Are you back?", ack["conversation_id"])
            frames = await finished(socket, again["message_id"])
            ready = (await session.http.get("/readyz")).json()
        assert frames[-1]["finish_reason"] == "length"
        assert joined_tokens(frames, again["message_id"])[1] == " word" * 6
        assert ready["checks"]["model_service"] == "ok"


STALLS = {
    "before_first_token": (
        Reply(stall_before_first=STALL_SECONDS),
        "model_unavailable",
        f"The model service did not start answering within {FIRST_TOKEN_TIMEOUT_SECONDS} seconds.",
        "",
    ),
    "between_tokens": (
        Reply(texts=("Hello", ",", " world"), stall_between=STALL_SECONDS),
        "model_error",
        f"The model service sent nothing for {READ_TIMEOUT_SECONDS} seconds in the middle of the answer.",
        "Hello",
    ),
}


@pytest.mark.parametrize("stall", STALLS.keys())
async def test_stalled_model_gives_a_timeout_error_and_the_socket_goes_on(web: WebProcess, stall: str) -> None:
    reply, code, detail, kept_text = STALLS[stall]
    async with FakeOpenAI(default=reply, port=web.model_port) as model, ChatSession(web.server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Hello?")
        frames = await finished(socket, ack["message_id"])

        done = frames[-1]
        assert (done["finish_reason"], done["error_code"]) == ("error", code)
        assert done["error"].startswith(detail)
        assert joined_tokens(frames, ack["message_id"])[1] == kept_text
        stored = await stored_answer(session, ack["conversation_id"])
        assert (stored["status"], stored["content"]) == ("error", kept_text)
        for request in model.requests:  # every attempt was hung up on, none left waiting
            await asyncio.wait_for(request.disconnected.wait(), 5)
        await assert_nothing_left_running(web, session)

        model.default = Reply()
        again = await ask(socket, "Hello again?", ack["conversation_id"])
        frames = await finished(socket, again["message_id"])
        assert frames[-1]["finish_reason"] == "stop"
        assert joined_tokens(frames, again["message_id"])[1] == "Hello, world!"


@pytest.mark.parametrize("stall", STALLS.keys())
async def test_stop_during_a_stall_ends_the_turn_at_once(web: WebProcess, stall: str) -> None:
    reply, _, _, kept_text = STALLS[stall]
    async with FakeOpenAI(default=reply, port=web.model_port) as model, ChatSession(web.server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Hello?")
        if kept_text:
            assert (await socket.recv())["type"] == "token"
        await model.until_requests(1)
        await socket.send({"type": "stop", "message_id": ack["message_id"]})
        frames = await finished(socket, ack["message_id"])

        # `cancelled`, not a timeout's `error`: the stop ended it, well before any timeout could.
        assert frames[-1]["finish_reason"] == "cancelled"
        stored = await stored_answer(session, ack["conversation_id"])
        assert (stored["status"], stored["content"]) == ("cancelled", kept_text)
        [request] = model.requests
        await asyncio.wait_for(request.disconnected.wait(), 5)
        await assert_nothing_left_running(web, session)


@pytest.fixture(scope="module")
def api_key(web: WebProcess) -> str:
    return manage(web.server.env, "create_api_key", f"bot-{uuid.uuid4().hex[:8]}", "--name", "faults").strip()


async def complete(web: WebProcess, api_key: str, *, stream: bool) -> httpx.Response:
    body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=web.server.url, timeout=HANG_GUARD_SECONDS) as http:
        return await http.post("/v1/chat/completions", json=body, headers=headers)


@pytest.mark.parametrize(
    ("stall", "stream", "status"),
    [("before_first_token", True, 503), ("before_first_token", False, 503), ("between_tokens", False, 502)],
)
async def test_api_answers_a_stall_with_an_openai_error(
    web: WebProcess, api_key: str, stall: str, stream: bool, status: int
) -> None:
    reply, code, detail, _ = STALLS[stall]
    async with FakeOpenAI(default=reply, port=web.model_port):
        response = await complete(web, api_key, stream=stream)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", code)
    assert error["message"].startswith(detail)


async def test_api_stream_that_stalls_midway_ends_with_an_error_event(web: WebProcess, api_key: str) -> None:
    reply, code, detail, kept_text = STALLS["between_tokens"]
    async with FakeOpenAI(default=reply, port=web.model_port):
        response = await complete(web, api_key, stream=True)

    assert response.status_code == 200  # the headers went out with the first token
    events = [json.loads(line.removeprefix("data: ")) for line in response.text.split("\n\n") if line]
    *chunks, last = events
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == kept_text
    assert (last["error"]["code"], last["error"]["type"]) == (code, "server_error")
    assert last["error"]["message"].startswith(detail)
