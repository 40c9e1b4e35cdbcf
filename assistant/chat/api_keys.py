"""API keys for the OpenAI-compatible API: create, list, revoke, authenticate.

A key is shown once, when it is created; only its SHA-256 digest is stored. Keys are 256 random
bits, so a fast digest is enough: there is nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from assistant.models import ApiKey, User
from core.errors import AssistantError, ErrorCode

KEY_PREFIX = "sk-asst-"
VISIBLE_CHARS = len(KEY_PREFIX) + 4
MAX_ACTIVE_KEYS = 20
NAME_MAX_CHARS = 100
# `last_used_at` is for people ("used yesterday"), so a busy key is not written on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown to its owner once, never stored


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def active_keys(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(owner=user, revoked_at__isnull=True)


def create_key(*, user: User, name: str) -> NewKey:
    if user.is_guest:
        raise AssistantError(ErrorCode.FORBIDDEN, "Sign in to create API keys; guests cannot have them.")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise AssistantError(ErrorCode.EMPTY_TEXT, "Give the key a name, so you can tell it apart later.")
    if len(cleaned) > NAME_MAX_CHARS:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"A key name has at most {NAME_MAX_CHARS} characters.")
    if active_keys(user=user).count() >= MAX_ACTIVE_KEYS:
        raise AssistantError(
            ErrorCode.LIMIT_REACHED, f"You already have {MAX_ACTIVE_KEYS} keys; revoke one you no longer use."
        )
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(owner=user, name=cleaned, prefix=secret[:VISIBLE_CHARS], digest=digest_of(secret))
    return NewKey(key=key, secret=secret)


def revoke_key(*, user: User, key_id: int) -> None:
    """Revoking is final and idempotent; the key's conversations stay with its owner."""
    updated = ApiKey.objects.filter(pk=key_id, owner=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated and not ApiKey.objects.filter(pk=key_id, owner=user).exists():
        raise AssistantError(ErrorCode.NOT_FOUND, "That API key does not exist.")


def authenticate(secret: str) -> ApiKey | None:
    """The active key with this secret whose owner may use the product, or None."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("owner")
        .filter(digest=digest_of(secret), revoked_at__isnull=True, owner__is_active=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
