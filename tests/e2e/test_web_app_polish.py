"""The web app's accessibility and polish in a real browser (Debian chromium via Playwright) against
the real product: contrast measured on the page's own colours, axe-core on every page in both
themes, phone tap targets, deleting with Undo, date groups, suggested prompts, icons, the favicon
and the app manifest, error pages, notices that close and expire, and static files served
compressed with hashed names.

The model is the contract fake of vLLM (tests/e2e/servers.py): what is tested here is the page,
and a scripted answer arrives at once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, choose_language, open_chat, session_client
from tests.e2e.colours import contrast
from tests.e2e.page_checks import PHONE, serious_violations, small_targets
from tests.e2e.servers import scripted_web_server, web_server
from tests.support.chat_client import ServerAddress
from tests.support.processes import manage
from tests.test_translations import read_po

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
ANSWER = "Blue is the colour of a clear sky."
TEXT_CONTRAST = 4.5  # WCAG 1.4.3 AA, normal text
YEAR_SECONDS = 365 * 24 * 3600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with scripted_web_server(tmp_path_factory.mktemp("polish-web"), ANSWER) as address:
        yield address


# (what, text colour of, background colour of): filled controls and text on tinted areas, drawn by
# the page's stylesheet into the thread so that every pair is measured as the page paints it.
COLOUR_PAIRS = [
    ("New chat", "#new-chat", "#new-chat"),
    ("Send", "#send", "#send"),
    ("Stop", "#stop", "#stop"),
    ("the user's bubble", "#probe-user .bubble", "#probe-user .bubble"),
    ("a link in an answer", "#probe-answer a", "#probe-answer .bubble"),
    ("an answer's text", "#probe-answer .bubble", "#probe-answer .bubble"),
    ("a date group's title", ".conversation-group-title", ".sidebar"),
]
PROBES = """() => {
    const user = document.createElement("li");
    user.id = "probe-user";
    user.className = "message message-user";
    user.innerHTML = '<div class="bubble">Hello</div>';
    const answer = document.createElement("li");
    answer.id = "probe-answer";
    answer.className = "message message-assistant";
    answer.innerHTML = '<div class="bubble"><div class="content markdown"><a href="#">a link</a></div></div>';
    document.getElementById("messages").append(user, answer);
}"""


def measured_pairs(page: Page) -> dict[str, float]:
    page.evaluate(PROBES)
    ratios = {}
    for what, text_of, background_of in COLOUR_PAIRS:
        text = page.eval_on_selector(text_of, "(el) => getComputedStyle(el).color")
        background = page.eval_on_selector(background_of, "(el) => getComputedStyle(el).backgroundColor")
        ratios[what] = round(contrast(text, background), 2)
    return ratios


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_on_filled_controls_and_bubbles_keeps_aa_contrast(
    browser: Browser, server: ServerAddress, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        open_chat(page, server)
        with session_client(page, server) as client:
            client.post("/api/conversations", json={"title": "A conversation"}).raise_for_status()
        page.reload()
        expect(page.locator(".conversation-group-title")).to_have_count(1)
        ratios = measured_pairs(page)
        assert {what: ratio for what, ratio in ratios.items() if ratio < TEXT_CONTRAST} == {}, ratios
    finally:
        context.close()


def shared_conversation_url(page: Page, server: ServerAddress) -> str:
    open_chat(page, server)
    answer = ask(page, "What colour is the sky?")
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    conversation_id = int(re.search(r"#c=(\d+)", page.url).group(1))
    with session_client(page, server) as client:
        response = client.post(f"/api/conversations/{conversation_id}/share")
    response.raise_for_status()
    return server.url + response.json()["share_url"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_any_page(
    browser: Browser, server: ServerAddress, scheme: str, screenshot: Screenshot
) -> None:
    # axe is injected as an inline script, which the page's CSP refuses: this context ignores the CSP.
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        share_url = shared_conversation_url(page, server)  # the chat page now shows a question and its answer
        found = {"chat": serious_violations(page)}
        page.get_by_test_id("settings-open").click()
        found["settings"] = serious_violations(page)
        page.keyboard.press("Escape")
        for name, path in (("sign-in", "/accounts/login/"), ("sign-up", "/accounts/signup/"), ("404", "/nowhere")):
            page.goto(server.url + path)
            found[name] = serious_violations(page)
        page.goto(share_url)
        expect(page.get_by_test_id("shared-messages")).to_have_attribute("data-rendered", "true")
        found["share"] = serious_violations(page)
        screenshot(page, f"share-{scheme}")
        assert {name: issues for name, issues in found.items() if issues} == {}
    finally:
        context.close()


def test_every_page_has_a_main_landmark_around_its_controls(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    expect(page.locator("main #composer")).to_have_count(1)
    expect(page.locator("main #thread")).to_have_count(1)
    for path in ("/accounts/login/", "/accounts/signup/"):
        page.goto(server.url + path)
        expect(page.locator("main form.auth-form")).to_have_count(1)


def test_phone_layout_has_big_targets_new_chat_and_no_keyboard_hint(
    browser: Browser, server: ServerAddress, screenshot: Screenshot
) -> None:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        open_chat(page, server)
        answer = ask(page, "What colour is the sky?")
        expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
        composer = page.get_by_test_id("composer")
        assert "Enter" not in composer.get_attribute("placeholder")
        assert small_targets(page, ".topbar") == []
        assert small_targets(page, ".composer") == []
        assert small_targets(page, ".messages") == []
        screenshot(page, "phone")

        new_chat = page.get_by_test_id("new-chat-top")  # without opening the drawer
        expect(new_chat).to_be_in_viewport()
        new_chat.click()
        expect(page.get_by_test_id("message")).to_have_count(0)
        expect(page.get_by_test_id("suggestion").first).to_be_visible()
        assert small_targets(page, ".welcome") == []

        page.locator("#sidebar-toggle").click()
        expect(page.get_by_test_id("new-chat")).to_be_in_viewport()
        assert small_targets(page, ".sidebar") == []
        screenshot(page, "phone-drawer")
    finally:
        context.close()


# Everything in the settings dialog that ends past the dialog's own right edge (a clipped field).
PAST_THE_DIALOG = """() => {
    const dialog = document.getElementById('settings-dialog');
    const edge = dialog.getBoundingClientRect().right;
    return [...dialog.querySelectorAll('*')]
        .filter((element) => element.getBoundingClientRect().right > edge + 1)
        .map((element) => element.id || element.tagName.toLowerCase());
}"""


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_settings_dialog_fits_a_phone(browser: Browser, server: ServerAddress, language: str) -> None:
    """German's search modes are long options: the fields once grew with them past the screen."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        open_chat(page, server)
        choose_language(page, language)
        page.get_by_test_id("settings-open").click()
        dialog = page.get_by_test_id("settings-dialog")
        expect(dialog).to_be_visible()
        assert page.evaluate(PAST_THE_DIALOG) == []
        assert dialog.evaluate("(element) => element.scrollWidth <= element.clientWidth")
    finally:
        context.close()


def test_a_desktop_keeps_the_keyboard_hint(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    assert "Shift+Enter" in page.get_by_test_id("composer").get_attribute("placeholder")
    expect(page.get_by_test_id("new-chat-top")).to_be_hidden()


def test_a_desktop_folds_the_conversation_list_away_and_remembers_it(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    toggle = page.locator("#sidebar-toggle")
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("new-chat-top")).to_be_hidden()

    toggle.click()
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("new-chat-top")).to_be_visible()  # New chat stays one click away
    main_width = page.locator("#main").evaluate("(element) => element.getBoundingClientRect().width")
    assert main_width == page.viewport_size["width"]

    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    expect(sidebar).to_be_hidden()
    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def test_delete_hides_the_conversation_with_undo_then_deletes_it(page: Page, server: ServerAddress) -> None:
    page.on("dialog", lambda dialog: pytest.fail(f"a native dialog opened: {dialog.message}"))
    open_chat(page, server)
    with session_client(page, server) as client:
        kept = client.post("/api/conversations", json={"title": "Kept by Undo"}).json()["id"]
    page.reload()
    item = page.locator(f"[data-testid=conversation-item][data-conversation-id='{kept}']")
    item.hover()
    item.locator(".conversation-delete").click()
    expect(item).to_have_count(0)
    notice = page.get_by_test_id("notice")
    expect(notice).to_contain_text("Kept by Undo")
    notice.get_by_test_id("notice-action").click()
    expect(item).to_be_visible()
    expect(notice).to_have_count(0)

    item.hover()
    item.locator(".conversation-delete").click()
    expect(page.locator("#conversation-empty")).to_be_visible()
    with session_client(page, server) as client:
        assert [c["id"] for c in client.get("/api/conversations").json()["conversations"]] == [kept]
        expect(notice).to_have_count(0, timeout=10_000)  # the Undo time ran out: now it is deleted
        expect(item).to_have_count(0)
        assert client.get("/api/conversations").json()["conversations"] == []


def test_a_deletion_still_undoable_is_carried_out_when_the_page_is_left(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    with session_client(page, server) as client:
        client.post("/api/conversations", json={"title": "Left behind"}).raise_for_status()
        page.reload()
        page.get_by_test_id("conversation-item").hover()
        page.locator(".conversation-delete").click()
        expect(page.get_by_test_id("notice")).to_be_visible()
        page.goto(server.url + "/accounts/login/")
        deadline = time.monotonic() + 5  # the request outlives the page; it may land a moment later
        while client.get("/api/conversations").json()["conversations"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/api/conversations").json()["conversations"] == []


def test_conversations_are_grouped_by_date_with_titles_cut_by_width(
    page: Page, server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, server)
    long_title = "Planning the garden beds for spring and summer"
    ages = {long_title: 0, "Yesterday's": 1, "Last week's": 5, "Ancient": 40}  # days since the last message
    ids = {}
    with session_client(page, server) as client:
        for title in ages:
            ids[title] = client.post("/api/conversations", json={"title": title}).json()["id"]
    for title, days in ages.items():
        if days:
            age_conversation(server, ids[title], days)
    page.reload()
    groups = page.get_by_test_id("conversation-group")
    expect(groups.locator(".conversation-group-title")).to_have_text(["Today", "Yesterday", "Previous 7 days", "Older"])
    expect(groups.nth(3).locator(".conversation-title")).to_have_text("Ancient")

    row = page.locator(f"[data-conversation-id='{ids[long_title]}']")
    label = row.locator(".conversation-title")
    page.mouse.move(1000, 600)  # nothing hovered: the title has the whole row
    label_width, row_width = label.evaluate("(el) => [el.clientWidth, el.closest('li').clientWidth]")
    assert label_width > 0.8 * row_width, (label_width, row_width)
    assert label.evaluate("(el) => el.scrollWidth > el.clientWidth"), "the long title should be cut by width"
    expect(label).to_have_text(long_title)
    screenshot(page, "date-groups")

    choose_language(page, "de")
    expect(page.get_by_test_id("conversation-group").locator(".conversation-group-title").first).to_have_text("Heute")


def age_conversation(server: ServerAddress, conversation_id: int, days: int) -> None:
    """Moves a conversation's last activity `days` back, as if it had been written then."""
    code = (
        "import datetime as dt; from django.utils import timezone; from assistant.models import Conversation; "
        f"Conversation.objects.filter(pk={conversation_id})"
        f".update(updated_at=timezone.now() - dt.timedelta(days={days}))"
    )
    manage(server.env, "shell", "-c", code)


def test_a_suggested_prompt_fills_the_message_box(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    suggestion = page.get_by_test_id("suggestion").nth(1)
    text = suggestion.inner_text()
    suggestion.click()
    expect(page.get_by_test_id("composer")).to_have_value(text)
    expect(page.get_by_test_id("composer")).to_be_focused()
    expect(page.get_by_test_id("message")).to_have_count(0)  # filled, not sent
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_regenerate_shows_under_the_answer_and_user_messages_copy(page: Page, server: ServerAddress) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.set_viewport_size({"width": 1280, "height": 600})
    open_chat(page, server)
    for question in ("First question?", "Second question?"):
        answer = ask(page, question)
        expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("regenerate")).to_be_in_viewport()
    user = page.locator("[data-testid=message][data-role=user]").last
    user.get_by_test_id("message-copy").click()
    expect(user.get_by_test_id("message-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "Second question?"


def test_icons_are_svg_from_the_sprite_not_glyphs(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    glyphs = page.evaluate(
        """() => [...document.querySelectorAll("button, a")]
            .map((el) => el.textContent)
            .filter((text) => /[\\u2190-\\u2bff\\u{1f300}-\\u{1faff}×]/u.test(text))"""
    )
    assert glyphs == []
    for test_id in ("new-chat", "share-open", "imagine-open", "theme-toggle", "settings-open"):
        use = page.get_by_test_id(test_id).locator("svg.icon use")
        expect(use).to_have_attribute("href", re.compile(r"/static/frontend/vendor/icons(\.\w+)?\.svg#[\w-]+$"))
    size = (
        page.get_by_test_id("settings-open")
        .locator("svg")
        .evaluate("(el) => [el.getBoundingClientRect().width, el.getBBox().width]")
    )
    assert size[0] > 10, size
    assert size[1] > 0, f"the sprite's symbol drew nothing: {size}"


def test_favicon_and_app_manifest_are_served(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    favicon = page.locator("link[rel=icon][type='image/svg+xml']").get_attribute("href")
    png = page.locator("link[rel=icon][type='image/png']").get_attribute("href")
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    with httpx.Client(base_url=server.url) as client:
        assert client.get(favicon).headers["content-type"].startswith("image/svg+xml")
        assert client.get(png).content.startswith(b"\x89PNG")
        manifest = json.loads(client.get(manifest_url).text)
        assert manifest["start_url"] == "/"
        assert manifest["display"] == "standalone"
        sizes = set()
        for icon in manifest["icons"]:
            response = client.get(httpx.URL(server.url + manifest_url).join(icon["src"]))
            assert response.status_code == 200, icon
            sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes, "installable on phones needs 192 and 512 pixel icons"


def test_the_not_found_page_looks_like_the_product(page: Page, server: ServerAddress) -> None:
    assert page.goto(server.url + "/no/such/page").status == 404
    expect(page.get_by_test_id("error-page").locator("h1")).to_have_text("This link does not work")
    expect(page.get_by_test_id("error-page").locator("a.button-primary")).to_have_attribute("href", "/")
    assert page.evaluate("getComputedStyle(document.body).display") == "grid", "the product's stylesheet is missing"


def test_a_turned_off_share_link_says_so_in_the_products_look(page: Page, server: ServerAddress) -> None:
    assert page.goto(server.url + "/share/no-such-link-at-all-here").status == 404
    missing = page.get_by_test_id("share-missing")
    expect(missing.locator("h1")).to_have_text("This link does not work")
    expect(missing.locator("img.state-mark")).to_be_visible()
    expect(page.get_by_test_id("start-own-chat")).to_be_visible()


def test_notices_close_and_go_away_on_their_own(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    with session_client(page, server) as client:
        client.post("/api/conversations", json={"title": "Holiday"}).raise_for_status()
    page.reload()
    item = page.get_by_test_id("conversation-item")

    def refused_rename() -> None:
        item.hover()
        item.locator(".conversation-rename").click()
        item.locator(".conversation-rename-input").fill(" ")
        item.locator(".conversation-rename-input").press("Enter")
        expect(page.get_by_test_id("notice")).to_have_count(1)

    refused_rename()
    page.get_by_test_id("notice-close").click()
    expect(page.get_by_test_id("notice")).to_have_count(0)
    expect(page.get_by_test_id("composer")).to_be_focused()
    refused_rename()
    page.mouse.move(1000, 700)
    expect(page.get_by_test_id("notice")).to_have_count(0, timeout=15_000)


def test_search_placeholder_fits_in_every_language(page: Page, server: ServerAddress) -> None:
    """The search box's placeholder, in each language's words, measured in the box's own font."""
    open_chat(page, server)
    locale = Path(settings.BASE_DIR) / "locale"
    placeholders = {"en": "Search conversations"} | {
        code: read_po(locale / code / "LC_MESSAGES" / "django.po")["Search conversations"][0]
        for code, _ in settings.LANGUAGES
        if code != "en"
    }
    clipped = page.get_by_test_id("conversation-search").evaluate(
        """(box, texts) => {
            const style = getComputedStyle(box);
            const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            const pen = document.createElement("canvas").getContext("2d");
            pen.font = style.font;
            return Object.entries(texts).filter(([, text]) => pen.measureText(text).width > room);
        }""",
        placeholders,
    )
    assert clipped == []


def test_languages_are_listed_by_their_own_names(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    choose_language(page, "hi")
    names = page.get_by_test_id("language-select").locator("option[lang]").all_inner_texts()
    assert names[:3] == ["English", "Deutsch", "Français"], names
    assert "हिंदी" in names


@pytest.fixture(scope="module")
def collected_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """A web server after `collectstatic`, as the production image runs."""
    with web_server(tmp_path_factory.mktemp("collected-web"), collect_static=True) as address:
        yield address


def test_static_files_are_hashed_compressed_and_cached_for_a_year(
    browser: Browser, collected_server: ServerAddress
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        statics = []
        page.on("response", lambda response: statics.append(response) if "/static/" in response.url else None)
        open_chat(page, collected_server)  # every module loaded under its hashed name: the socket opened
        expect(page.get_by_test_id("suggestion").first).to_be_visible()
        assert errors == []
        scripts = [r for r in statics if r.url.endswith(".js")]
        assert len(scripts) >= 10, [r.url for r in statics]
        for response in statics:
            name = response.url.rsplit("/", 1)[1]
            assert re.search(r"\.[0-9a-f]{12}\.\w+$", name), f"not a hashed name: {response.url}"
            cache_control = response.all_headers()["cache-control"]
            assert "immutable" in cache_control, (response.url, cache_control)
            assert int(re.search(r"max-age=(\d+)", cache_control).group(1)) >= YEAR_SECONDS
        for response in scripts + [r for r in statics if r.url.endswith(".css")]:
            # Chromium accepts brotli; the Brotli package (requirements.txt) makes WhiteNoise write it.
            assert response.all_headers().get("content-encoding") == "br", response.url
    finally:
        context.close()
