"""The operators' dashboard (/admin/dashboard/) in a real browser: a staff member signs in, every
chart draws visible bars for seeded data with a value axis, gridlines, dates and whole-number
totals, a wider date range changes the figures, in light and dark colours with series that keep
3:1 contrast. The server is the Imagine one (tests/e2e/conftest.py), so the Imagine chart counts a real
render; the rest is stored through the product's services (tests/e2e/dashboard_data.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e import dashboard_data as data
from tests.e2e.colours import contrast
from tests.support.chat_client import ServerAddress
from tests.support.processes import manage

pytestmark = pytest.mark.e2e

WHITE = "rgb(255, 255, 255)"


@pytest.fixture(scope="module")
def dashboard_server(imagine_server: ServerAddress) -> ServerAddress:
    manage(imagine_server.env, "shell", "-c", "from tests.e2e.dashboard_data import seed; seed()")
    return imagine_server


def sign_in_to_dashboard(page: Page, server: ServerAddress, query: str = "") -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/dashboard/{query}")
    page.locator("#id_username").fill(data.STAFF_USERNAME)
    page.locator("#id_password").fill(data.STAFF_PASSWORD)
    page.locator("#login-form [type=submit]").click()
    expect(page.locator("#dashboard")).to_be_visible()


def charts(page: Page) -> Locator:
    return page.locator("#dashboard section.chart")


def totals(page: Page, title: str) -> dict[str, int]:
    """A chart's totals per series, as the page writes them ("web: 3"): whole numbers, never "3.0"."""
    series = page.locator(f"#dashboard section.chart[aria-label='{title}'] .legend-item").all_inner_texts()
    return {name: int(value) for name, value in (text.rsplit(": ", 1) for text in series)}


def assert_every_chart_has_visible_bars(page: Page) -> None:
    count = charts(page).count()
    assert count >= 7, f"only {count} charts"
    for index in range(count):
        chart = charts(page).nth(index)
        title = chart.get_attribute("aria-label")
        sizes = chart.locator("svg rect").evaluate_all(
            "(rects) => rects.map((r) => { const b = r.getBoundingClientRect(); return [b.width, b.height]; })"
        )
        visible = [size for size in sizes if size[0] > 0 and size[1] > 0]
        assert visible, f"the chart {title!r} draws no visible bar"


def assert_charts_are_readable(page: Page) -> None:
    """Every chart has a value axis from 0 with gridlines, dates under it ending today, and bars whose
    colours keep 3:1 against the chart's background (WCAG 1.4.11)."""
    today = dt.datetime.now(dt.UTC).date()
    for index in range(charts(page).count()):
        chart = charts(page).nth(index)
        title = chart.get_attribute("aria-label")
        values = chart.locator(".value-label").all_text_contents()
        assert values[0] == "0", (title, values)
        assert len(values) >= 2, (title, values)
        assert all(re.fullmatch(r"[\d,]+", value) for value in values), (title, values)
        assert chart.locator(".grid line").count() == len(values)
        dates = chart.locator(".date-label").all_text_contents()
        assert len(dates) >= 2, (title, dates)
        assert dates[-1] == f"{today:%b} {today.day}", (title, dates)
        background = chart.locator("svg").evaluate("(el) => getComputedStyle(el).backgroundColor")
        fills = set(chart.locator("rect").evaluate_all("(rects) => rects.map((r) => getComputedStyle(r).fill)"))
        weak = {fill: round(contrast(fill, background), 2) for fill in fills if contrast(fill, background) < 3}
        assert weak == {}, (title, background, weak)


def test_dashboard_draws_every_chart_and_follows_the_date_range(
    page: Page, dashboard_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in_to_dashboard(page, dashboard_server)
    assert_every_chart_has_visible_bars(page)
    assert_charts_are_readable(page)
    recent = totals(page, "Messages per channel")
    assert recent == {"web": data.WEB_TODAY, "whatsapp": data.WHATSAPP_TODAY}, recent
    assert totals(page, "Blocked turns by hazard category") == {"S2 Non-Violent Crimes": 1}
    assert totals(page, "Failed answers") == {"error": 1}
    assert totals(page, "Answer feedback") == {"thumbs up": 1, "thumbs down": 1}
    expect(page.locator('#dashboard tr[data-reason="not helpful"]')).to_contain_text("100%")
    assert totals(page, "Imagine renders")["image"] >= 1
    screenshot(page, "light")

    today = dt.datetime.now(dt.UTC).date()
    page.locator("#dashboard input[name=start]").fill((today - dt.timedelta(days=data.OLD_DAYS_AGO + 5)).isoformat())
    page.locator("#dashboard .dashboard-range [type=submit]").click()
    expect(page).to_have_url(re.compile(r"start=\d{4}-\d\d-\d\d"))
    wider = totals(page, "Messages per channel")
    assert wider == {"web": data.WEB_TODAY + data.WEB_OLD, "whatsapp": data.WHATSAPP_TODAY}, wider
    assert_every_chart_has_visible_bars(page)
    screenshot(page, "wider-range")


def test_dashboard_in_dark_colours(
    browser: Browser, dashboard_server: ServerAddress, screenshot: Callable[[Page, str], Path]
) -> None:
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        sign_in_to_dashboard(page, dashboard_server)
        assert_every_chart_has_visible_bars(page)
        assert_charts_are_readable(page)
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background != WHITE, "the admin ignored the dark colour scheme"
        screenshot(page, "dark")
    finally:
        context.close()
