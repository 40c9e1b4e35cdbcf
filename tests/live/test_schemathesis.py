"""schemathesis against the published OpenAPI document of a real server (uvicorn, the embedded
llama.cpp model, an Imagine worker), in both shapes: every REST and `/v1` operation, valid and
invalid requests, with a signed-in session and an API key. No answer may be a server error, and
every answer must have a documented status, content type and (for JSON) shape.

The abuse limits are lifted as for the benchmarks (benchmarks/shapes.py): a fuzzer is one address
sending hundreds of requests a minute, and 429s would hide everything behind them."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from benchmarks.shapes import UNLIMITED
from tests.support.chat_client import ServerAddress
from tests.support.processes import free_port, manage, migrate, product_env, running, web_server_command, worker_command
from tests.support.schemathesis_tool import MISSING, ST

pytestmark = pytest.mark.live

SEED = 20261128
EXAMPLES_PER_OPERATION = 15  # in the fuzzing phase; the coverage phase adds each schema's edge cases
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# A hang is a failure too. An idle 2-core machine passes in about a minute per shape; beside the
# other test process of `make test`, the embedded shape took 194 s in CI.
RUN_SECONDS = 600


@pytest.fixture(scope="module")
def fuzzed_server(
    embedded_model: str, service_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerAddress]:
    """chat_server's web process, with an Imagine and media worker behind it and the abuse limits lifted."""
    var_dir = tmp_path_factory.mktemp("web-fuzzed")
    env = product_env(
        var_dir,
        MODEL_BASE_URL=embedded_model,
        MODEL_MAX_TOKENS="4",  # the fuzzer's valid completions are many; their length proves nothing
        ASSISTANT_MODEL_TITLES="false",
        **service_settings,
        **UNLIMITED,
    )
    migrate(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        stack.enter_context(running(worker_command(queues=("imagine", "media")), env=env, log=var_dir / "worker.log"))
        web = running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log")
        stack.enter_context(web)
        yield ServerAddress(url, env=env)


def signed_in_headers(server: ServerAddress) -> list[str]:
    """A new account's session and CSRF token, and an API key of another account (so the fuzzer's
    DELETE /api/keys/{id} cannot revoke the key it is using)."""
    with httpx.Client(base_url=server.url) as browser:
        browser.get("/accounts/signup/").raise_for_status()
        password = uuid.uuid4().hex
        form = {"username": f"fuzz-{uuid.uuid4().hex[:8]}", "password1": password, "password2": password}
        signed_up = browser.post(
            "/accounts/signup/", data={**form, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        )
        assert signed_up.status_code == 302, signed_up.text
        cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        csrf = browser.cookies["csrftoken"]
    secret = manage(server.env, "create_api_key", f"fuzz-bot-{uuid.uuid4().hex[:8]}", "--name", "fuzz").strip()
    return [f"Cookie: {cookies}", f"X-CSRFToken: {csrf}", f"Authorization: Bearer {secret}"]


@pytest.mark.timeout(RUN_SECONDS + 60)
def test_no_request_gets_a_server_error_or_an_undocumented_answer(fuzzed_server: ServerAddress, tmp_path: Path) -> None:
    assert ST.exists(), MISSING
    headers = [arg for header in signed_in_headers(fuzzed_server) for arg in ("-H", header)]
    command = [
        ST,
        "run",
        f"{fuzzed_server.url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",  # with 2, Hypothesis's lambda-source cache races between threads (a SystemError in the tool)
        "--request-timeout",
        "60",
        "--report",
        "har",  # every request and answer, for a failure the summary cannot explain
        "--report-dir",
        str(tmp_path),
        *headers,
    ]
    # In tmp_path, st also keeps its replay database (.schemathesis/), out of the working tree.
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS, cwd=tmp_path)

    assert done.returncode == 0, f"{done.stdout}{done.stderr}\nEvery request: {tmp_path}"
