"""Sharing a conversation and the markdown renderer, in a real browser (Debian chromium via
Playwright) against the real product (uvicorn, the WebSocket consumer, the share page).

The answer comes from a contract fake of vLLM's OpenAI-compatible server (tests/support/fake_openai.py,
a real loopback HTTP server streaming Server-Sent Events): the embedded model cannot be asked for an
exact table, formula and indented code, and production answers come from vLLM."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, open_chat
from tests.e2e.servers import scripted_web_server
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

QUESTION = "Show me a least-squares fit in Python, with the formula and a table."
ANSWER = """Here is the **fit**:

| x | y |
|---|---|
| 1 | 2.1 |
| 2 | 3.9 |

The slope is $\\hat{a} = \\frac{\\sum x_i y_i}{\\sum x_i^2}$, and in full:

$$
y = ax + b
$$

```python
def fit(xs, ys):
    total = 0
    for x, y in zip(xs, ys):
        total += x * y
    return total
```

- [x] table
- [ ] plot
"""
INDENTED_LINE = "        total += x * y"


@pytest.fixture(scope="module")
def scripted_chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """The web server, whose model is the contract fake answering every question with ANSWER."""
    with scripted_web_server(tmp_path_factory.mktemp("share-web"), ANSWER) as server:
        yield server


def answered(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)


def test_a_table_and_a_formula_render_in_the_chat(page: Page, scripted_chat_server: ServerAddress) -> None:
    answered(page, scripted_chat_server)
    body = page.locator("[data-testid=message][data-role=assistant] .content")
    expect(body.locator("table th")).to_have_text(["x", "y"])
    expect(body.locator("table tbody td")).to_have_text(["1", "2.1", "2", "3.9"])
    expect(body.locator(".katex")).to_have_count(2)
    expect(body.locator(".math-display .katex-display")).to_have_count(1)
    # KaTeX's stylesheet came from this origin and its box styles were set despite the CSP.
    expect(page.locator('link[rel=stylesheet][href$="vendor/katex.min.css"]')).to_have_count(1)
    assert body.locator(".katex-html [style]").count() > 0
    assert body.locator("[data-katex-style]").count() == 0
    # The rows of a fraction have no height of their own: only KaTeX's `top` styles set them apart.
    rows = body.locator(".katex .mfrac").first.evaluate(
        "(el) => [...el.querySelectorAll('.vlist > span')].map((row) => row.getBoundingClientRect().top)"
    )
    assert max(rows) - min(rows) > 5, f"the numerator and the denominator are on one level: {rows}"
    expect(body.locator("input[type=checkbox]")).to_have_count(2)
    code = body.locator(".code-block code")
    expect(code).to_have_class(re.compile(r"\bhljs\b"))  # coloured: the block finished
    assert INDENTED_LINE in code.text_content()


def test_share_round_trip_in_a_fresh_browser(
    page: Page, browser: Browser, scripted_chat_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    answered(page, scripted_chat_server)
    page.get_by_test_id("share-open").click()
    dialog = page.get_by_test_id("share-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("share-link")).to_be_hidden()
    page.get_by_test_id("share-create").click()
    link = page.get_by_test_id("share-link")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/share/[\w-]{20,}$"))
    expect(page.get_by_test_id("share-copy")).to_be_focused()
    share_url = link.input_value()
    screenshot(page, "dialog")

    reader = browser.new_context()  # someone else: no session, no cookies of the author
    try:
        shared = reader.new_page()
        errors: list[str] = []
        shared.on("pageerror", lambda error: errors.append(str(error)))
        assert shared.goto(share_url).status == 200
        expect(shared.get_by_test_id("shared-messages")).to_have_attribute("data-rendered", "true")
        messages = shared.get_by_test_id("message")
        expect(messages).to_have_count(2)
        expect(messages.first).to_have_text(re.compile(re.escape(QUESTION)))
        answer = messages.nth(1).locator(".content")
        code = answer.locator(".code-block code")
        expect(code).to_have_class(re.compile(r"\bhljs\b"))
        assert INDENTED_LINE in code.text_content(), "indentation is kept"
        expect(answer.get_by_test_id("copy-code")).to_be_visible()
        expect(answer.locator("table td")).to_have_count(4)
        expect(answer.locator(".katex")).to_have_count(2)
        assert shared.locator('meta[name="robots"]').get_attribute("content") == "noindex"
        assert shared.locator('meta[property="og:description"]').get_attribute("content") == QUESTION
        assert shared.locator('meta[property="og:title"]').get_attribute("content")
        assert shared.locator('meta[name="twitter:card"]').get_attribute("content") == "summary"
        expect(shared.get_by_test_id("start-own-chat")).to_have_attribute("href", "/")
        screenshot(shared, "shared")
        assert errors == []
    finally:
        reader.close()

    page.get_by_test_id("share-revoke").click()
    expect(page.get_by_test_id("share-status")).not_to_be_empty()
    expect(page.get_by_test_id("share-link")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    assert httpx.get(share_url).status_code == 404
    again = browser.new_context()
    try:
        gone = again.new_page()
        assert gone.goto(share_url).status == 404
        expect(gone.get_by_test_id("share-missing")).to_be_visible()
        expect(gone.get_by_test_id("start-own-chat")).to_be_visible()
        screenshot(gone, "revoked")
    finally:
        again.close()


def test_the_share_dialog_of_a_new_chat_says_there_is_nothing_to_share(
    page: Page, scripted_chat_server: ServerAddress
) -> None:
    open_chat(page, scripted_chat_server)
    page.get_by_test_id("share-open").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("share-status")).not_to_be_empty()
    expect(page.get_by_test_id("share-create")).to_be_hidden()
    expect(page.get_by_test_id("share-close")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("share-dialog")).to_be_hidden()
