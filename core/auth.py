"""API-key authentication for every HTTP surface (`/v1`, `/api/imagine`): one reading of the
`Authorization: Bearer <key>` header, and the key looked up by the function that
settings.API_KEY_AUTHENTICATOR names by dotted path (the way Django names its authentication
backends), so that this package imports no app."""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string


class ApiKey(Protocol):
    owner_id: int


def bearer_secret(request: HttpRequest) -> str | None:
    """The key a request sends as `Authorization: Bearer <key>` ("" when the header names none);
    None when it does not use the Bearer scheme. Scheme names are case-insensitive (RFC 9110)."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


def find_api_key(secret: str) -> ApiKey | None:
    """The active key with this secret whose owner may use the product, or None (reads the database)."""
    if not secret:
        return None
    authenticate = import_string(settings.API_KEY_AUTHENTICATOR)
    return authenticate(secret)
