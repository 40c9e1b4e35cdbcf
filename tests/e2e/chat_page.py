"""Steps on the chat page that many browser tests share."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.support.chat_client import ServerAddress

# A whole answer of the embedded model on 2 cores shared with the server and the browser.
ANSWER_TIMEOUT_MS = 90_000
FINISHED = re.compile(r"^complete$")  # an answer that ran to its end


def open_chat(page: Page, server: ServerAddress) -> None:
    page.goto(server.url + "/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")


def choose_language(page: Page, language: str) -> None:
    """Picks `language` in the settings dialog: the account keeps it and the page reloads in it."""
    # A click before the page's script has run opens nothing; the live socket says it has.
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    page.get_by_test_id("settings-open").click()
    with page.expect_navigation():
        page.get_by_test_id("language-select").select_option(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")


def ask(page: Page, text: str) -> Locator:
    """Type and send a message; returns the assistant message it starts."""
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").click()
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-message-id", re.compile(r"^\d+$"), timeout=ANSWER_TIMEOUT_MS)
    return answer


def session_client(page: Page, server: ServerAddress) -> httpx.Client:
    """An HTTP client with this browser's session and CSRF token: the same user as the page."""
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    headers = {"X-CSRFToken": cookies.get("csrftoken", ""), "Origin": server.url, "Referer": server.url + "/"}
    return httpx.Client(base_url=server.url, cookies=cookies, headers=headers)


def stored_messages(page: Page, server: ServerAddress, conversation_id: int) -> list[dict]:
    """The conversation as the REST API returns it, read with this browser's own session."""
    with session_client(page, server) as client:
        response = client.get(f"/api/conversations/{conversation_id}/messages")
    response.raise_for_status()
    return response.json()["messages"]


def current_conversation_id(page: Page) -> int:
    match = re.search(r"#c=(\d+)", page.url)
    assert match, f"no conversation in the address {page.url}"
    return int(match.group(1))
