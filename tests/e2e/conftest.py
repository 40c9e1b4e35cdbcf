"""Browser fixtures: Debian's chromium driven by Playwright, one fresh profile per test, and a
folder for screenshots (E2E_ARTIFACTS_DIR when set, e.g. by CI, else pytest's temporary folder)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.chat_client import ServerAddress
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (a new guest) with the page's script errors collected."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"the page raised script errors: {errors}"


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("E2E_ARTIFACTS_DIR")
    if not configured:
        return tmp_path_factory.mktemp("screenshots")
    folder = Path(configured)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(artifacts_dir: Path, request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Saves a full-page screenshot named after the test and `label`; returns its path."""

    def take(page: Page, label: str) -> Path:
        test_name = re.sub(r"[^\w.-]+", "_", request.node.name)
        path = artifacts_dir / f"{test_name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


WARM_UP_TIMEOUT_SECONDS = 180


@pytest.fixture(scope="module")
def imagine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """The web server and an imagine worker (queue `imagine`, thread pool) in embedded mode: the
    filesystem broker and file results in one shared folder, the built-in tiny random pipeline.
    One final render through POST /api/imagine warms both the safety check and the pipeline."""
    var_dir = tmp_path_factory.mktemp("imagine-web")
    env = product_env(var_dir, ASSISTANT_MODEL_TITLES="false")
    migrate(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = worker_command(queues=("imagine",), concurrency=8, pool="threads")
    with (
        running(worker, env=env, log=var_dir / "imagine-worker.log"),
        running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"),
    ):
        _render_once(url)
        yield ServerAddress(url, env=env)


def _render_once(url: str) -> None:
    with httpx.Client(base_url=url, timeout=WARM_UP_TIMEOUT_SECONDS) as client:
        client.get("/").raise_for_status()  # a guest session and a CSRF cookie
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "Origin": url, "Referer": url + "/"}
        response = client.post("/api/imagine", json={"prompt": "warm up"}, headers=headers)
    assert response.status_code == 201, response.text
