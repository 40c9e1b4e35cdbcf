"""A real Celery worker on the embedded (filesystem) broker titles new conversations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.services import provisional_title
from tests.support.chat_client import ChatSession, ServerAddress
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def web_and_worker(embedded_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    var_dir = tmp_path_factory.mktemp("worker")
    env = product_env(var_dir, MODEL_BASE_URL=embedded_model, MODEL_MAX_TOKENS="64", ASSISTANT_MODEL_TITLES="true")
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
