"""The database or Redis goes away under a running web process and comes back: users get a
specific error (not `internal`), nothing is half-stored, and the process recovers by itself.

The outages are real: the test's own PostgreSQL database stops accepting connections and its
open connections are terminated, as when the server restarts or fails over; a Redis server of
the test's own is stopped and started again on the same port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from tests.support.chat_client import ChatSession, ServerAddress, ask, message_frame
from tests.support.deployment import POSTGRES_ADMIN_URL, new_postgres_database
from tests.support.processes import free_port, migrate, product_env, running, web_server_command

pytestmark = pytest.mark.live


def set_database_reachable(url: str, reachable: bool) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        allow = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if reachable else "false")
        )
        admin.execute(allow)
        if not reachable:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


@pytest.fixture
def web_on_own_database(embedded_model: str, tmp_path) -> Iterator[tuple[ServerAddress, str]]:
    with new_postgres_database() as database_url:
        env = product_env(tmp_path, DATABASE_URL=database_url, MODEL_BASE_URL=embedded_model, MODEL_MAX_TOKENS="32")
        migrate(env)
        port = free_port()
        server = ServerAddress(f"http://127.0.0.1:{port}")
        try:
            with running(
                web_server_command(port), env=env, ready_url=f"{server.url}/healthz", log=tmp_path / "web.log"
            ):
                yield server, database_url
        finally:
            set_database_reachable(database_url, True)  # so it can be dropped


async def test_database_outage_gives_a_clear_error_and_recovers(web_on_own_database) -> None:
    server, database_url = web_on_own_database
    async with ChatSession(server) as session:
        socket = await session.connect()
        first = await ask(socket, "Say hello.")
        await socket.until_done(first["message_id"])

        set_database_reachable(database_url, False)
        frame = message_frame("Are you still there?", first["conversation_id"])
        await socket.send(frame)
        refused = await socket.recv()
        assert (refused["type"], refused["code"], refused["client_id"]) == (
            "error",
            "service_unavailable",
            frame["client_id"],
        )
        assert "database" in refused["detail"]
        listing = await session.api("GET", "/api/conversations")
        assert (listing.status_code, listing.json()["error"]["code"]) == (503, "service_unavailable")
        ready = await session.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("failed")

        set_database_reachable(database_url, True)
        await socket.send(frame)  # the page resends the refused message, same client_id
        ack = await socket.recv()
        assert ack["type"] == "ack", ack
        done = (await socket.until_done(ack["message_id"]))[-1]
        assert done["finish_reason"] in {"stop", "length"}
        stored = await session.messages(first["conversation_id"])
        assert [m["content"] for m in stored if m["role"] == "user"] == ["Say hello.", "Are you still there?"]


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that keeps nothing on disk."""

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.work_dir = work_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, cwd=self.work_dir, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.fixture
def web_on_own_redis(embedded_model: str, tmp_path: Path) -> Iterator[tuple[ServerAddress, PrivateRedis]]:
    server_redis = PrivateRedis(tmp_path)
    server_redis.start()
    env = product_env(
        tmp_path,
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="32",
        CHANNEL_LAYER_URL=f"{server_redis.url}/0",
        CACHE_URL=f"{server_redis.url}/1",
        CELERY_BROKER_URL=f"{server_redis.url}/2",
    )
    migrate(env)
    port = free_port()
    server = ServerAddress(f"http://127.0.0.1:{port}")
    try:
        with running(web_server_command(port), env=env, ready_url=f"{server.url}/healthz", log=tmp_path / "web.log"):
            yield server, server_redis
    finally:
        server_redis.stop()


async def test_redis_outage_gives_a_clear_error_and_recovers(web_on_own_redis) -> None:
    server, server_redis = web_on_own_redis
    async with ChatSession(server) as session:
        socket = await session.connect()
        first = await ask(socket, "Say hello.")
        await socket.until_done(first["message_id"])

        server_redis.stop()
        frame = message_frame("Are you still there?", first["conversation_id"])
        await socket.send(frame)
        refused = await socket.recv()
        assert (refused["type"], refused["code"], refused["client_id"]) == (
            "error",
            "service_unavailable",
            frame["client_id"],
        )
        ready = await session.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["channel_layer"].startswith("failed")
        stored = await session.messages(first["conversation_id"])  # the database still answers
        assert [m["content"] for m in stored if m["role"] == "user"] == ["Say hello."]  # nothing half-stored

        server_redis.start()  # empty, as after a restart: Redis keeps nothing the product needs
        await socket.send(frame)  # the page resends the refused message, same client_id
        ack = await socket.recv()
        assert ack["type"] == "ack", ack
        done = (await socket.until_done(ack["message_id"]))[-1]
        assert done["finish_reason"] in {"stop", "length"}
        stored = await session.messages(first["conversation_id"])
        assert [m["content"] for m in stored if m["role"] == "user"] == ["Say hello.", "Are you still there?"]
        assert (await session.http.get("/readyz")).status_code == 200
