"""Server errors that schemathesis found (tests/live/test_schemathesis.py), each kept as the request
that caused it:
- a body that is not UTF-8 made `json.loads` raise UnicodeDecodeError, which the REST and Imagine
  views did not catch: a 500 instead of a 400;
- a NUL character (`\\u0000`) in a REST body reached PostgreSQL, which cannot store one in text: a
  500 (SQLite stores it, so only the production shape failed). `/v1`, `/api/imagine` and the chat
  WebSocket had the same fault (500s, an `internal` frame) and now refuse it where they parse."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client

from assistant.openai_compat.protocol import ApiError, parse_request
from assistant.web.protocol import FrameError, parse_client_frame
from core.errors import ErrorCode
from tests.assistant.test_api import call

pytestmark = pytest.mark.django_db

NOT_UTF8 = b"\xb6\xd7\x80"  # not UTF-16 or UTF-32 either: json.loads tries UTF-8 and fails


@pytest.fixture
def browser() -> Client:
    cache.clear()
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    return client


def send(browser: Client, method: str, path: str) -> dict:
    csrf = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}
    response = getattr(browser, method)(path, data=NOT_UTF8, content_type="application/json", **csrf)
    assert response.status_code == 400, response.content
    return response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/conversations"),
        ("post", "/api/keys"),
        ("patch", "/api/settings"),
        ("post", "/api/messages/1/report"),
    ],
)
def test_a_body_that_is_not_utf8_is_invalid_json(browser: Client, method: str, path: str) -> None:
    error = send(browser, method, path)

    assert error["code"] == "invalid_json"
    assert "UTF-8" in error["detail"]


def test_an_imagine_body_that_is_not_utf8_is_an_invalid_frame(browser: Client) -> None:
    assert send(browser, "post", "/api/imagine")["code"] == "invalid_frame"


def test_a_nul_character_in_a_rest_body_is_refused_before_it_is_stored(browser: Client) -> None:
    conversation_id = call(browser, "post", "/api/conversations", {"title": "Trip"}).json()["id"]

    refused = call(browser, "patch", f"/api/conversations/{conversation_id}", {"title": "a\x00b"})

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_frame"
    assert "NUL" in refused.json()["error"]["detail"]
    assert browser.get(f"/api/conversations/{conversation_id}").json()["title"] == "Trip"


def test_a_nul_character_is_refused_by_the_openai_api() -> None:
    body = {"model": "any", "messages": [{"role": "user", "content": "hi\x00"}]}

    with pytest.raises(ApiError) as refused:
        parse_request(json.dumps(body).encode())

    assert refused.value.status == 400
    assert "NUL" in refused.value.message


def test_a_nul_character_is_refused_by_imagine(browser: Client) -> None:
    refused = call(browser, "post", "/api/imagine", {"prompt": "a red\x00 bicycle"})

    assert refused.status_code == 400
    assert "NUL" in refused.json()["error"]["detail"]


def test_a_nul_character_is_refused_in_a_chat_frame() -> None:
    frame = {"type": "message", "conversation_id": None, "text": "hi\x00", "client_id": "c1"}

    with pytest.raises(FrameError) as refused:
        parse_client_frame(json.dumps(frame))

    assert refused.value.code == ErrorCode.INVALID_FRAME
