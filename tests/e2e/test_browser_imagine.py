"""The Imagine panel and the sign-up page in a real browser (Debian chromium via Playwright) against
the real product: uvicorn, the Imagine consumer and a Celery imagine worker with the built-in tiny
random pipeline (abstract pictures, fractions of a second each on this CPU)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.chat_page import ask, choose_language, open_chat, session_client
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

PROMPT = "a lighthouse at dawn"
TYPING_DELAY_MS = 90  # a quick typist: about 11 keys a second
RENDER_TIMEOUT_MS = 120_000  # a final render, or a preview while the worker is busy, on 2 shared cores
ANIMATE_TIMEOUT_MS = 180_000  # 16 frames re-rendered through the pipeline, then encoded twice
PREVIEW_URL = re.compile(r"^data:image/")  # previews are sent inline, never stored

# Records every value an attribute of an element takes, from now on, in window.__seen[name].
RECORD_ATTRIBUTE = """([selector, attribute]) => {
    window.__seen = window.__seen || {};
    const seen = (window.__seen[attribute] = []);
    new MutationObserver(() => seen.push(document.querySelector(selector).getAttribute(attribute)))
        .observe(document.querySelector(selector), {attributes: true, attributeFilter: [attribute]});
}"""


def open_imagine(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    page.get_by_test_id("imagine-open").click()
    expect(page.get_by_test_id("imagine-dialog")).to_have_attribute("data-connection", "open")
    expect(page.get_by_test_id("imagine-prompt")).to_be_focused()


def record(page: Page, selector: str, attribute: str) -> None:
    page.evaluate(RECORD_ATTRIBUTE, [selector, attribute])


def recorded(page: Page, attribute: str) -> list[str]:
    return page.evaluate("(attribute) => window.__seen[attribute]", attribute)


def create(page: Page) -> int:
    """Type the prompt, press Create and wait for the stored picture; returns its id."""
    page.get_by_test_id("imagine-prompt").fill(PROMPT)
    page.get_by_test_id("imagine-create").click()
    preview = page.get_by_test_id("imagine-preview")
    expect(preview).to_have_attribute("data-final", "true", timeout=RENDER_TIMEOUT_MS)
    expect(page.get_by_test_id("imagine-download")).to_be_visible()
    href = page.get_by_test_id("imagine-download").get_attribute("href")
    match = re.fullmatch(r"/api/imagine/(\d+)/image\.png", href or "")
    assert match, href
    return int(match.group(1))


def test_the_picture_follows_the_prompt_as_it_is_typed(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_imagine(page, imagine_server)
    record(page, "#imagine-preview", "data-seq")
    page.get_by_test_id("imagine-prompt").press_sequentially(PROMPT, delay=TYPING_DELAY_MS)

    page.wait_for_timeout(500)  # the last keys' prompt goes out within 150 ms
    last_sent = page.get_by_test_id("imagine-prompt").get_attribute("data-sent-seq")
    assert last_sent, "no prompt was sent"
    expect(page.get_by_test_id("imagine-preview")).to_have_attribute("data-seq", last_sent, timeout=RENDER_TIMEOUT_MS)
    shown = [int(seq) for seq in recorded(page, "data-seq")]
    assert len(shown) >= 3, f"the picture changed only {len(shown)} times while typing"
    assert shown == sorted(set(shown)), f"an older picture replaced a newer one: {shown}"
    assert shown[-1] == int(last_sent)
    assert int(last_sent) < len(PROMPT), "every key sent a prompt: typing is not coalesced"
    expect(page.get_by_test_id("imagine-preview")).to_have_attribute("src", PREVIEW_URL)
    expect(page.get_by_test_id("imagine-error")).to_be_hidden()
    screenshot(page, "typed")


def test_create_stores_a_picture_that_only_its_owner_can_fetch(
    browser: Browser, page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_imagine(page, imagine_server)
    image_id = create(page)
    url = f"/api/imagine/{image_id}/image.png"
    with session_client(page, imagine_server) as owner:
        response = owner.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")

    item = page.locator(f"[data-testid=imagine-gallery-item][data-id='{image_id}']")
    expect(item).to_have_attribute("data-kind", "image")
    expect(page.get_by_test_id("imagine-status")).not_to_be_empty()
    screenshot(page, "created")

    other = browser.new_context()
    try:
        stranger = other.new_page()
        open_chat(stranger, imagine_server)
        assert stranger.request.get(imagine_server.url + url).status == 404
        stranger.get_by_test_id("imagine-open").click()
        expect(stranger.get_by_test_id("imagine-gallery-empty")).to_be_visible()
        expect(stranger.get_by_test_id("imagine-gallery-item")).to_have_count(0)
    finally:
        other.close()


@pytest.mark.timeout(ANIMATE_TIMEOUT_MS // 1000 + 120)
def test_animate_shows_progress_then_a_looping_clip(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_imagine(page, imagine_server)
    image_id = create(page)
    record(page, "#imagine-progress", "data-done")
    page.get_by_test_id("imagine-animate").click()
    expect(page.get_by_test_id("imagine-progress")).to_be_visible()
    screenshot(page, "animating")

    clip = page.get_by_test_id("imagine-clip")
    expect(clip).to_be_visible(timeout=ANIMATE_TIMEOUT_MS)
    frames = int(clip.get_attribute("data-frames") or 0)
    progress = [int(done) for done in recorded(page, "data-done")]
    assert frames > 1
    assert len(progress) >= 2, progress
    assert progress == sorted(progress), progress
    assert progress[-1] <= frames
    assert clip.evaluate("(video) => video.muted && video.loop && video.autoplay")

    with session_client(page, imagine_server) as owner:
        for testid, media_type in (("imagine-download-mp4", "video/mp4"), ("imagine-download-gif", "image/gif")):
            href = page.get_by_test_id(testid).get_attribute("href")
            response = owner.get(href or "")
            assert (response.status_code, response.headers["content-type"]) == (200, media_type), href
        gallery = owner.get("/api/imagine").json()["images"]
    assert [item["kind"] for item in gallery[:2]] == ["clip", "image"]
    assert gallery[1]["id"] == image_id
    expect(page.locator("[data-testid=imagine-gallery-item][data-kind=clip]")).to_have_count(1)
    screenshot(page, "animated")


def wait_until_loaded(picture: Locator) -> None:
    """Visible is not loaded: the image's bytes arrive after its element shows. Fails on timeout."""
    picture.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle())


def test_imagine_in_the_chat_puts_the_picture_in_the_thread_and_keeps_it(
    browser: Browser, page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_chat(page, imagine_server)
    answer = ask(page, "/imagine a red bicycle")
    picture = answer.locator("[data-testid=thread-image] img")
    expect(picture).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(answer).to_have_attribute("data-status", "complete")
    expect(picture).to_have_attribute("alt", "a red bicycle")
    wait_until_loaded(picture)
    src = picture.get_attribute("src") or ""
    assert re.fullmatch(r"/api/imagine/\d+/image\.png", src), src
    expect(answer.get_by_test_id("thread-image-download")).to_have_attribute("href", src)
    screenshot(page, "in-thread")

    page.reload()
    kept = page.locator("[data-testid=message][data-role=assistant] [data-testid=thread-image] img")
    expect(kept).to_have_attribute("src", src)
    expect(kept).to_have_attribute("alt", "a red bicycle")
    wait_until_loaded(kept)
    screenshot(page, "after-reload")

    other = browser.new_context()
    try:
        assert other.request.get(imagine_server.url + src).status == 404  # the owner's only
    finally:
        other.close()


def test_a_guest_who_signs_up_keeps_their_conversations(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_chat(page, imagine_server)
    with session_client(page, imagine_server) as guest:
        guest.post("/api/conversations", json={"title": "Harbour lights"}).raise_for_status()

    page.goto(imagine_server.url + "/accounts/login/")
    page.get_by_test_id("create-account").click()
    page.get_by_label("Username").fill("harbour_keeper")
    page.locator("input[name=password1]").fill("a salty passphrase 42")
    page.locator("input[name=password2]").fill("a different passphrase")
    page.get_by_test_id("signup-submit").click()
    expect(page.get_by_test_id("password2-errors")).to_contain_text(re.compile(r"password fields didn.t match"))
    expect(page.locator("input[name=password2]")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username")).to_have_value("harbour_keeper")
    screenshot(page, "mismatch")

    page.locator("input[name=password1]").fill("a salty passphrase 42")
    page.locator("input[name=password2]").fill("a salty passphrase 42")
    page.get_by_test_id("signup-submit").click()
    expect(page).to_have_url(imagine_server.url + "/")
    expect(page.locator(".sidebar-foot .user-label")).to_have_text("harbour_keeper")
    expect(page.get_by_test_id("conversation-item")).to_contain_text(["Harbour lights"])
    screenshot(page, "signed-up")


def test_an_error_is_shown_inline_in_the_users_language(page: Page, imagine_server: ServerAddress) -> None:
    open_chat(page, imagine_server)
    choose_language(page, "de")
    open_imagine(page, imagine_server)
    # A shape this server does not offer: the consumer answers with an `unknown_size` error frame.
    page.locator("input[name=imagine-size][value=landscape]").evaluate("(radio) => { radio.value = 'panorama'; }")
    page.get_by_text("Querformat").click()
    page.get_by_test_id("imagine-prompt").fill(PROMPT)
    expect(page.get_by_test_id("imagine-error")).to_have_text("Dieses Format ist nicht verfügbar.")
    expect(page.get_by_test_id("imagine-error")).to_have_attribute("role", "alert")


def test_the_panel_fills_a_phone_screen_in_dark_mode(
    browser: Browser, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        phone = context.new_page()
        open_chat(phone, imagine_server)
        expect(phone.get_by_test_id("imagine-open")).to_be_in_viewport(ratio=1)
        screenshot(phone, "phone-topbar")
        phone.get_by_test_id("imagine-open").click()
        phone.get_by_test_id("imagine-prompt").fill(PROMPT)
        expect(phone.get_by_test_id("imagine-preview")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        box = phone.get_by_test_id("imagine-dialog").bounding_box()
        assert box is not None
        assert (box["x"], box["width"]) == (0, 390)
        background = phone.get_by_test_id("imagine-dialog").evaluate("(d) => getComputedStyle(d).backgroundColor")
        assert background == "rgb(24, 25, 26)"  # --bg in dark mode
        screenshot(phone, "phone-dark")
    finally:
        context.close()


REFUSED_PROMPT = "What is the quickest way to murder someone with a kitchen knife?"  # the guard refuses it
# Records every text #imagine-empty shows, from now on, in window.__emptyTexts.
RECORD_EMPTY_TEXT = """() => {
    const empty = document.getElementById("imagine-empty");
    window.__emptyTexts = [];
    new MutationObserver(() => window.__emptyTexts.push(empty.textContent))
        .observe(empty, {childList: true, characterData: true, subtree: true});
}"""


def test_the_panel_says_it_is_drawing_and_keeps_its_place(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    open_imagine(page, imagine_server)
    dialog, stage = page.get_by_test_id("imagine-dialog"), page.get_by_test_id("imagine-stage")
    empty_boxes = (dialog.bounding_box(), stage.bounding_box())
    record(page, "#imagine-stage", "aria-busy")
    page.evaluate(RECORD_EMPTY_TEXT)

    create(page)
    assert page.evaluate("window.__emptyTexts")[0] == "Drawing your picture…"
    assert recorded(page, "aria-busy")[0] == "true"
    expect(stage).to_have_attribute("aria-busy", "false")
    screenshot(page, "created")
    assert (dialog.bounding_box(), stage.bounding_box()) == empty_boxes, "the panel moved as the picture came"


def test_a_refused_prompt_takes_the_earlier_picture_and_its_buttons_away(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_imagine(page, imagine_server)
    create(page)
    page.get_by_test_id("imagine-prompt").fill(REFUSED_PROMPT)
    expect(page.get_by_test_id("imagine-error")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(page.get_by_test_id("imagine-preview")).to_be_hidden()
    expect(page.get_by_test_id("imagine-download")).to_be_hidden()
    expect(page.get_by_test_id("imagine-animate")).to_be_hidden()
    expect(page.locator("#imagine-empty")).to_have_text("Start typing to see your picture.")
    expect(page.get_by_test_id("imagine-stage")).to_have_attribute("aria-busy", "false")
    screenshot(page, "refused")


def test_the_embedded_stand_in_pipeline_is_named_for_what_it_draws(page: Page, imagine_server: ServerAddress) -> None:
    """The test server runs the built-in `tiny-random` pipeline: its pictures are noise by design."""
    open_imagine(page, imagine_server)
    note = page.get_by_test_id("imagine-stand-in")
    expect(note).to_be_visible()
    expect(note).to_contain_text("stand-in pipeline")
    expect(note).to_contain_text("GPU")


@pytest.mark.timeout(2 * RENDER_TIMEOUT_MS // 1000 + 120)  # a final render, then an edit
def test_edit_restyles_a_gallery_picture_and_a_refused_instruction_keeps_it(
    page: Page, imagine_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    open_imagine(page, imagine_server)
    image_id = create(page)
    page.locator(f"[data-testid=imagine-gallery-item][data-id='{image_id}']").get_by_test_id(
        "imagine-gallery-edit"
    ).click()
    instruction, apply = page.get_by_test_id("imagine-instruction"), page.get_by_test_id("imagine-edit-apply")
    expect(instruction).to_be_focused()
    expect(apply).to_be_disabled()
    record(page, "#imagine-stage", "aria-busy")
    instruction.fill("in watercolour")  # plainly safe to the embedded stand-in guard
    apply.click()

    expect(page.get_by_test_id("imagine-status")).to_have_text(
        "Edit ready and saved to your pictures.", timeout=RENDER_TIMEOUT_MS
    )
    assert recorded(page, "aria-busy")[0] == "true"
    expect(page.get_by_test_id("imagine-edit-form")).to_be_hidden()
    preview = page.get_by_test_id("imagine-preview")
    expect(preview).to_have_attribute("alt", f"in watercolour, {PROMPT}")
    edited_url = preview.get_attribute("src") or ""
    with session_client(page, imagine_server) as owner:
        gallery = owner.get("/api/imagine").json()["images"]
    assert (gallery[0]["edited_from"], gallery[0]["url"]) == (image_id, edited_url)
    expect(page.locator(f"[data-testid=imagine-gallery-item][data-id='{gallery[0]['id']}']")).to_be_visible()
    screenshot(page, "edited")

    page.get_by_test_id("imagine-edit").click()
    instruction.fill(REFUSED_PROMPT)
    apply.click()
    expect(page.get_by_test_id("imagine-error")).to_have_text(
        "That change can't be made: the instruction breaks the content rules.", timeout=RENDER_TIMEOUT_MS
    )
    expect(preview).to_have_attribute("src", edited_url)  # the picture stays, and the words to change
    expect(instruction).to_have_value(REFUSED_PROMPT)
    expect(apply).to_be_enabled()
    screenshot(page, "edit-refused")
