"""Abuse limits: request rates per user and per IP address, and daily token quotas per user.

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
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key, by)
    except ValueError:  # the key expired between add and incr: this is its first count
        cache.add(key, by, timeout=timeout)
        return by


def hit(scope: str, who: str, rate: Rate) -> None:
    """Count one request of `who` (e.g. "user:12", "ip:10.0.0.1") against `rate`; refuse it
    with when to retry once the window's limit is used up."""
    now = time.time()
    window = int(now // rate.seconds)
    requests = count(f"rate:{scope}:{who}:{window}", timeout=rate.seconds + 1)
    if requests is not None and requests > rate.limit:
        retry_after = max(1, int((window + 1) * rate.seconds - now + 0.999))
        raise AssistantError(
            ErrorCode.RATE_LIMITED,
            f"Too many requests: at most {rate.limit} every {rate.seconds} seconds. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


def hit_both(scope: str, *, user_id: int | None, ip: str | None) -> None:
    """The per-user and the per-IP limit of `scope` (settings ASSISTANT_RATE_LIMITS)."""
    rates = settings.ASSISTANT_RATE_LIMITS
    if user_id is not None:
        hit(scope, f"user:{user_id}", Rate.parse(rates[f"{scope}_per_user"]))
    if ip:
        hit(scope, f"ip:{ip}", Rate.parse(rates[f"{scope}_per_ip"]))


def _quota_key(user_id: int, day: dt.date) -> str:
    return f"quota:{user_id}:{day.isoformat()}"


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
    return int(cache.get(_quota_key(user_id, _today())) or 0)


def check_quota(user: object) -> None:
    """Refuse a new turn once the user's tokens of the UTC day reach their quota."""
    quota = daily_quota(user)
    if tokens_used_today(user.pk) < quota:  # type: ignore[attr-defined]
        return
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    retry_after = int((midnight - now).total_seconds()) + 1
    raise AssistantError(
        ErrorCode.QUOTA_EXCEEDED,
        f"You have used today's {quota:,} tokens. The quota renews at midnight UTC, in {retry_after // 3600} h "
        f"{retry_after % 3600 // 60} min.",
        retry_after=retry_after,
    )


def record_tokens(user_id: int, tokens: int) -> None:
    if tokens <= 0:
        return
    count(_quota_key(user_id, _today()), by=tokens, timeout=QUOTA_KEY_SECONDS)
