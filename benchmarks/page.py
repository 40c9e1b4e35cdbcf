"""The chat page in Chromium: what it weighs, when it first paints, and Send to the first word seen.

    python -m benchmarks.page [--loads 5] [--sends 10] [--model-url http://127.0.0.1:8001/v1]

Two web servers side by side, each in embedded mode with its own database: the files served from
the apps under their own names (a checkout before `collectstatic`) against the files collected as
the Docker image and `make run` serve them (hashed names, brotli/gzip, a year's cache). For each:
- page weight: bytes over the wire for the chat page and everything it loads (compressed as sent)
  and the same files uncompressed, on a cold cache;
- first contentful paint (the browser's own Paint Timing entry), median of `--loads` fresh profiles;
- the same page loaded again with a warm cache: bytes over the wire;
- Send → first token visible: from the click on Send to the first text in the answer, measured in
  the page, median and 95th percentile of `--sends` messages (on the collected server).

The model is the contract fake of vLLM answering at once (tests/support/fake_openai.py), so the
last figure is the product's own path (socket, door, pipeline, frames, rendering); `--model-url`
measures against a real OpenAI-compatible server instead (for example `make run`'s llama-server).
Headless Chromium on loopback: no network latency, which a real phone adds on top.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, open_chat
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.servers import web_server
from tests.support.chat_client import ServerAddress
from tests.support.fake_openai import FakeOpenAI, Reply

ANSWER_CHUNKS = ("Blue", " is", " the", " colour", " of", " a", " clear", " sky.")
# Resolves with the milliseconds from the click on Send to the first text in a new answer.
FIRST_TOKEN_SCRIPT = """() => new Promise((resolve) => {
    const before = document.querySelectorAll('[data-testid=message][data-role=assistant]').length;
    const started = performance.now();
    const observer = new MutationObserver(() => {
        const answers = document.querySelectorAll('[data-testid=message][data-role=assistant]');
        const content = answers.length > before ? answers[answers.length - 1].querySelector('.content') : null;
        if (content && content.textContent.trim()) {
            observer.disconnect();
            resolve(performance.now() - started);
        }
    });
    observer.observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
    document.querySelector('[data-testid=send]').click();
})"""
FIRST_PAINT_SCRIPT = """() => {
    const [paint] = performance.getEntriesByName('first-contentful-paint');
    return paint ? paint.startTime : null;
}"""


@dataclass(frozen=True)
class Load:
    wire_bytes: int  # response bodies as sent (compressed when the server compressed them)
    plain_bytes: int  # the same bodies decoded
    first_paint_ms: float


def _wire_bytes(response: Response) -> int:
    """The body's bytes as sent; Chromium reports -1 for a response taken from its cache."""
    return max(0, response.request.sizes()["responseBodySize"])


def _load(page: Page, server: ServerAddress) -> Load:
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    open_chat(page, server)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    same_origin = [r for r in responses if r.url.startswith(server.url) and "/ws/" not in r.url]
    wire = sum(_wire_bytes(r) for r in same_origin)
    plain = sum(len(r.body()) for r in same_origin if r.status == 200)
    return Load(wire_bytes=wire, plain_bytes=plain, first_paint_ms=page.evaluate(FIRST_PAINT_SCRIPT))


def _warm_reload_bytes(page: Page, server: ServerAddress) -> int:
    """Bytes over the wire for the page opened again in the same profile (its cache warm)."""
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    open_chat(page, server)
    page.wait_for_load_state("networkidle")
    same_origin = [r for r in responses if r.url.startswith(server.url) and "/ws/" not in r.url]
    return sum(_wire_bytes(r) for r in same_origin)


def measure_loads(browser: Browser, server: ServerAddress, loads: int) -> tuple[list[Load], int]:
    measured, warm_bytes = [], 0
    for index in range(loads):
        context = browser.new_context()
        try:
            page = context.new_page()
            measured.append(_load(page, server))
            if index == 0:
                warm_bytes = _warm_reload_bytes(context.new_page(), server)
        finally:
            context.close()
    return measured, warm_bytes


def measure_first_tokens(browser: Browser, server: ServerAddress, sends: int) -> list[float]:
    context = browser.new_context()
    try:
        page = context.new_page()
        open_chat(page, server)
        expect(ask(page, "Hello! What colour is the sky?")).to_have_attribute("data-status", FINISHED)
        timings = []
        for number in range(sends):
            page.get_by_test_id("composer").fill(f"What colour is the sky? ({number})")
            timings.append(page.evaluate(FIRST_TOKEN_SCRIPT))
            answer = page.locator("[data-testid=message][data-role=assistant]").last
            expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
        return timings
    finally:
        context.close()


@contextmanager
def servers(model_url: str | None) -> Iterator[tuple[ServerAddress, ServerAddress]]:
    with ExitStack() as stack:
        if model_url is None:
            fake = stack.enter_context(FakeOpenAI(default=Reply(texts=ANSWER_CHUNKS)))
            model_url = fake.base_url
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-page-")))
        (root / "plain").mkdir()
        (root / "collected").mkdir()
        plain = stack.enter_context(web_server(root / "plain", MODEL_BASE_URL=model_url))
        collected = stack.enter_context(web_server(root / "collected", collect_static=True, MODEL_BASE_URL=model_url))
        yield plain, collected


def _kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def _report(name: str, loads: list[Load], warm_bytes: int) -> None:
    first = loads[0]
    paints = [load.first_paint_ms for load in loads]
    print(
        f"{name}: cold {_kib(first.wire_bytes)} over the wire ({_kib(first.plain_bytes)} uncompressed), "
        f"warm reload {_kib(warm_bytes)}, first contentful paint median {statistics.median(paints):.0f} ms "
        f"(max {max(paints):.0f} ms, {len(paints)} loads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--sends", type=int, default=10)
    parser.add_argument("--model-url", default=None, help="an OpenAI-compatible server instead of the fake")
    options = parser.parse_args()
    with servers(options.model_url) as (plain, collected), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        plain_loads, plain_warm = measure_loads(browser, plain, options.loads)
        collected_loads, collected_warm = measure_loads(browser, collected, options.loads)
        first_tokens = measure_first_tokens(browser, collected, options.sends)
        browser.close()
    _report("files under their own names (before collectstatic)", plain_loads, plain_warm)
    _report("collected (hashed, compressed, cached a year)", collected_loads, collected_warm)
    ratio = plain_loads[0].wire_bytes / max(collected_loads[0].wire_bytes, 1)
    print(f"cold page weight: collected is {ratio:.1f}× smaller over the wire")
    first_tokens.sort()
    p95 = first_tokens[min(len(first_tokens) - 1, round(0.95 * (len(first_tokens) - 1)))]
    model = options.model_url or "the contract fake of vLLM, answering at once"
    print(
        f"Send → first token visible ({model}): median {statistics.median(first_tokens):.0f} ms, "
        f"p95 {p95:.0f} ms over {len(first_tokens)} messages"
    )


if __name__ == "__main__":
    main()
