"""Fetching web pages that users (or search results) point at, safely.

Every hop of every fetch is checked before anything is sent (SSRF protection):
only http and https; only ports 80 and 443; the host is resolved once and every address it resolves
to must be public (not loopback, private, link-local, multicast, reserved, unspecified, IPv4-mapped
IPv6 or a cloud metadata address); the request then goes to the address that was checked, with the
name in the Host header and in TLS SNI, so a second DNS answer cannot redirect it (no rebinding).
Redirects are followed here, not by httpx, so each hop passes the same checks. Hosts listed in
SEARCH_FETCH_ALLOWED_HOSTS skip the address and port rules (test servers, an operator's intranet).

Pages are read with connect/read timeouts, an overall deadline, a byte cap (the rest is ignored) and
a per-host concurrency limit; only HTML and plain text are accepted, and bodies are decoded by their
declared or detected charset.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import re
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import charset_normalizer
import httpx

from search import conf

Resolver = Callable[[str, int], Awaitable[list[str]]]
T = TypeVar("T")
Reader = Callable[[httpx.URL, httpx.Response], Awaitable[T]]  # (the URL after redirects, its answer)

TEXT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
XML_TYPES = frozenset({"application/xml", "text/xml"})  # sitemaps
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
NORMAL_PORTS = frozenset({80, 443})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
ADDRESS_CLASSES = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
)
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
SNIFF_BYTES = 1024


class FetchError(Exception):
    """A page could not be used; the message is plain words about why."""


class FetchRefused(FetchError):
    """Refused before or while fetching: an address, port, scheme or content type that is not allowed."""


@dataclass(frozen=True)
class Page:
    url: str  # where the content came from, after redirects
    content_type: str  # one of the media types asked for: text/html, application/xhtml+xml, text/plain…
    text: str
    truncated: bool  # the byte cap cut it


@dataclass(frozen=True)
class _Hop:
    """One checked request: the URL rewritten to the checked address, and the name it stands for."""

    url: httpx.URL
    host_header: str
    server_name: str


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo else None


def refusal_reason(address: str) -> str | None:
    """Why a connection to `address` is refused, in plain words, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id names an interface, not a host
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (reason := refusal_reason(str(embedded))):
            return reason
    for attribute, words in ADDRESS_CLASSES:
        if getattr(ip, attribute):
            return words
    return None if ip.is_global else "not a public address"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_label(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_allow_listed(host: str, port: int, allowed: tuple[str, ...]) -> bool:
    label = _host_label(host)
    return label in allowed or f"{label}:{port}" in allowed


async def _check(url: httpx.URL, limits: conf.FetchLimits, resolver: Resolver) -> _Hop:
    if url.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https links are fetched, not {url.scheme or 'this'}")
    host = url.raw_host.decode("ascii").lower()  # IDNA-encoded: what DNS and the Host header carry
    if not host:
        raise FetchRefused("the link has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    allowed = _is_allow_listed(host, port, limits.allowed_hosts)
    if not allowed and port not in NORMAL_PORTS:
        raise FetchRefused(f"port {port} is not a normal web port")
    address = await _checked_address(host, port, allowed, resolver)
    default_port = url.port is None
    return _Hop(
        url=url.copy_with(host=address),
        host_header=_host_label(host) if default_port else f"{_host_label(host)}:{port}",
        server_name=host,
    )


async def _checked_address(host: str, port: int, allowed: bool, resolver: Resolver) -> str:
    try:
        addresses = [host] if _is_ip_literal(host) else await resolver(host, port)
    except OSError as error:
        raise FetchError(f"{host} could not be resolved") from error
    if not addresses:
        raise FetchError(f"{host} could not be resolved")
    if not allowed:
        # Every answer must be public: a name with one public and one private address is refused.
        for address in addresses:
            if reason := refusal_reason(address):
                raise FetchRefused(f"{host} points to {reason}")
    return addresses[0].split("%", 1)[0]


def _media_type(response: httpx.Response) -> tuple[str, str]:
    """The media type and charset parameter of the response ("" when absent)."""
    header = response.headers.get("content-type", "")
    media_type, _, params = header.partition(";")
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", params, re.IGNORECASE)
    return media_type.strip().lower(), match.group(1) if match else ""


def _known_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes, declared_charset: str = "") -> str:
    """Text of a page: the declared charset, else a <meta> charset, else UTF-8, else a detected one."""
    meta = META_CHARSET.search(body[:4096])
    for name in (declared_charset, meta.group(1).decode("ascii") if meta else ""):
        if name and (codec := _known_codec(name)):
            return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return _detected_text(body)


def _detected_text(body: bytes) -> str:
    """The body in its detected charset; ties go to windows-1252, the web's commonest legacy charset."""
    matches = charset_normalizer.from_bytes(body)
    best = matches.best()
    if best is None:
        return body.decode("cp1252", errors="replace")
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    return str(next((m for m in tied if m.encoding == "cp1252"), best))


class SafeFetcher:
    """`async with SafeFetcher() as fetcher: page = await fetcher.fetch(url)`; one per batch of pages."""

    def __init__(self, limits: conf.FetchLimits | None = None, resolver: Resolver = system_resolver) -> None:
        self.limits = limits or conf.search_settings().fetch_limits
        self.resolver = resolver
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.limits.per_host)
        )
        timeout = httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout)
        # trust_env off: a proxy from the environment would resolve names itself, undoing the checks.
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, media_types: frozenset[str] = TEXT_TYPES) -> Page:
        """The page at `url` if its type is one of `media_types`; raises FetchError (or FetchRefused) otherwise."""
        return await self.fetch_with(url, media_types, functools.partial(self._read, media_types=media_types))

    async def fetch_with(self, url: str, media_types: frozenset[str], read: Reader[T]) -> T:
        """What `read` makes of the final answer for `url`, with every hop checked and the deadline kept;
        `media_types` are the ones asked for. For other content than pages (photos): `read` applies its
        own type and size checks. Raises FetchError (or FetchRefused), or what `read` raises."""
        try:
            async with asyncio.timeout(self.limits.deadline):
                return await self._follow(httpx.URL(url), media_types, read)
        except TimeoutError as error:
            raise FetchError(f"the page took longer than {self.limits.deadline:g} s") from error
        except httpx.TimeoutException as error:
            raise FetchError("the page did not answer in time") from error
        except httpx.InvalidURL as error:
            raise FetchRefused("the link is not a valid web address") from error
        except httpx.HTTPError as error:
            raise FetchError("the page could not be reached") from error

    async def _follow(self, url: httpx.URL, media_types: frozenset[str], read: Reader[T]) -> T:
        for _ in range(self.limits.max_redirects + 1):
            hop = await _check(url, self.limits, self.resolver)
            async with (
                self._per_host[hop.server_name],
                self._client.stream(
                    "GET",
                    hop.url,
                    headers={
                        "Host": hop.host_header,
                        "User-Agent": self.limits.user_agent,
                        "Accept": ", ".join(sorted(media_types)),
                    },
                    extensions={"sni_hostname": hop.server_name},
                ) as response,
            ):
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    url = url.join(location)
                    continue
                return await read(url, response)
        raise FetchError(f"the page redirected more than {self.limits.max_redirects} times")

    async def _read(self, url: httpx.URL, response: httpx.Response, media_types: frozenset[str]) -> Page:
        if response.status_code >= 400:
            raise FetchError(f"the page answered with HTTP {response.status_code}")
        media_type, charset = _media_type(response)
        if media_type and media_type not in media_types:
            raise FetchRefused(f"it is not a web page ({media_type})")
        body, truncated = await self._capped_body(response)
        if b"\x00" in body[:SNIFF_BYTES]:
            raise FetchRefused("it is binary content, not a web page")
        return Page(
            url=str(url), content_type=media_type or "text/html", text=decode_body(body, charset), truncated=truncated
        )

    async def _capped_body(self, response: httpx.Response) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.limits.max_bytes:
                return b"".join(chunks)[: self.limits.max_bytes], True
        return b"".join(chunks), False
