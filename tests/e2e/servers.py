"""Web servers that browser tests start for themselves, beside the shared ones of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.chat_client import ServerAddress
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import (
    free_port,
    manage,
    migrate,
    product_env,
    running,
    web_server_command,
    worker_command,
)

CHUNK_CHARS = 6  # a scripted answer streams in many small frames, as a model writes it


@contextmanager
def web_server(var_dir: Path, *, collect_static: bool = False, **settings: str) -> Iterator[ServerAddress]:
    """uvicorn in embedded mode with its own database; `collect_static` first runs collectstatic into
    its var folder, as the production image does (hashed, compressed static files)."""
    env = product_env(var_dir, ASSISTANT_MODEL_TITLES="false", **settings)
    migrate(env)
    if collect_static:
        manage(env, "collectstatic", "--noinput", "-v0")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"):
        yield ServerAddress(url, env=env)


@contextmanager
def scripted_web_server(var_dir: Path, answer: str) -> Iterator[ServerAddress]:
    """The web server whose model is the contract fake of vLLM (tests/support/fake_openai.py), answering
    every question with `answer`: exact answers, at once, without the embedded model."""
    chunks = [answer[i : i + CHUNK_CHARS] for i in range(0, len(answer), CHUNK_CHARS)]
    with (
        FakeOpenAI(default=Reply(texts=chunks, stall_between=0.01)) as model,
        web_server(var_dir, MODEL_BASE_URL=model.base_url) as server,
    ):
        yield server


@contextmanager
def media_web_server(var_dir: Path, answer: str) -> Iterator[ServerAddress]:
    """The web server answering `answer` as scripted_web_server does, beside a worker on queue `media`
    sharing its embedded-mode folder: photos and voice messages sent from the page are read there."""
    chunks = [answer[i : i + CHUNK_CHARS] for i in range(0, len(answer), CHUNK_CHARS)]
    worker = [*worker_command(queues=("media",)), "--include", "media.tasks"]
    with (
        FakeOpenAI(default=Reply(texts=chunks)) as model,
        web_server(var_dir, MODEL_BASE_URL=model.base_url) as server,
        running(worker, env=server.env, log=var_dir / "media-worker.log"),
    ):
        yield server
