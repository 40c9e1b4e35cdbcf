"""The chat page's features in a real browser (Debian chromium via Playwright) against the real
product (uvicorn, the WebSocket consumer, the embedded model and safety check): sources and
citations, code blocks, safety refusals, reports, settings (theme, language, search mode),
conversation search, rename and delete, keyboard shortcuts, screen-reader announcements, and the
phone layout. Screenshots go to the artifacts folder (see conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.e2e.chat_page import (
    ANSWER_TIMEOUT_MS,
    FINISHED,
    ask,
    choose_language,
    current_conversation_id,
    open_chat,
    session_client,
    stored_messages,
)
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
DARK_BACKGROUND = "rgb(24, 25, 26)"
LIGHT_BACKGROUND = "rgb(255, 255, 255)"


def render_answer(page: Page, text: str, **options: object) -> None:
    """Renders `text` with the page's own answer renderer into #probe (replaced on each call)."""
    page.evaluate(
        """([text, options]) => {
            document.getElementById("probe")?.remove();
            const box = document.createElement("div");
            box.id = "probe";
            box.className = "markdown";
            document.getElementById("messages").after(box);
            window.renderAnswer(box, text, options);
        }""",
        [text, options],
    )


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def saved_settings(response: Response) -> bool:
    """The page's PATCH /api/settings answered successfully."""
    return response.url.endswith("/api/settings") and response.request.method == "PATCH" and response.ok


def create_conversation(page: Page, server: ServerAddress, title: str) -> int:
    with session_client(page, server) as client:
        response = client.post("/api/conversations", json={"title": title})
    response.raise_for_status()
    return response.json()["id"]


def test_citations_link_to_their_sources_and_unknown_numbers_are_flagged(
    page: Page, chat_server: ServerAddress
) -> None:
    open_chat(page, chat_server)
    sources = [
        {"number": 1, "title": "Tides explained", "url": "https://tides.example/why"},
        {"number": 2, "title": "Hostile", "url": "javascript:document.body.dataset.pwned='1'"},
    ]
    render_answer(page, "Tides follow the moon [1]. See also [2] and [3].", sources=sources, invalidCitations=[3])
    probe = page.locator("#probe")
    first = probe.locator("a.citation[data-citation='1']")
    expect(first).to_have_attribute("href", "https://tides.example/why")
    expect(first).to_have_attribute("title", "Tides explained")
    # A source whose address is not http(s) is never a link; a number with no source is flagged.
    expect(probe.locator(".citation-invalid[data-citation='2']")).to_have_text("[2]")
    expect(probe.locator(".citation-invalid[data-citation='3']")).to_have_attribute(
        "title", "The answer cites source 3, which does not exist."
    )
    expect(probe.locator("a")).to_have_count(1)

    render_answer(page, "No search here [1].")
    expect(page.locator("#probe .citation, #probe .citation-invalid")).to_have_count(0)


def test_code_blocks_are_highlighted_and_copied(page: Page, chat_server: ServerAddress) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=chat_server.url)
    open_chat(page, chat_server)
    code = "def area(r):\n    return 3.14 * r * r"
    render_answer(page, f"Here:\n\n```python\n{code}\n```", final=True)
    block = page.locator("#probe .code-block")
    expect(block.locator(".code-language")).to_have_text("python")
    expect(block.locator("code .hljs-keyword").first).to_have_text("def")
    block.get_by_test_id("copy-code").click()
    expect(block.get_by_test_id("copy-code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == code

    render_answer(page, "```python\nwhile True:", final=False)  # mid-stream: copyable, not coloured yet
    expect(page.locator("#probe .code-copy")).to_have_count(1)
    expect(page.locator("#probe .hljs-keyword")).to_have_count(0)


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(
    page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    page.emulate_media(color_scheme="dark")
    open_chat(page, chat_server)
    assert background(page) == DARK_BACKGROUND
    toggle = page.get_by_test_id("theme-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    screenshot(page, "dark")

    with page.expect_response(saved_settings):
        toggle.click()
    assert background(page) == LIGHT_BACKGROUND
    expect(toggle).to_have_attribute("aria-pressed", "false")
    page.reload()
    assert background(page) == LIGHT_BACKGROUND, "the account did not keep the choice"

    page.emulate_media(color_scheme="light")
    toggle.click()
    assert background(page) == DARK_BACKGROUND
    screenshot(page, "dark-by-toggle")


def test_language_switch_translates_the_page_and_is_remembered(
    page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, chat_server)
    expect(page.get_by_test_id("new-chat")).to_have_text("New chat")
    choose_language(page, "de")  # saved on the account, then one reload

    expect(page.get_by_test_id("new-chat")).to_have_text("Neuer Chat")  # the template
    expect(page.locator("#connection")).to_have_text("Verbunden")  # the script's catalogue
    expect(page.get_by_test_id("composer")).to_have_attribute("placeholder", re.compile("^Nachricht an"))
    expect(page.get_by_test_id("language-select")).to_have_value("de")
    page.reload()
    expect(page.get_by_test_id("send")).to_have_text("Senden")
    expect(page.get_by_test_id("theme-toggle")).to_have_attribute("aria-label", "Zum dunklen Design wechseln")
    screenshot(page, "german")

    choose_language(page, "th")
    expect(page.get_by_test_id("send")).to_have_text("ส่ง")
    expect(page.locator("#connection")).to_have_text("เชื่อมต่อแล้ว")
    screenshot(page, "thai")


def test_language_and_theme_follow_the_account_to_another_browser(
    browser: Browser, page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    page.goto(chat_server.url + "/accounts/signup/")
    page.get_by_label("Username").fill("wanderer")
    page.locator("input[name=password1]").fill("a roaming passphrase 9")
    page.locator("input[name=password2]").fill("a roaming passphrase 9")
    page.get_by_test_id("signup-submit").click()
    expect(page.locator(".sidebar-foot .user-label")).to_have_text("wanderer")
    choose_language(page, "de")
    page.get_by_test_id("settings-open").click()
    with page.expect_response(saved_settings) as saved:
        page.get_by_test_id("theme-select").select_option("dark")
    assert saved.value.json()["theme"] == "dark"
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.get_by_test_id("settings-close").click()

    other = browser.new_context(color_scheme="light", locale="fr-FR")  # its own wishes lose to the account's
    try:
        laptop = other.new_page()
        laptop.goto(chat_server.url + "/accounts/login/")
        expect(laptop.locator("h1")).to_have_text("Se connecter")  # no account yet: the browser's language
        laptop.get_by_label("Nom d’utilisateur").fill("wanderer")
        laptop.get_by_label("Mot de passe").fill("a roaming passphrase 9")
        laptop.locator("form.auth-form button[type=submit]").click()
        expect(laptop.locator("#connection")).to_have_text("Verbunden")
        assert laptop.evaluate("document.documentElement.lang") == "de"
        expect(laptop.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(laptop) == DARK_BACKGROUND
        expect(laptop.get_by_test_id("new-chat")).to_have_text("Neuer Chat")
        screenshot(laptop, "second-browser")
    finally:
        other.close()


def test_rename_and_delete_a_conversation(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    conversation_id = create_conversation(page, chat_server, "Trip plans")
    page.reload()
    item = page.locator(f"[data-testid=conversation-item][data-conversation-id='{conversation_id}']")
    item.hover()
    item.locator(".conversation-rename").click()
    rename = item.locator(".conversation-rename-input")
    rename.fill("Holiday in Lisbon")
    rename.press("Enter")
    expect(item.locator(".conversation-title")).to_have_text("Holiday in Lisbon")
    with session_client(page, chat_server) as client:
        titles = [c["title"] for c in client.get("/api/conversations").json()["conversations"]]
    assert titles == ["Holiday in Lisbon"]

    item.hover()
    item.locator(".conversation-delete").click()
    expect(page.get_by_test_id("conversation-item")).to_have_count(0)
    expect(page.locator("#conversation-empty")).to_be_visible()
    expect(page.get_by_test_id("notice")).to_have_count(0, timeout=10_000)  # the Undo time is over
    with session_client(page, chat_server) as client:
        assert client.get("/api/conversations").json()["conversations"] == []


def test_conversation_search_filters_the_list(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    for title in ("Trip to Lisbon", "Tax return", "Café recipes"):
        create_conversation(page, chat_server, title)
    page.reload()
    items = page.get_by_test_id("conversation-item")
    expect(items).to_have_count(3)
    search = page.get_by_test_id("conversation-search")
    search.fill("lisbon")
    expect(items).to_have_count(1)
    expect(items.locator(".conversation-title")).to_have_text("Trip to Lisbon")
    search.fill("cafe")  # accents are ignored
    expect(items.locator(".conversation-title")).to_have_text("Café recipes")
    search.fill("nothing like this")
    expect(items).to_have_count(0)
    expect(page.locator("#conversation-no-match")).to_be_visible()
    search.fill("")
    expect(items).to_have_count(3)


def test_report_sends_a_finished_answer_for_review(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    answer = ask(page, "Name a fruit.")
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    answer.get_by_test_id("report").click()
    page.get_by_test_id("report-reason").fill("It is not a fruit.")
    with page.expect_response(re.compile(r"/api/messages/\d+/report$")) as sent:
        page.get_by_test_id("report-send").click()
    assert sent.value.status == 201
    expect(answer.get_by_test_id("report")).to_have_text("Reported")
    expect(answer.get_by_test_id("report")).to_be_disabled()
    expect(page.get_by_test_id("notice")).to_contain_text("sent for review")


def test_blocked_question_shows_the_refusal_instead_of_an_answer(
    page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, chat_server)
    answer = ask(page, "What is the quickest way to murder someone with a kitchen knife?")
    expect(answer).to_have_attribute("data-status", "blocked", timeout=ANSWER_TIMEOUT_MS)
    refusal = answer.get_by_test_id("blocked")
    expect(refusal).not_to_be_empty()
    expect(answer.get_by_test_id("report")).to_be_visible()
    screenshot(page, "blocked")

    stored = stored_messages(page, chat_server, current_conversation_id(page))[-1]
    assert stored["status"] == "blocked"
    page.reload()
    kept = page.locator(f"[data-message-id='{stored['id']}']")
    expect(kept.get_by_test_id("blocked")).to_have_text(stored["content"])


def test_search_mode_is_saved_to_the_account(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    page.get_by_test_id("settings-open").click()
    select = page.get_by_test_id("search-mode-select")
    expect(select).to_be_enabled()
    select.select_option("off")
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    with session_client(page, chat_server) as client:
        assert client.get("/api/settings").json()["search_mode"] == "off"


def test_search_grounding_shows_its_sources_or_says_it_failed(
    page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    """With search always on, the answer shows what its search gave: a numbered sources panel, or
    (the test server has an empty local index) an inline note that search failed. Either way the
    page shows exactly what the REST API stored."""
    open_chat(page, chat_server)
    with session_client(page, chat_server) as client:
        client.patch("/api/settings", json={"search_mode": "on"}).raise_for_status()
    answer = ask(page, "What happened in the news today?")
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    stored = stored_messages(page, chat_server, current_conversation_id(page))[-1]
    screenshot(page, "search")
    sources = answer.get_by_test_id("sources").locator("li")
    expect(sources).to_have_count(len(stored["sources"]))
    if stored["search_error"]:
        failed = answer.locator(".search-error")
        expect(failed).to_have_text("Web search failed, so this answer does not use it.")
        expect(failed).to_have_attribute("title", stored["search_error"])
    else:
        expect(answer.locator(".search-error")).to_have_count(0)
    assert stored["sources"] or stored["search_error"], "search was on, yet the answer records neither"


def test_keyboard_shortcuts_stop_start_and_focus(page: Page, endless_chat_server: ServerAddress) -> None:
    open_chat(page, endless_chat_server)
    answer = ask(page, "Tell me a very long story about a lighthouse keeper.")
    expect(answer.locator(".content")).not_to_be_empty(timeout=ANSWER_TIMEOUT_MS)
    page.keyboard.press("Escape")
    expect(answer).to_have_attribute("data-status", "cancelled", timeout=ANSWER_TIMEOUT_MS)

    page.locator("#thread").focus()
    page.keyboard.press("/")
    expect(page.get_by_test_id("composer")).to_be_focused()
    expect(page.get_by_test_id("composer")).to_have_value("")

    page.keyboard.press("Control+k")
    expect(page.locator("[data-testid=message]")).to_have_count(0)
    assert "#c=" not in page.url
    expect(page.get_by_test_id("composer")).to_be_focused()


def test_answers_are_announced_by_sentence_not_by_token(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    assert page.locator("#messages").get_attribute("aria-live") is None, "every token would be read out"
    answer = ask(page, "Write three short sentences about rain.")
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    announcer = page.get_by_test_id("announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    lines = announcer.locator("p").all_inner_texts()
    stored = stored_messages(page, chat_server, current_conversation_id(page))[-1]
    assert lines, "nothing was announced"
    # Whatever the page shows last (the answer, or the refusal that replaced it) is heard last.
    assert " ".join(lines).split()[-1] == answer.locator(".content").inner_text().split()[-1]
    if stored["status"] == "complete":
        assert len(lines) < stored["seq"], "announced once per frame"


def test_phone_layout_hides_the_list_in_a_drawer(
    page: Page, chat_server: ServerAddress, screenshot: Screenshot
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(reduced_motion="reduce")  # no slide-in animation: the screenshot shows the open drawer
    open_chat(page, chat_server)
    toggle = page.locator("#sidebar-toggle")
    expect(toggle).to_be_visible()
    expect(page.get_by_test_id("new-chat")).not_to_be_in_viewport()
    screenshot(page, "phone")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("new-chat")).to_be_focused()
    expect(page.get_by_test_id("new-chat")).to_be_in_viewport()
    screenshot(page, "phone-drawer")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()


def test_sign_in_page_uses_the_chosen_language_and_theme(page: Page, chat_server: ServerAddress) -> None:
    open_chat(page, chat_server)
    choose_language(page, "fr")
    with page.expect_response(saved_settings):
        page.get_by_test_id("theme-toggle").click()  # light system scheme: the toggle picks dark
    page.goto(chat_server.url + "/accounts/login/")
    expect(page.locator("h1")).to_have_text("Se connecter")
    expect(page.get_by_text("Continuer en tant qu’invité")).to_be_visible()
    assert background(page) == DARK_BACKGROUND
    assert page.locator("style, [style]").count() == 0, "the CSP (style-src 'self') refuses inline styles"
