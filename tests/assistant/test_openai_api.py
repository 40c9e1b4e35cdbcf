"""The OpenAI-compatible API in process: Django's real ASGI handler (through httpx's ASGI
transport, so requests run as under uvicorn) in front of the real views, runner and pipeline,
with the model played by the contract fake (a real loopback HTTP server speaking vLLM's wire
format) so that failures can be scripted. The official `openai` package against a real server
is in tests/live/test_openai_clients.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.test import AsyncClient
from pytest_django.fixtures import Settings

from assistant.chat import api_keys
from assistant.engine import turns
from assistant.models import ApiKey, Channel, Conversation, Message, User
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "test-llama"


@pytest.fixture
async def fake_model(settings: Settings) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.MODEL_NAME = MODEL
        settings.MODEL_RETRIES = 0
        yield fake
        await turns.drain(5)  # let runners finish writing before the loop closes


@pytest.fixture
async def secret() -> str:
    user = await sync_to_async(User.objects.create_user)("ada", password="correct horse")
    return (await sync_to_async(api_keys.create_key)(user=user, name="laptop")).secret


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def asgi_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")


async def post(secret: str, body: dict[str, Any] | str) -> httpx.Response:
    data = body if isinstance(body, str) else json.dumps(body)
    async with asgi_client() as client:
        return await client.post(
            "/v1/chat/completions", content=data, headers={**headers(secret), "Content-Type": "application/json"}
        )


async def get(path: str, secret: str | None = None) -> httpx.Response:
    async with asgi_client() as client:
        return await client.get(path, headers=headers(secret) if secret else {})


def request(**overrides: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}], **overrides}


def sse_events(response: httpx.Response) -> list[str]:
    body = response.text
    assert body.endswith("\n\n")
    events = body.split("\n\n")[:-1]
    assert all(event.startswith("data: ") for event in events)
    return [event.removeprefix("data: ") for event in events]


@sync_to_async
def stored_api_conversations() -> list[tuple[Conversation, list[Message]]]:
    return [(c, list(c.messages.order_by("id"))) for c in Conversation.objects.filter(channel=Channel.API)]


async def test_models_needs_a_valid_key(fake_model: FakeOpenAI, secret: str) -> None:
    missing = await get("/v1/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    wrong = await get("/v1/models", secret[:-2] + "xx")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "message": "This API key is not valid or was revoked.",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }
    listed = await get("/v1/models", secret)
    assert listed.json()["data"] == [{"id": MODEL, "object": "model", "created": 0, "owned_by": "assistant"}]


async def test_a_completion_is_answered_and_recorded_as_a_conversation(fake_model: FakeOpenAI, secret: str) -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hello"}]},
    ]
    response = await post(secret, request(messages=messages))

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["choices"][0]["message"]["content"] == "Hello, world!"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    [(conversation, stored)] = await stored_api_conversations()
    assert conversation.instructions == "Answer in French."
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Hi"),
        ("assistant", "Bonjour !"),
        ("user", "Say hello"),
        ("assistant", "Hello, world!"),
    ]
    assert stored[-1].status == Message.Status.COMPLETE
    assert body["id"] == f"chatcmpl-{stored[-1].pk}"
    # The operator's system prompt comes first, the client's instructions after it.
    role, content = fake_model.requests[-1].chatml_messages[0]
    assert role == "system"
    assert content.endswith("\n\nAnswer in French.")


async def test_a_stream_is_chunked_like_openai_with_usage_last(fake_model: FakeOpenAI, secret: str) -> None:
    response = await post(secret, request(stream=True, stream_options={"include_usage": True}))

    assert response.headers["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert text == "Hello, world!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    [(_, stored)] = await stored_api_conversations()
    assert stored[-1].content == text


async def test_sampling_parameters_reach_the_model(fake_model: FakeOpenAI, secret: str) -> None:
    sampling = {"max_tokens": 7, "temperature": 0.2, "top_p": 0.5, "stop": ["\n\n"], "seed": 42}
    response = await post(secret, request(**sampling))

    assert response.status_code == 200
    sent = fake_model.requests[-1].body
    assert {name: sent[name] for name in sampling} == sampling


@pytest.mark.parametrize(
    ("overrides", "status", "fragment", "param"),
    [
        ({"colour": "blue"}, 400, "Unrecognized request argument supplied: colour", "colour"),
        ({"n": 2}, 400, "only n=1 is supported", "n"),
        ({"tools": [{"type": "function"}]}, 400, "Missing required parameter: 'tools.0.function'", "tools"),
        ({"response_format": {"type": "xml"}}, 400, "'response_format'", "response_format"),
        ({"temperature": 3}, 400, "'temperature'", "temperature"),
        ({"messages": []}, 400, "'messages'", "messages"),
        ({"messages": [{"role": "function", "content": "42"}]}, 400, "'messages.0.role'", "messages"),
        ({"messages": [{"role": "tool", "content": "42"}]}, 400, "needs the tool_call_id", "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]},
            400,
            "'input_audio' are not supported",
            "messages",
        ),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, 400, "last message must be the user's", None),
        ({"messages": [{"role": "user", "content": "   "}]}, 400, "The message is empty", None),
        ({"model": "gpt-4o"}, 404, f"this server serves '{MODEL}'", "model"),
        ({"max_tokens": 10**6}, 400, "too long for the model", None),
    ],
)
async def test_bad_requests_name_the_problem_and_store_nothing_wrong(
    fake_model: FakeOpenAI, secret: str, overrides: dict[str, Any], status: int, fragment: str, param: str | None
) -> None:
    response = await post(secret, request(**overrides))

    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"]
    assert error["param"] == param
    stored = await stored_api_conversations()
    if "max_tokens" in overrides:  # refused by the context check, after the request was recorded
        assert error["code"] == "context_length_exceeded"
        assert stored[0][1][-1].status == Message.Status.ERROR
    else:
        assert stored == []
        assert fake_model.requests == []


async def test_a_body_that_is_not_json_is_refused(fake_model: FakeOpenAI, secret: str) -> None:
    response = await post(secret, "{not json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_a_model_that_is_down_is_a_503_and_the_request_is_kept(fake_model: FakeOpenAI, secret: str) -> None:
    fake_model.fail_first(1, status=503)
    response = await post(secret, request(stream=True))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "model_unavailable"
    [(_, stored)] = await stored_api_conversations()
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "error")]


async def test_a_failure_mid_stream_is_an_error_event_and_keeps_the_text(fake_model: FakeOpenAI, secret: str) -> None:
    fake_model.script(Reply(error_after=2))
    response = await post(secret, request(stream=True))

    events = sse_events(response)
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "model_error"
    [(_, stored)] = await stored_api_conversations()
    assert stored[-1].status == Message.Status.ERROR
    assert stored[-1].content == "Hello,"


@sync_to_async
def signed_in_client(username: str, *, guest: bool = False) -> Any:
    user = User.objects.create_user(username, password=None if guest else "pw", is_guest=guest)
    client = AsyncClient()
    client.force_login(user)
    return client


async def test_keys_are_created_listed_and_revoked_by_their_owner(fake_model: FakeOpenAI) -> None:
    owner = await signed_in_client("grace")
    created = await owner.post("/api/keys", json.dumps({"name": " CI  runner "}), content_type="application/json")
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("sk-asst-")
    assert created.json()["name"] == "CI runner"
    listed = (await owner.get("/api/keys")).json()["keys"]
    assert [k["prefix"] for k in listed] == [secret[: api_keys.VISIBLE_CHARS]]
    assert "key" not in listed[0]
    assert not await ApiKey.objects.filter(digest=secret).aexists()  # only the digest is stored

    stranger = await signed_in_client("mallory")
    assert (await stranger.delete(f"/api/keys/{listed[0]['id']}")).status_code == 404
    assert (await get("/v1/models", secret)).status_code == 200

    assert (await owner.delete(f"/api/keys/{listed[0]['id']}")).status_code == 204
    assert (await owner.delete(f"/api/keys/{listed[0]['id']}")).status_code == 204  # idempotent
    assert (await get("/v1/models", secret)).status_code == 401
    assert (await owner.get("/api/keys")).json()["keys"] == []


async def test_guests_cannot_create_keys(fake_model: FakeOpenAI) -> None:
    guest = await signed_in_client("guest-1", guest=True)
    response = await guest.post("/api/keys", json.dumps({"name": "x"}), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not await ApiKey.objects.aexists()


async def test_a_suspended_owner_cannot_use_their_keys(fake_model: FakeOpenAI, secret: str) -> None:
    await User.objects.filter(username="ada").aupdate(is_active=False)
    response = await post(secret, request())
    assert response.status_code == 401
    assert await Conversation.objects.acount() == 0


async def test_a_model_is_found_by_its_id(fake_model: FakeOpenAI, secret: str) -> None:
    found = await get(f"/v1/models/{MODEL}", secret)
    assert found.json() == {"id": MODEL, "object": "model", "created": 0, "owned_by": "assistant"}

    for path in ("/v1/models/gpt-4o", "/v1/models/meta-llama/Llama-3.1-8B"):
        missing = await get(path, secret)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "model_not_found"
    assert (await get(f"/v1/models/{MODEL}")).status_code == 401
    async with asgi_client() as client:
        wrong_method = await client.delete(f"/v1/models/{MODEL}", headers=headers(secret))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        ("POST", "/v1/chat/completions", b'{"model": "m", "pad": "' + b"x" * 3_000_000 + b'"}', 413),
        ("POST", "/v1/chat/completions", b"[" * 600 + b"]" * 600, 400),
        ("GET", "/v1/chat/completions", b"", 405),
        ("GET", "/v1/embeddings", b"", 404),
        ("GET", "/v1/models/", b"", 404),
    ],
)
async def test_every_v1_refusal_is_openai_json(
    fake_model: FakeOpenAI, secret: str, method: str, path: str, content: bytes, status: int
) -> None:
    async with asgi_client() as client:
        response = await client.request(method, path, content=content, headers=headers(secret))

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
