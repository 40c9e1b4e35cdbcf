"""Settings → My data in a real browser (Debian chromium via Playwright) against the real product:
the download is a ZIP of the conversation just had, and deleting the account is confirmed by typing
its name, answers with the server's sentence when refused, and ends on a fresh guest page.

The model is the contract fake of vLLM (tests/e2e/servers.py): a scripted answer arrives at once."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, open_chat, session_client
from tests.e2e.page_checks import PHONE, serious_violations, small_targets
from tests.e2e.servers import scripted_web_server
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
QUESTION = "What colour is a ripe lemon?"
ANSWER = "A ripe lemon is yellow."
SESSION_ENDED = "Your session has ended. Reload the page to start a new one."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with scripted_web_server(tmp_path_factory.mktemp("my-data-web"), ANSWER) as address:
        yield address


def chat_once(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)


def account_name(page: Page) -> str:
    return page.get_by_test_id("my-data-settings").get_attribute("data-account-name")


def open_deletion(page: Page) -> None:
    page.get_by_test_id("settings-open").click()
    page.get_by_test_id("account-delete-open").click()
    expect(page.get_by_test_id("account-delete-dialog")).to_be_visible()
    expect(page.get_by_test_id("account-delete-name")).to_be_focused()


def test_the_download_is_a_zip_of_the_conversation_just_had(page: Page, server: ServerAddress) -> None:
    chat_once(page, server)
    page.get_by_test_id("settings-open").click()
    with page.expect_download() as started:
        page.get_by_test_id("my-data-download").click()
    download = started.value
    assert download.suggested_filename.startswith("assistant-data-")
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        conversations = json.loads(archive.read("conversations.json"))
    texts = json.dumps(conversations, ensure_ascii=False)
    assert QUESTION in texts
    assert ANSWER in texts


def test_a_wrong_name_keeps_the_button_disabled_and_escape_goes_back_to_settings(
    page: Page, server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, server)
    open_deletion(page)
    name = account_name(page)
    dialog = page.get_by_test_id("account-delete-dialog")
    expect(dialog).to_contain_text(name)  # a guest never chose its name: the dialog shows it
    confirm = page.get_by_test_id("account-delete-confirm")
    page.get_by_test_id("account-delete-name").fill(name + "x")
    expect(confirm).to_be_disabled()
    page.get_by_test_id("account-delete-name").press("Enter")
    expect(dialog).to_be_visible()
    page.get_by_test_id("account-delete-name").fill(name)
    expect(confirm).to_be_enabled()
    screenshot(page, "confirm")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("settings-dialog")).to_be_visible()
    expect(page.get_by_test_id("account-delete-open")).to_be_focused()
    with session_client(page, server) as client:
        assert client.get("/api/settings").status_code == 200, "the account is still there"


def test_the_right_name_deletes_the_account_and_ends_on_a_fresh_guest_page(page: Page, server: ServerAddress) -> None:
    chat_once(page, server)
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    open_deletion(page)
    deleted = account_name(page)
    page.get_by_test_id("account-delete-name").fill(deleted)
    with page.expect_navigation():
        page.get_by_test_id("account-delete-confirm").click()

    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    assert account_name(page) != deleted
    expect(page.get_by_test_id("conversation-item")).to_have_count(0)
    expect(page.locator("#conversation-empty")).to_be_visible()


def test_a_refusal_is_shown_in_the_dialog_and_the_button_works_again(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    open_deletion(page)
    name = account_name(page)
    page.get_by_test_id("account-delete-name").fill(name)
    with session_client(page, server) as client:  # the same account, deleted from elsewhere first
        gone = client.request("DELETE", "/api/account", json={"confirm": name})
    assert gone.status_code == 204

    page.get_by_test_id("account-delete-confirm").click()
    expect(page.get_by_test_id("account-delete-error")).to_have_text(SESSION_ENDED)
    expect(page.get_by_test_id("account-delete-dialog")).to_be_visible()
    expect(page.get_by_test_id("account-delete-confirm")).to_be_enabled()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_in_the_open_deletion_dialog(
    browser: Browser, server: ServerAddress, scheme: str
) -> None:
    # axe is injected as an inline script, which the page's CSP refuses: this context ignores the CSP.
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        open_chat(page, server)
        open_deletion(page)
        page.get_by_test_id("account-delete-name").fill("someone else")
        assert serious_violations(page) == []
    finally:
        context.close()


def test_phone_targets_in_my_data_and_the_deletion_dialog_are_big_enough(
    browser: Browser, server: ServerAddress, screenshot: Screenshot
) -> None:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        open_chat(page, server)
        page.get_by_test_id("settings-open").click()
        page.get_by_test_id("my-data-settings").scroll_into_view_if_needed()
        assert small_targets(page, "#my-data-settings") == []
        screenshot(page, "phone-section")
        page.get_by_test_id("account-delete-open").click()
        assert small_targets(page, "#account-delete-dialog") == []
        screenshot(page, "phone-dialog")
    finally:
        context.close()
