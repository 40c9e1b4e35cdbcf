"""Shared fixtures. Live fixtures start the product's real processes on loopback ports:
the embedded llama.cpp model server (once per run) and ASGI web servers in front of it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chat_client import ServerAddress
from tests.support.processes import NEVER_STOP_BIAS, free_port, migrate, product_env, running, web_server_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedded_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of a real llama.cpp server with SmolLM2-135M."""
    port = free_port()
    log = tmp_path_factory.mktemp("model") / "model.log"
    args = [sys.executable, "-m", "model_service.embedded", "--port", str(port), "--threads", "2"]
    with running(args, env=dict(os.environ), ready_url=f"http://127.0.0.1:{port}/v1/models", log=log):
        yield f"http://127.0.0.1:{port}/v1"


def _start_web_server(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[ServerAddress]:
    var_dir = tmp_path_factory.mktemp(name)
    env = product_env(var_dir, ASSISTANT_MODEL_TITLES="false", **settings)
    migrate(env)
    port = free_port()
    args = web_server_command(port)
    url = f"http://127.0.0.1:{port}"
    with running(args, env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"):
        yield ServerAddress(url)


@pytest.fixture(scope="session")
def chat_server(embedded_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """A real ASGI server (uvicorn) in embedded mode; answers end when the model ends them."""
    yield from _start_web_server(tmp_path_factory, "web", MODEL_BASE_URL=embedded_model, MODEL_MAX_TOKENS="200")


@pytest.fixture(scope="session")
def endless_chat_server(embedded_model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """Like chat_server, but the model may not end an answer early: every answer runs to 400 tokens
    (about four seconds here), long enough to stop, disconnect and resume in the middle."""
    yield from _start_web_server(
        tmp_path_factory,
        "web-endless",
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="400",
        MODEL_EXTRA_BODY=json.dumps(NEVER_STOP_BIAS),
    )


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
