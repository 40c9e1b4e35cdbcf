"""SSRF protection: every fetch is checked (scheme, port, every resolved address), each redirect hop
again, and the connection goes to the checked address. Nothing refused here is ever contacted."""

from __future__ import annotations

import dataclasses

import pytest

from search.conf import FetchLimits
from search.fetch import FetchError, FetchRefused, SafeFetcher, refusal_reason
from tests.support.fake_web import FakeWeb

LIMITS = FetchLimits(
    connect_timeout=1.0,
    read_timeout=1.0,
    deadline=3.0,
    max_bytes=1_000_000,
    max_redirects=3,
    per_host=2,
    allowed_hosts=(),
    user_agent="test",
)


def allowing(*hosts: str) -> FetchLimits:
    return dataclasses.replace(LIMITS, allowed_hosts=hosts)


class FixedResolver:
    """A DNS stand-in (a third-party service): fixed answers per name, counting lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "not a public address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 address"),
        ("::ffff:8.8.8.8", "an IPv4-mapped IPv6 address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("2002:7f00:1::", "a loopback address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal_reason(address) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://[::1]/",
        "http://10.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "https://192.168.0.1/",
    ],
)
async def test_literal_addresses_are_refused(url: str) -> None:
    async with SafeFetcher(LIMITS) as fetcher:
        with pytest.raises(FetchRefused, match="points to"):
            await fetcher.fetch(url)


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = FixedResolver({"intranet.example.com": ["10.20.30.40"]})
    async with SafeFetcher(LIMITS, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match=r"intranet.example.com points to a private address"):
            await fetcher.fetch("https://intranet.example.com/")


async def test_localhost_is_refused_through_the_system_resolver() -> None:
    async with SafeFetcher(LIMITS) as fetcher:
        with pytest.raises(FetchRefused, match="localhost points to a loopback address"):
            await fetcher.fetch("http://localhost/")


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    resolver = FixedResolver({"mixed.example.com": ["93.184.215.14", "127.0.0.1"]})
    async with SafeFetcher(LIMITS, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match="loopback"):
            await fetcher.fetch("http://mixed.example.com/")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/file", "gopher://example.com/", "data:text/html,hi", "javascript:1"],
)
async def test_only_http_and_https_are_fetched(url: str) -> None:
    async with SafeFetcher(LIMITS) as fetcher:
        with pytest.raises(FetchRefused):
            await fetcher.fetch(url)


@pytest.mark.parametrize("url", ["http://example.com:8080/", "https://example.com:22/", "http://example.com:6379/"])
async def test_unusual_ports_are_refused_before_any_lookup(url: str) -> None:
    resolver = FixedResolver({"example.com": ["93.184.215.14"]})
    async with SafeFetcher(LIMITS, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match="not a normal web port"):
            await fetcher.fetch(url)
    assert resolver.lookups == []


async def test_an_allow_listed_host_is_fetched_but_not_other_ports_of_it(web: FakeWeb) -> None:
    async with SafeFetcher(allowing(web.host)) as fetcher:
        page = await fetcher.fetch(web.url("/article"))
        assert "volcanoes" in page.text
        with pytest.raises(FetchRefused, match="not a normal web port"):
            await fetcher.fetch(f"http://127.0.0.1:{web.port + 1}/")
        with pytest.raises(FetchRefused, match="loopback"):
            await fetcher.fetch("http://127.0.0.1/")


async def test_a_redirect_to_loopback_from_an_allowed_host_is_refused(web: FakeWeb) -> None:
    web.redirect("/to-loopback", "http://127.0.0.1/admin")
    web.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/iam")
    web.redirect("/to-localhost", "http://localhost/")
    web.redirect("/to-mapped", "http://[::ffff:127.0.0.1]/")
    async with SafeFetcher(allowing(web.host)) as fetcher:
        for path, reason in [
            ("/to-loopback", "loopback"),
            ("/to-metadata", "cloud metadata"),
            ("/to-localhost", "loopback"),
            ("/to-mapped", "IPv4-mapped"),
        ]:
            with pytest.raises(FetchRefused, match=reason):
                await fetcher.fetch(web.url(path))


async def test_a_redirect_to_another_port_of_an_allowed_host_is_refused(web: FakeWeb) -> None:
    web.redirect("/to-other-port", f"http://127.0.0.1:{web.port + 1}/")
    async with SafeFetcher(allowing(web.host)) as fetcher:
        with pytest.raises(FetchRefused, match="not a normal web port"):
            await fetcher.fetch(web.url("/to-other-port"))


async def test_redirects_within_allowed_hosts_are_followed_up_to_the_cap(web: FakeWeb) -> None:
    web.redirect("/hop1", "/hop2", status=301)
    web.redirect("/hop2", web.url("/article"), status=307)
    web.redirect("/loop", "/loop")
    async with SafeFetcher(allowing(web.host)) as fetcher:
        page = await fetcher.fetch(web.url("/hop1"))
        assert page.url == web.url("/article")
        with pytest.raises(FetchError, match="redirected more than 3 times"):
            await fetcher.fetch(web.url("/loop"))
    assert len(web.seen("/loop")) == 4


async def test_the_connection_goes_to_the_checked_address_with_the_name_in_host(web: FakeWeb) -> None:
    """No second lookup: `docs.test` is unknown to the system resolver, so the page can only be reached
    through the address our resolver checked; the server still sees the name in the Host header."""
    resolver = FixedResolver({"docs.test": ["127.0.0.1"]})
    async with SafeFetcher(allowing(f"docs.test:{web.port}"), resolver=resolver) as fetcher:
        page = await fetcher.fetch(f"http://docs.test:{web.port}/article")
    assert "volcanoes" in page.text
    assert resolver.lookups == ["docs.test"]
    [request] = web.seen("/article")
    assert request.headers["host"] == f"docs.test:{web.port}"


async def test_an_unresolvable_name_is_an_error_not_a_crash() -> None:
    async with SafeFetcher(LIMITS, resolver=FixedResolver({})) as fetcher:
        with pytest.raises(FetchError, match="could not be resolved"):
            await fetcher.fetch("https://nowhere.invalid/")


async def test_international_names_are_looked_up_in_their_ascii_form() -> None:
    resolver = FixedResolver({"xn--bcher-kva.example": ["10.0.0.1"]})
    async with SafeFetcher(LIMITS, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match=r"xn--bcher-kva\.example points to a private address"):
            await fetcher.fetch("https://bücher.example/")
