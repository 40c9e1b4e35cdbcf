"""Starting the product's real processes for tests: each on a free loopback port, stopped after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.websocket import WEBSOCKET_MAX_FRAME_BYTES

ROOT = Path(__file__).resolve().parents[2]
# Keeps answers going until max_tokens: SmolLM2's end tokens <|endoftext|> (0) and <|im_end|> (2).
NEVER_STOP_BIAS = {"logit_bias": {"0": -100, "2": -100}}


def web_server_command(port: int, *extra: str) -> list[str]:
    """The ASGI web server as production runs it (docker-compose's web service), on loopback."""
    uvicorn = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    # No per-message deflate, as in production: frames are ~100 bytes, too small to gain from it.
    options = ["--ws-max-size", str(WEBSOCKET_MAX_FRAME_BYTES), "--ws-per-message-deflate", "false"]
    return [*uvicorn, "--port", str(port), "--lifespan", "on", *options, *extra]


# docker-compose's `worker` service (queue `default`): messaging replies and titles on threads.
COMPOSE_WORKER_POOL = "threads"
COMPOSE_WORKER_THREADS = 8


def worker_command(
    *, queues: tuple[str, ...] = ("default",), concurrency: int = 1, pool: str = "prefork", loglevel: str = "INFO"
) -> list[str]:
    """A Celery worker on `queues`, as docker-compose runs its workers."""
    celery = [sys.executable, "-m", "celery", "-A", "config", "worker"]
    options = ["--pool", pool, "--concurrency", str(concurrency), "--loglevel", loglevel]
    return [*celery, "-Q", ",".join(queues), *options]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together while chosen, so never the same)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def wait_until_answers(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def running(
    args: list[str], *, env: dict[str, str], log: Path, ready_url: str | None = None, own_group: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process for the duration of the block; wait until `ready_url` answers, if given.
    `own_group` starts it in a process group of its own, so its children can be killed with it."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=own_group
        )
        try:
            if ready_url is not None:
                wait_until_answers(ready_url, process)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def product_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment of a product process in embedded mode, with its own database and queue folder."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ASSISTANT_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
        # Every simulated browser of the tests comes from 127.0.0.1: one address, many guests.
        "RATE_LIMIT_GUESTS_PER_IP": "1000000/60",
        "ASSISTANT_GUEST_DAILY_TOKENS_PER_IP": "1000000000",
        # No memory taken from each answer (a model call on the `documents` queue): the tests of
        # memory turn it on themselves.
        "KNOWLEDGE_EXTRACTION_MODEL": "",
    }
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command as the product's processes would; return what it printed."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return done.stdout.decode()


def migrate(env: dict[str, str]) -> None:
    manage(env, "migrate", "-v0")


def guard_server_command(port: int) -> list[str]:
    """The embedded content guard in its own process (`make run`'s guard, compose's cpu-guard), on loopback."""
    return [sys.executable, "-m", "safety.guard_server", "--port", str(port)]


@dataclass(frozen=True)
class GuardServer:
    base_url: str  # …/v1, for SAFETY_GUARD_BASE_URL or `VllmGuard`
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_guard_server(log: Path, **settings: str) -> Iterator[GuardServer]:
    """The embedded guard's server on a free port for the duration of the block, with SAFETY_* `settings`."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1", **settings}
    ready_url = f"http://127.0.0.1:{port}/health"
    with running(guard_server_command(port), env=env, log=log, ready_url=ready_url) as process:
        yield GuardServer(f"http://127.0.0.1:{port}/v1", process, log)


def maps_onnxruntime(pid: int) -> bool:
    """Whether process `pid` has ONNX Runtime's library mapped (Linux): the embedded guard's encoder
    runs on it (model_service/sentence_encoder.py), so a process without it has not loaded the classifier."""
    return any("onnxruntime_pybind11_state" in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())
