"""Abuse limits: fixed-window rates and daily token quotas, shared through the cache.

The cross-process test runs several OS processes against real Redis: the limit holds exactly."""

import os
import subprocess
import sys
import uuid

import pytest
import redis
from django.core.cache import cache

from assistant.chat import services
from core import limits
from core.errors import AssistantError, ErrorCode
from tests.support.deployment import RedisSlot, redis_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_rate_parse() -> None:
    assert limits.Rate.parse("20/60") == limits.Rate(20, 60)
    with pytest.raises(ValueError, match="at least 1"):
        limits.Rate.parse("0/60")


def test_requests_past_the_limit_are_refused_with_when_to_retry() -> None:
    rate = limits.Rate(3, 60)
    for _ in range(3):
        limits.hit("message", "user:1", rate)
    with pytest.raises(AssistantError) as refused:
        limits.hit("message", "user:1", rate)
    assert refused.value.code == ErrorCode.RATE_LIMITED
    assert 1 <= refused.value.retry_after <= 60
    limits.hit("message", "user:2", rate)  # another user has a budget of their own


def test_per_ip_limit_applies_across_users(settings) -> None:
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "api_per_user": "100/60", "api_per_ip": "2/60"}
    limits.hit_both("api", user_id=1, ip="203.0.113.9")
    limits.hit_both("api", user_id=2, ip="203.0.113.9")
    with pytest.raises(AssistantError):
        limits.hit_both("api", user_id=3, ip="203.0.113.9")


def test_quota_refuses_new_turns_once_used_up(settings) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS = 100
    guest = services.create_guest()
    services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a")
    limits.record_tokens(guest.pk, 100)
    with pytest.raises(AssistantError) as refused:
        services.start_turn(user=guest, conversation_id=None, text="Again", client_id="b")
    assert refused.value.code == ErrorCode.QUOTA_EXCEEDED
    assert 0 < refused.value.retry_after <= 24 * 3600 + 1
    # A retry of a message accepted before the quota ran out still finds its turn.
    assert not services.start_turn(user=guest, conversation_id=None, text="Hi", client_id="a").created


def test_admin_set_quota_overrides_the_default(settings) -> None:
    settings.ASSISTANT_GUEST_DAILY_TOKENS = 10
    guest = services.create_guest()
    guest.daily_token_quota = 1000
    limits.record_tokens(guest.pk, 500)
    limits.check_quota(guest)  # under the user's own quota


def test_conversation_size_is_limited(settings) -> None:
    settings.ASSISTANT_MAX_CONVERSATION_MESSAGES = 3
    guest = services.create_guest()
    first = services.start_turn(user=guest, conversation_id=None, text="One", client_id="1")
    first.answer.status = "complete"
    first.answer.save()
    with pytest.raises(AssistantError) as refused:
        services.start_turn(user=guest, conversation_id=first.conversation.pk, text="Two", client_id="2")
    assert refused.value.code == ErrorCode.LIMIT_REACHED


HAMMER = """
import django, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from core import limits
from core.errors import AssistantError
accepted = 0
for _ in range(int(sys.argv[2])):
    try:
        limits.hit("race", sys.argv[1], limits.Rate(50, 600))
        accepted += 1
    except AssistantError:
        pass
print(accepted)
"""


def test_rate_limit_holds_under_concurrent_processes() -> None:
    """Four processes, 40 requests each, one shared limit of 50 in Redis: exactly 50 pass."""
    cache = redis_url(RedisSlot.SHARED_LIMITS)
    redis.Redis.from_url(cache).flushdb()
    env = {**os.environ, "CACHE_URL": cache}
    who = f"user:{uuid.uuid4().hex}"
    processes = [
        subprocess.Popen([sys.executable, "-c", HAMMER, who, "40"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    accepted = [int(p.communicate(timeout=60)[0].strip()) for p in processes]
    assert sum(accepted) == 50
