"""Webhook authenticity: Meta's HMAC signatures and handshake, Telegram's secret token. Expected
signatures are computed here independently, with the standard library."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from integrations.adapters.base import hmac_signature_valid, secret_matches

BODY = b'{"object":"page","entry":[]}'
SECRET = "new-app-secret"
OLD_SECRET = "old-app-secret"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_good_signature_passes() -> None:
    assert hmac_signature_valid(BODY, sign(BODY, SECRET), [SECRET])


def test_uppercase_hex_passes() -> None:
    assert hmac_signature_valid(BODY, sign(BODY, SECRET).upper().replace("SHA256=", "sha256="), [SECRET])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        sign(BODY, "wrong-secret"),
        sign(BODY + b" ", SECRET),  # the body changed after signing
        sign(BODY, SECRET).replace("sha256=", "sha1="),
        "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest(),
    ],
)
def test_bad_or_missing_signature_fails(header: str | None) -> None:
    assert not hmac_signature_valid(BODY, header, [SECRET])


def test_during_rotation_old_and_new_secrets_both_pass() -> None:
    secrets = [SECRET, OLD_SECRET]
    assert hmac_signature_valid(BODY, sign(BODY, OLD_SECRET), secrets)
    assert hmac_signature_valid(BODY, sign(BODY, SECRET), secrets)
    assert not hmac_signature_valid(BODY, sign(BODY, OLD_SECRET), [SECRET])  # after the rotation ends


def test_no_configured_secret_refuses_everything() -> None:
    assert not hmac_signature_valid(BODY, sign(BODY, ""), [])


def test_secret_token_matches_any_configured_one() -> None:
    assert secret_matches("tok-2", ["tok-1", "tok-2"])
    assert not secret_matches("tok-3", ["tok-1", "tok-2"])
    assert not secret_matches(None, ["tok-1"])
    assert not secret_matches("ünïcode", ["tok-1"])
