"""Abuse limits: request rates per user and per IP address, guest accounts per address, and daily
token quotas per user and, for guests, per address.

Counters live in Django's cache, which is Redis in production, so every web process and worker
shares them and `incr` is atomic across processes. Rates use fixed windows (a key per window), so
a refused request can say exactly when to retry. Losing the cache (a Redis restart without
persistence) forgets the counts: limits then restart from zero, they never refuse wrongly. While
the cache is unreachable (its errors are read as misses) nothing is counted and nothing refused.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from core.errors import AssistantError, ErrorCode

QUOTA_KEY_SECONDS = 2 * 24 * 3600  # a day's counter outlives its day, for the admin's "used today"


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"20/60"`: 20 requests per 60 seconds."""
        limit, _, seconds = text.partition("/")
        rate = cls(int(limit), int(seconds or 60))
        if rate.limit < 1 or rate.seconds < 1:
            raise ValueError(f"A rate is LIMIT/SECONDS with both at least 1, not {text!r}.")
        return rate


def count(key: str, *, by: int = 1, timeout: int) -> int | None:
    """Add `by` to the counter at `key` (created with `timeout` seconds to live) and return its new
    value, atomic across processes; None while the cache is unreachable (nothing was counted)."""
    try:
        return cache.incr(key, by)  # one round trip while the key exists, as it does after its first count
    except ValueError:  # its first count (in this window, today)
        if cache.add(key, by, timeout=timeout):
            return by
        return cache.incr(key, by)  # another process counted first, between the two calls


def hit(scope: str, who: str, rate: Rate) -> None:
    """Count one request of `who` (e.g. "user:12", "ip:10.0.0.1") against `rate`; refuse it
    with when to retry once the window's limit is used up."""
    now = time.time()
    window = int(now // rate.seconds)
    requests = count(_rate_key(scope, who, window), timeout=rate.seconds + 1)
    if requests is not None and requests > rate.limit:
        retry_after = max(1, int((window + 1) * rate.seconds - now + 0.999))
        raise AssistantError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests: at most {rate.limit} every {rate.seconds} seconds. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


def client_address(request: HttpRequest) -> str | None:
    """The address a request came from, for the per-address limits."""
    return request.META.get("REMOTE_ADDR") or None


def hit_both(scope: str, *, user_id: int | None, ip: str | None) -> None:
    """The per-user and the per-IP limit of `scope` (settings ASSISTANT_RATE_LIMITS)."""
    rates = settings.ASSISTANT_RATE_LIMITS
    if user_id is not None:
        hit(scope, f"user:{user_id}", Rate.parse(rates[f"{scope}_per_user"]))
    if ip:
        hit(scope, f"ip:{ip}", Rate.parse(rates[f"{scope}_per_ip"]))


def count_upload(request: HttpRequest) -> None:
    """A web upload (a photo, a voice message, a document) against the `upload` limits: each costs a
    worker a read, so a flood is refused before any of it is read."""
    hit_both("upload", user_id=request.user.pk, ip=client_address(request))


def admit_new_guest(ip: str | None) -> None:
    """Count one guest account started from `ip`; refuse it past RATE_LIMIT_GUESTS_PER_IP, so
    clearing the cookie in a loop cannot mint accounts (each with a fresh quota) without end."""
    if ip:
        hit("guest", f"ip:{ip}", Rate.parse(settings.ASSISTANT_RATE_LIMITS["guest_per_ip"]))


def _rate_key(scope: str, who: str, window: int) -> str:
    return f"rate:{scope}:{who}:{window}"


def _guest_address_key(user_id: int) -> str:
    return f"guest-ip:{user_id}"


def _guest_address_seconds() -> int:
    """A guest lives as long as its session; its address is kept that long, renewed by each turn."""
    return settings.SESSION_COOKIE_AGE


def bind_guest_to_address(user_id: int, ip: str | None) -> None:
    """Count this guest's tokens against the address it was started from as well as its own."""
    if ip:
        cache.set(_guest_address_key(user_id), ip, timeout=_guest_address_seconds())


def unbind_guest(user_id: int) -> None:
    """A guest who signs up has a quota of their own: their address stops sharing it."""
    cache.delete(_guest_address_key(user_id))


def _guest_address(user_id: int) -> str | None:
    return cache.get(_guest_address_key(user_id))


def _quota_key(who: str, day: dt.date) -> str:
    return f"quota:{who}:{day.isoformat()}"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def daily_quota(user: object) -> int:
    own = getattr(user, "daily_token_quota", None)
    if own is not None:
        return own
    return (
        settings.ASSISTANT_GUEST_DAILY_TOKENS if getattr(user, "is_guest", False) else settings.ASSISTANT_DAILY_TOKENS
    )


def tokens_used_today(user_id: int) -> int:
    return _used_today(str(user_id))


def _used_today(who: str) -> int:
    return int(cache.get(_quota_key(who, _today())) or 0)


def _address_quota_used_up(user: object, ip: str | None) -> int | None:
    """The address's quota when the guest's address (`ip`) has used it up today, else None."""
    if ip is None:
        return None
    cache.touch(_guest_address_key(user.pk), timeout=_guest_address_seconds())  # type: ignore[attr-defined]
    quota = settings.ASSISTANT_GUEST_DAILY_TOKENS_PER_IP
    return quota if _used_today(f"ip:{ip}") >= quota else None


def _seconds_to_midnight() -> int:
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int((midnight - now).total_seconds()) + 1


def check_quota(user: object) -> None:
    """Refuse a new turn once the user's tokens of the UTC day reach their quota, or, for a guest,
    once the guests of its address reach theirs (a new cookie starts no new quota)."""
    quota = daily_quota(user)
    own_key, address_key = _quota_key(str(user.pk), _today()), _guest_address_key(user.pk)  # type: ignore[attr-defined]
    guest = getattr(user, "is_guest", False)
    found = cache.get_many([own_key, address_key] if guest else [own_key])  # one round trip
    if int(found.get(own_key) or 0) >= quota:
        spent = f"You have used today's {quota:,} tokens."
    elif address_quota := _address_quota_used_up(user, found.get(address_key)):
        spent = f"Guests at your address have used today's {address_quota:,} tokens; sign up for a quota of your own."
    else:
        return
    retry_after = _seconds_to_midnight()
    raise AssistantError(
        ErrorCode.QUOTA_EXCEEDED,
        f"{spent} The quota renews at midnight UTC, in {retry_after // 3600} h {retry_after % 3600 // 60} min.",
        retry_after=retry_after,
    )


def record_tokens(user_id: int, tokens: int) -> None:
    """Count an answer's tokens against its user and, for a guest, its address."""
    if tokens <= 0:
        return
    count(_quota_key(str(user_id), _today()), by=tokens, timeout=QUOTA_KEY_SECONDS)
    if ip := _guest_address(user_id):
        count(_quota_key(f"ip:{ip}", _today()), by=tokens, timeout=QUOTA_KEY_SECONDS)


def forget_user(user_id: int) -> None:
    """Delete every counter keyed by this user (an account deleted leaves no key behind): the
    current window of each per-user rate, today's and yesterday's token quota, a guest's address."""
    now, today = time.time(), _today()
    keys = [_guest_address_key(user_id), *(_quota_key(str(user_id), day) for day in (today, today - dt.timedelta(1)))]
    for name, text in settings.ASSISTANT_RATE_LIMITS.items():
        if name.endswith("_per_user"):
            rate = Rate.parse(text)
            keys.append(_rate_key(name.removesuffix("_per_user"), f"user:{user_id}", int(now // rate.seconds)))
    cache.delete_many(keys)
