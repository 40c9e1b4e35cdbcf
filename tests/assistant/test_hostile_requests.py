"""Probes an outside review found answered with a 500, an HTML page or a traceback, now answered as
the API's own JSON refusals with one log line: JSON nested past MAX_DEPTH, ids no row can have,
bodies over DATA_UPLOAD_MAX_MEMORY_SIZE, failed CSRF checks and unknown API paths."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.test import Client

from assistant.chat import api_keys
from assistant.models import User
from config.backends import ClientFaultFilter
from core.json_input import MAX_DEPTH
from tests.assistant.test_api import call

pytestmark = pytest.mark.django_db

DEEP = "[" * 600 + "]" * 600
TOO_DEEP_BY_ONE = json.dumps({"title": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)})
BEYOND_ANY_ROW = 2**70


@pytest.fixture
def api_key() -> dict[str, str]:
    user = User.objects.create_user("ada", password="correct horse")
    return {"HTTP_AUTHORIZATION": f"Bearer {api_keys.create_key(user=user, name='laptop').secret}"}


@pytest.fixture
def browser() -> Client:
    cache.clear()
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    return client


def refusal_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


def assert_one_quiet_log_line(records: list[logging.LogRecord]) -> None:
    assert len(records) <= 1, [record.getMessage() for record in records]
    assert all(record.exc_info is None for record in records)


@pytest.mark.parametrize("body", [DEEP, TOO_DEEP_BY_ONE])
def test_json_nested_too_deep_is_a_client_error_on_rest(browser: Client, body: str, caplog) -> None:
    with caplog.at_level(logging.INFO):
        error = refusal_of(call(browser, "post", "/api/conversations", body), 400)
    assert (error["code"], str(MAX_DEPTH) in error["detail"]) == ("invalid_json", True)
    assert_one_quiet_log_line(caplog.records)


def test_json_nested_too_deep_is_a_client_error_on_imagine(browser: Client, caplog) -> None:
    with caplog.at_level(logging.INFO):
        error = refusal_of(call(browser, "post", "/api/imagine", DEEP), 400)
    assert error["code"] == "invalid_frame"
    assert_one_quiet_log_line(caplog.records)


def test_json_nested_too_deep_is_an_openai_error_on_v1(api_key: dict[str, str], caplog) -> None:
    with caplog.at_level(logging.INFO):
        response = Client().post("/v1/chat/completions", data=DEEP, content_type="application/json", **api_key)
    error = refusal_of(response, 400)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_json")
    assert_one_quiet_log_line(caplog.records)


def test_nesting_up_to_the_limit_is_parsed() -> None:
    from core.json_input import load_client_json

    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert load_client_json(json.dumps({"a": json.loads(nested)}))["a"] is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/api/conversations/{BEYOND_ANY_ROW}"),
        ("get", f"/api/conversations/{BEYOND_ANY_ROW}/messages"),
        ("post", f"/api/messages/{BEYOND_ANY_ROW}/report"),
        ("delete", f"/api/keys/{BEYOND_ANY_ROW}"),
        ("get", f"/api/imagine/{BEYOND_ANY_ROW}/image.png"),
    ],
)
def test_an_id_no_row_can_have_is_not_found_in_a_path(browser: Client, method: str, path: str) -> None:
    response = call(browser, method, path, {} if method == "post" else None)
    assert response.status_code == 404


def test_an_id_no_row_can_have_is_not_found_in_a_body(browser: Client) -> None:
    body = {"prompt": "a lighthouse", "conversation_id": BEYOND_ANY_ROW}
    assert refusal_of(call(browser, "post", "/api/imagine", body), 404)["code"] == "not_found"


def test_an_unknown_api_path_is_json(browser: Client) -> None:
    assert refusal_of(browser.get("/api/no-such-thing"), 404)["code"] == "not_found"
    openai = refusal_of(Client().get("/v1/no-such-thing"), 404)
    assert openai["type"] == "invalid_request_error"
    assert "<html" not in browser.get("/api/no-such-thing").content.decode().lower()


def test_a_page_that_does_not_exist_is_still_a_page(browser: Client) -> None:
    response = browser.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_body_over_the_upload_limit_is_json(browser: Client, api_key: dict[str, str], settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"title": "x" * 2000})
    assert refusal_of(call(browser, "post", "/api/conversations", body), 413)["code"] == "body_too_large"
    response = Client().post("/v1/chat/completions", data=body, content_type="application/json", **api_key)
    assert refusal_of(response, 413)["type"] == "invalid_request_error"


def test_a_client_fault_is_logged_as_one_line_without_its_traceback() -> None:
    try:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    except RequestDataTooBig as exc:
        record = logging.LogRecord(
            "django.security.RequestDataTooBig", logging.ERROR, __file__, 1, str(exc), None, (type(exc), exc, None)
        )
    assert ClientFaultFilter().filter(record)
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert "\n" not in logging.Formatter().format(record)


def test_a_failed_csrf_check_is_json(browser: Client) -> None:
    error = refusal_of(call(browser, "post", "/api/conversations", {"title": "x"}, csrf=False), 403)
    assert error["code"] == "csrf_failed"
    assert "X-CSRFToken" in error["detail"]
