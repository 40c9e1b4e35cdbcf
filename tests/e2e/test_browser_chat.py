"""The chat page in a real browser (Debian chromium via Playwright) against the real product:
uvicorn, the WebSocket consumer and the embedded llama.cpp model."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, current_conversation_id, open_chat, stored_messages
from tests.support.chat_client import ServerAddress

LIST_MARKER = re.compile(r"(?m)^\s*(?:\d+[.)]|[-*+])\s+")  # markdown list items' markers

pytestmark = pytest.mark.e2e


def test_answer_streams_renders_and_is_kept(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    answer = ask(page, "Write two short sentences about the sea.")
    expect(page.get_by_test_id("stop")).to_be_visible()
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("send")).to_be_visible()
    expect(page.get_by_test_id("regenerate")).to_be_visible()
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)

    conversation_id = current_conversation_id(page)
    stored = stored_messages(page, chat_server, conversation_id)
    assert [message["role"] for message in stored] == ["user", "assistant"]
    assert stored[0]["content"] == "Write two short sentences about the sea."
    shown = answer.locator(".content").inner_text().strip()
    assert shown, "the answer bubble is empty"
    # Markdown rendering may change spacing and markup, never the words.
    assert shown.split()[0].strip("*_#`") in stored[1]["content"]

    page.reload()
    expect(page.locator("[data-testid=message]")).to_have_count(2)
    expect(page.locator("[data-testid=message][data-role=assistant]")).to_have_attribute(
        "data-message-id", str(stored[1]["id"])
    )


def test_stop_keeps_the_partial_answer(page: Page, endless_chat_server: ServerAddress) -> None:
    open_chat(page, endless_chat_server)
    answer = ask(page, "Tell me a very long story about a lighthouse keeper.")
    expect(answer.locator(".content")).not_to_be_empty(timeout=ANSWER_TIMEOUT_MS)
    page.get_by_test_id("stop").click()
    expect(answer).to_have_attribute("data-status", "cancelled", timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator(".message-note")).to_have_text("stopped")

    stored = stored_messages(page, endless_chat_server, current_conversation_id(page))[-1]
    assert stored["status"] == "cancelled"
    assert stored["finish_reason"] == "cancelled"
    assert 0 < stored["completion_tokens"] < 400, "the stop did not end the generation early"
    page.reload()
    kept = page.locator(f"[data-message-id='{stored['id']}']")
    expect(kept).to_have_attribute("data-status", "cancelled")
    expect(kept.locator(".content")).not_to_be_empty()


def test_reload_mid_answer_continues_it(page: Page, endless_chat_server: ServerAddress) -> None:
    open_chat(page, endless_chat_server)
    answer = ask(page, "Describe every planet of the solar system in detail.")
    message_id = answer.get_attribute("data-message-id")
    expect(answer.locator(".content")).not_to_be_empty(timeout=ANSWER_TIMEOUT_MS)

    page.reload()
    resumed = page.locator(f"[data-message-id='{message_id}']")
    expect(resumed).to_have_attribute("data-status", "streaming")
    expect(resumed).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    stored = stored_messages(page, endless_chat_server, current_conversation_id(page))[-1]
    assert stored["id"] == int(message_id)
    assert (stored["status"], stored["finish_reason"]) == ("complete", "length"), "it did not run to its end"
    # What the page shows after resuming is the whole stored answer, not only the part after the reload.
    # A list's markers ("43.", "-") are drawn by the browser, not part of the shown text.
    stored_words = LIST_MARKER.sub("", stored["content"]).split()
    shown_words = resumed.locator(".content").inner_text().split()
    assert len(shown_words) >= 0.8 * len(stored_words)


def test_regenerate_replaces_the_answer(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    first = ask(page, "Name a colour.")
    first_id = first.get_attribute("data-message-id")
    expect(first).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)

    page.get_by_test_id("regenerate").click()
    answers = page.locator("[data-testid=message][data-role=assistant]")
    expect(answers).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(answers).not_to_have_attribute("data-message-id", first_id, timeout=ANSWER_TIMEOUT_MS)
    expect(answers).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    stored = stored_messages(page, chat_server, current_conversation_id(page))
    assert [message["role"] for message in stored] == ["user", "assistant"]
    assert str(stored[1]["id"]) != first_id


def test_new_chat_and_switching_conversations(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    expect(ask(page, "Say hello.")).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    first_id = current_conversation_id(page)

    page.get_by_test_id("new-chat").click()
    expect(page.locator("[data-testid=message]")).to_have_count(0)
    expect(ask(page, "Say goodbye.")).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    assert current_conversation_id(page) != first_id
    expect(page.get_by_test_id("conversation-item")).to_have_count(2)

    page.locator(f"[data-testid=conversation-item][data-conversation-id='{first_id}'] .conversation-open").click()
    expect(page.locator("[data-testid=message][data-role=user] .content")).to_have_text("Say hello.")
    assert current_conversation_id(page) == first_id


def test_over_long_message_cannot_be_sent(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    limit = int(page.locator("body").get_attribute("data-max-message-chars"))
    page.get_by_test_id("composer").fill("a" * (limit + 1))
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(page.locator("#composer-counter")).to_contain_text("1 too many")


@pytest.mark.parametrize(
    "hostile",
    [
        "<img src=x onerror=\"document.body.dataset.pwned='1'\">",
        "[click](javascript:document.body.dataset.pwned='1')",
        '[x](https://example.com" onmouseover="document.body.dataset.pwned=1)',
        "```\n</code></pre><script>document.body.dataset.pwned='1'</script>\n```",
        "```html\n<svg onload=\"document.body.dataset.pwned='1'\"></svg>\n```",
        "See [1]<iframe srcdoc=\"<script>parent.document.body.dataset.pwned='1'</script>\"></iframe>",
        "**<a href=javascript:alert(1)>bold</a>** and `<b onclick=x>`",
    ],
)
def test_renderer_never_emits_markup_from_the_text(page: Page, chat_server: ServerAddress, hostile: str) -> None:
    """Model output is untrusted: the page's answer renderer (markdown, DOMPurify, citations, code
    blocks with highlighting) must turn hostile text into inert text."""
    open_chat(page, chat_server)
    assert page.evaluate("window.DOMPurify.isSupported"), "the sanitiser did not load"
    found = page.evaluate(
        """(text) => {
            const box = document.createElement("div");
            document.body.appendChild(box);
            window.renderAnswer(box, text, {final: true, sources: [{number: 1, title: "t", url: "https://a.example/"}]});
            const handlers = [...box.querySelectorAll("*")].flatMap(
                (el) => [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name));
            const links = [...box.querySelectorAll("a")].map((a) => a.getAttribute("href"));
            return {scripts: box.querySelectorAll("script, img, svg, iframe").length, handlers, links};
        }""",
        hostile,
    )
    page.wait_for_timeout(100)  # an injected handler would have run by now
    assert found["scripts"] == 0
    assert found["handlers"] == []
    assert all(link.startswith("https://") and '"' not in link for link in found["links"])
    assert page.evaluate("document.body.dataset.pwned") is None


def test_markdown_renders_code_lists_and_links(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    html = page.evaluate(
        "(text) => window.renderMarkdown(text)",
        "# Title\n\n- **one**\n- `two`\n\n[docs](https://example.com/a?b=1&c=2)\n\n```python\nprint('<hi>')\n```",
    )
    assert "<h1>Title</h1>" in html
    assert "<ul>\n<li><strong>one</strong></li>\n<li><code>two</code></li>\n</ul>" in html
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html
    # DOMPurify re-serialises the HTML: quotes in text come back unescaped, angle brackets stay escaped.
    assert "<pre><code class=\"language-python\">print('&lt;hi&gt;')\n</code></pre>" in html
