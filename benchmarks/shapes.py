"""The production shape that several benchmarks start on loopback: a new PostgreSQL database,
Redis (databases 1–3), a paced OpenAI-compatible model server (no CPU spent on generation) and
the Graph API contract fake that receives WhatsApp replies; and, where a benchmark asks, the
content guard outside the product's processes (`start_guard`)."""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.integrations import payloads
from tests.support.deployment import RedisDatabases, new_postgres_database, production_settings
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_messaging import FakeMessaging
from tests.support.processes import free_port, migrate, product_env, running, running_guard_server

APP_SECRET = "benchmark-app-secret"
# A load generator is one address, often one user: the product's abuse limits would refuse it.
UNLIMITED = {
    **{
        name: "1000000/60"
        for name in (
            "RATE_LIMIT_MESSAGES_PER_USER",
            "RATE_LIMIT_MESSAGES_PER_IP",
            "RATE_LIMIT_API_PER_USER",
            "RATE_LIMIT_API_PER_IP",
            "RATE_LIMIT_IMAGINE_PER_USER",
            "RATE_LIMIT_IMAGINE_PER_IP",
            "RATE_LIMIT_GUESTS_PER_IP",
        )
    },
    # A guest's daily tokens run out within minutes of soak: each turn resends a growing history.
    "ASSISTANT_DAILY_TOKENS": "1000000000",
    "ASSISTANT_GUEST_DAILY_TOKENS": "1000000000",
    "ASSISTANT_GUEST_DAILY_TOKENS_PER_IP": "1000000000",
}


@dataclass(frozen=True)
class Shape:
    var_dir: Path
    database_url: str
    env: dict[str, str]  # the environment of every product process
    apps: FakeMessaging


def production_shape(stack: ExitStack, *, name: str, answer_tokens: int, **settings: str) -> Shape:
    """Start the shared services in `stack` (closed with it) and return the product's environment,
    migrated; `settings` are added to it."""
    var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{name}-")))
    database_url = stack.enter_context(new_postgres_database())
    databases = RedisDatabases(channel_layer=1, broker=2, cache=3)
    databases.flush()
    apps = stack.enter_context(FakeMessaging())
    model_port = free_port()
    model = [
        sys.executable,
        "-m",
        "tests.support.fake_openai",
        "--port",
        str(model_port),
        "--tokens",
        str(answer_tokens),
    ]
    stack.enter_context(running(model, env=product_env(var_dir), log=var_dir / "model.log",
                                ready_url=f"http://127.0.0.1:{model_port}/v1/models"))  # fmt: skip
    env = product_env(
        var_dir,
        **{
            **production_settings(database_url, databases),
            "MODEL_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
            "ASSISTANT_MODEL_TITLES": "false",
            "META_GRAPH_API_BASE_URL": apps.base_url,
            "META_APP_SECRETS": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": f"{name}-verify",
            "WHATSAPP_ACCESS_TOKEN": f"{name}-token",
            "WHATSAPP_SENDER_ID": payloads.PHONE_NUMBER_ID,
            "LOG_LEVEL": "WARNING",
            **settings,
        },
    )
    migrate(env)
    return Shape(var_dir, database_url, env, apps)


# Llama Guard 3 on a GPU behind vLLM: a few hundred tokens of prefill and two generated, plus the
# network; an assumption, not a measurement (no GPU here).
REMOTE_GUARD_SECONDS = 0.02

# Where the product's processes find the content guard (`--guard` of the benchmarks that take it):
GUARDS = {
    "process": "the guard server in a process of its own (python -m safety.guard_server)",
    "contract": "the Llama Guard contract fake (tests/support/fake_guard.py: answers `safe`, no CPU)",
    "remote": "the contract fake answering each check after 20 ms, as a guard on a GPU server would (no CPU)",
    "off": "no content guard (SAFETY_CHECKS=false)",
    "embedded": "the embedded CPU guard inside each product process (no SAFETY_GUARD_BASE_URL)",
}


@dataclass(frozen=True)
class Guard:
    settings: dict[str, str]  # what points the product's processes at it
    contract: FakeGuard | None = None  # the contract fake, whose requests can be counted


def start_guard(stack: ExitStack, kind: str) -> Guard:
    """Start the guard `kind` (a key of GUARDS) in `stack`. The guard process inherits this
    process's CPU affinity, so a benchmark that pins itself keeps the guard off the cores it measures."""
    if kind == "off":
        return Guard({"SAFETY_CHECKS": "false"})
    if kind == "embedded":
        return Guard({})
    if kind in ("contract", "remote"):
        fake = stack.enter_context(
            FakeGuard(default=GuardReply(stall=REMOTE_GUARD_SECONDS) if kind == "remote" else None)
        )
        return Guard({"SAFETY_GUARD_BASE_URL": fake.base_url}, fake)
    var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-guard-")))
    server = stack.enter_context(running_guard_server(var_dir / "guard.log"))
    # As `make run` sets them: the stand-in judges questions only, so answers are not sent to it.
    return Guard({"SAFETY_GUARD_BASE_URL": server.base_url, "SAFETY_GUARD_JUDGES_ANSWERS": "false"})
