"""Fetch limits against the loopback web server: timeouts, the byte cap, content types and charsets."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from search.conf import FetchLimits
from search.fetch import FetchError, FetchRefused, Page, SafeFetcher, decode_body
from tests.support.fake_web import FakeWeb


@pytest.fixture
def limits(web: FakeWeb) -> FetchLimits:
    return FetchLimits(
        connect_timeout=1.0,
        read_timeout=0.5,
        deadline=2.0,
        max_bytes=100_000,
        max_redirects=3,
        per_host=2,
        allowed_hosts=(web.host,),
        user_agent="test-agent",
    )


async def fetch(limits: FetchLimits, url: str) -> Page:
    async with SafeFetcher(limits) as fetcher:
        return await fetcher.fetch(url)


async def test_a_slow_page_times_out(web: FakeWeb, limits: FetchLimits) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer in time"):
        await fetch(limits, web.url("/slow?seconds=3"))
    assert time.monotonic() - started < 1.5


async def test_a_page_that_drips_bytes_stops_at_the_deadline(web: FakeWeb, limits: FetchLimits) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="took longer than 2 s"):
        await fetch(limits, web.url("/drip?seconds=6"))
    assert time.monotonic() - started < 3


async def test_a_huge_page_is_cut_at_the_byte_cap(web: FakeWeb, limits: FetchLimits) -> None:
    started = time.monotonic()
    page = await fetch(limits, web.url("/huge?mb=50"))
    assert page.truncated
    assert len(page.text.encode()) == 100_000
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("application/octet-stream", b"\x00\x01\x02"),
        ("application/pdf", b"%PDF-1.7"),
        ("application/json", b'{"a": 1}'),
    ],
)
async def test_content_that_is_not_a_page_is_refused(
    web: FakeWeb, limits: FetchLimits, content_type: str, body: bytes
) -> None:
    url = web.add("/file", body, content_type)
    with pytest.raises(FetchRefused, match=f"not a web page \\({content_type}\\)"):
        await fetch(limits, url)


async def test_binary_content_that_claims_to_be_html_is_refused(web: FakeWeb, limits: FetchLimits) -> None:
    url = web.add("/disguised", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "text/html")
    with pytest.raises(FetchRefused, match="binary"):
        await fetch(limits, url)


async def test_a_page_without_a_content_type_is_sniffed(web: FakeWeb, limits: FetchLimits) -> None:
    url = web.add("/untyped", b"<p>plain old page</p>", "")
    page = await fetch(limits, url)
    assert page.text == "<p>plain old page</p>"


async def test_error_statuses_are_errors(web: FakeWeb, limits: FetchLimits) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetch(limits, web.url("/missing"))


async def test_unreachable_server_is_an_error(limits: FetchLimits) -> None:
    closed = dataclasses.replace(limits, allowed_hosts=("127.0.0.1:9",))
    with pytest.raises(FetchError, match="could not be reached"):
        await fetch(closed, "http://127.0.0.1:9/")


async def test_the_declared_charset_decodes_the_page(web: FakeWeb, limits: FetchLimits) -> None:
    url = web.add("/latin1", "<p>Crème brûlée à la française</p>".encode("latin-1"), "text/html; charset=ISO-8859-1")
    assert "Crème brûlée à la française" in (await fetch(limits, url)).text


async def test_a_meta_charset_decodes_the_page(web: FakeWeb, limits: FetchLimits) -> None:
    html = '<html><head><meta charset="windows-1251"></head><body><p>Привет, мир</p></body></html>'
    url = web.add("/cyrillic", html.encode("cp1251"), "text/html")
    assert "Привет, мир" in (await fetch(limits, url)).text


def test_an_undeclared_charset_is_detected() -> None:
    text = "Die Straße führt über die Brücke zum Gemüsehändler, wo es Äpfel und Birnen gibt. " * 5
    assert decode_body(text.encode("cp1252")) == text


def test_utf8_is_the_default() -> None:
    assert decode_body("naïve café".encode()) == "naïve café"


async def test_requests_carry_our_user_agent_and_plain_accept(web: FakeWeb, limits: FetchLimits) -> None:
    await fetch(limits, web.url("/article"))
    [request] = web.seen("/article")
    assert request.headers["user-agent"] == "test-agent"
    assert "text/html" in request.headers["accept"]


async def test_pages_of_one_host_are_fetched_at_most_per_host_at_a_time(web: FakeWeb, limits: FetchLimits) -> None:
    """Four one-second pages with two at a time take two rounds."""
    slow = dataclasses.replace(limits, read_timeout=3.0, deadline=5.0, per_host=2)
    started = time.monotonic()
    async with SafeFetcher(slow) as fetcher:
        await asyncio.gather(*(fetcher.fetch(web.url(f"/slow?seconds=1&n={i}")) for i in range(4)))
    assert 2.0 <= time.monotonic() - started < 3.5
