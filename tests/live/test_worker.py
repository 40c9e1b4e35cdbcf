"""A real Celery worker on the embedded (filesystem) broker titles new conversations, and one
turn id follows the turn through the web process, the worker and the model calls (JSON logs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.chat.services import provisional_title
from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker")


@pytest.fixture(scope="module")
def web_and_worker(embedded_model: str, logs: Path) -> Iterator[ServerAddress]:
    var_dir = logs
    env = product_env(
        var_dir, MODEL_BASE_URL=embedded_model, MODEL_MAX_TOKENS="64", ASSISTANT_MODEL_TITLES="true", LOG_FORMAT="json"
    )
    migrate(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    web = web_server_command(port)
    worker = worker_command()
    with (
        running(worker, env=env, log=var_dir / "worker.log"),
        running(web, env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"),
    ):
        yield ServerAddress(url)


async def test_worker_replaces_provisional_title(web_and_worker: ServerAddress) -> None:
    async with ChatSession(web_and_worker) as session:
        socket = await session.connect()
        text = "Explain how volcanoes form and why some of them erupt violently"
        await socket.send({"type": "message", "conversation_id": None, "text": text, "client_id": "t1"})
        ack = await socket.recv()
        await socket.until_done(ack["message_id"])
        provisional = provisional_title(text)
        # Worker start-up plus one short generation.
        title = await session.title_after_change(ack["conversation_id"], provisional)
        assert title != provisional
        assert 0 < len(title) <= 200


def json_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def test_one_turn_id_follows_the_turn_through_web_worker_and_model(
    web_and_worker: ServerAddress, logs: Path
) -> None:
    async with ChatSession(web_and_worker) as session:
        socket = await session.connect()
        text = "Suggest a name for a small bakery by the sea"
        await socket.send({"type": "message", "conversation_id": None, "text": text, "client_id": "turn-id"})
        ack = await socket.recv()
        await socket.until_done(ack["message_id"])
        await session.title_after_change(ack["conversation_id"], provisional_title(text))

    web_lines = json_lines(logs / "web.log")
    [turn] = [e["turn_id"] for e in web_lines if e["message"] == f"answer {ack['message_id']}: turn started"]
    web = [entry for entry in web_lines if entry["turn_id"] == turn]
    worker = [entry for entry in json_lines(logs / "worker.log") if entry["turn_id"] == turn]
    assert any("/v1/completions" in e["message"] and "200 OK" in e["message"] for e in web), "the answer's model call"
    assert any("/v1/completions" in e["message"] and "200 OK" in e["message"] for e in worker), "the title's model call"
