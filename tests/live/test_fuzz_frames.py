"""Fuzzing the chat WebSocket and the JSON APIs of a real server (uvicorn, embedded mode) with
Hypothesis: whatever arrives, the answer is a specific error (or, for the REST and OpenAI-compatible
APIs, a 4xx), never a server error, a dropped socket or silence."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ErrorCode
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.live

REPLY_SECONDS = 10
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Frames that look like the real ones: a known type with wrong, missing or extra fields. `message`
# and `regenerate` are left out (a valid one would start a real answer on the model).
near_frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["stop", "resume", "unknown", "", "MESSAGE"])},
    optional={
        "message_id": json_values,
        "after_seq": json_values,
        "conversation_id": json_values,
        "text": json_values,
        "client_id": json_values,
        "extra": json_values,
    },
)
raw_frames = (
    st.text(max_size=300)
    | json_values.map(json.dumps)
    | near_frames.map(json.dumps)
    | st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
)
ERROR_CODES = {code.value for code in ErrorCode}


async def reply_to(server: ServerAddress, cookies: dict[str, str], frame: str) -> dict[str, Any]:
    headers = {"Origin": server.url, "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
    async with websockets.connect(server.ws_url, additional_headers=headers) as socket:
        await socket.send(frame)
        async with asyncio.timeout(REPLY_SECONDS):
            return json.loads(await socket.recv())


@pytest.fixture(scope="module")
def guest_cookies(chat_server: ServerAddress) -> dict[str, str]:
    response = httpx.get(chat_server.url + "/")
    response.raise_for_status()
    return dict(response.cookies)


@FUZZ
@given(frame=raw_frames)
def test_any_frame_gets_a_specific_error(chat_server: ServerAddress, guest_cookies: dict[str, str], frame: str) -> None:
    reply = asyncio.run(reply_to(chat_server, guest_cookies, frame))
    assert reply["type"] == "error", reply
    assert reply["code"] in ERROR_CODES
    assert reply["code"] != ErrorCode.INTERNAL
    assert reply["detail"]


@FUZZ
@given(body=json_values | st.text(max_size=200))
def test_openai_api_answers_any_body_with_a_client_error(chat_server: ServerAddress, body: Any) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = httpx.post(
        chat_server.url + "/v1/chat/completions",
        content=content,
        headers={"Authorization": "Bearer sk-asst-not-a-real-key", "Content-Type": "application/json"},
        timeout=REPLY_SECONDS,
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"]


@FUZZ
@given(body=json_values | st.text(max_size=200), path=st.sampled_from(["/api/conversations", "/api/settings"]))
def test_rest_api_answers_any_body_with_a_client_error(
    chat_server: ServerAddress, guest_cookies: dict[str, str], body: Any, path: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    method = "POST" if path == "/api/conversations" else "PATCH"
    headers = {"X-CSRFToken": guest_cookies["csrftoken"], "Content-Type": "application/json"}
    response = httpx.request(
        method, chat_server.url + path, content=content, headers=headers, cookies=guest_cookies, timeout=REPLY_SECONDS
    )
    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.json()["error"]["detail"]
