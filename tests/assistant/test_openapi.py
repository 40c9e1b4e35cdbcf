"""The published OpenAPI document (assistant/openapi.py): valid OpenAPI 3.1, every /api and /v1 route
of the URL resolver in it and nothing else, and its response shapes true to what the views send."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from pydantic import BaseModel

from assistant import openapi
from assistant.chat import api_keys, services
from assistant.engine import recorder
from assistant.engine.outcome import AnswerOutcome, Grounding
from assistant.models import User
from assistant.openai_compat.protocol import (
    ChatCompletionRequest,
    chunk_object,
    completion_object,
    usage_chunk,
    usage_object,
)
from assistant.web.schemas import KeyBody, ReportBody, SettingsBody, TitleBody
from imagine.schemas import ImagineBody
from tests.assistant.test_api import call
from tests.support.schemathesis_tool import MISSING, TOOL_BIN, validation_error

pytestmark = pytest.mark.django_db

PUBLISHED_PREFIXES = ("/api/", "/v1/")


def resolver_routes(patterns: list[URLPattern | URLResolver], prefix: str = "/") -> Iterator[tuple[str, str]]:
    """(OpenAPI path, Django route) of every URL pattern, includes followed."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from resolver_routes(pattern.url_patterns, route)
        else:
            yield re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), route


def published_routes() -> dict[str, str]:
    return {
        path: route
        for path, route in resolver_routes(get_resolver().url_patterns)
        if path.startswith(PUBLISHED_PREFIXES)
    }


def test_every_api_route_is_documented_and_nothing_else() -> None:
    documented = set(openapi.build_document()["paths"])

    assert set(published_routes()) == documented


def test_path_parameters_have_the_type_of_their_converter() -> None:
    document = openapi.build_document()
    for path, route in published_routes().items():
        for operation in document["paths"][path].values():
            declared = {p["name"]: p["schema"]["type"] for p in operation.get("parameters", [])}
            converters = dict((name, kind) for kind, name in re.findall(r"<(\w+):(\w+)>", route))
            expected = {name: "integer" if kind in {"int", "id"} else "string" for name, kind in converters.items()}
            assert declared == expected


def test_the_document_is_valid_openapi_3_1(tmp_path: Path) -> None:
    assert TOOL_BIN.is_dir(), MISSING
    document = openapi.build_document()

    assert document["openapi"] == "3.1.0"
    assert validation_error(document, tmp_path) is None


def test_the_validation_catches_a_broken_document(tmp_path: Path) -> None:
    assert TOOL_BIN.is_dir(), MISSING
    broken = {**openapi.build_document(), "paths": {"/api/x": {"get": {"responses": {"200": {"content": 1}}}}}}

    assert validation_error(broken, tmp_path)


def test_it_is_served_without_a_session() -> None:
    response = Client().get("/api/openapi.json")

    assert response.status_code == 200
    assert response.json() == openapi.build_document()


@pytest.mark.parametrize("body", [TitleBody, KeyBody, ReportBody, SettingsBody, ImagineBody, ChatCompletionRequest])
def test_bodies_are_the_models_the_views_validate_with(body: type[BaseModel]) -> None:
    schemas = openapi.build_document()["components"]["schemas"]
    own = body.model_json_schema(ref_template="#/components/schemas/{model}")

    assert schemas[body.__name__] == {key: value for key, value in own.items() if key != "$defs"}
    assert all(schemas[name] == definition for name, definition in own.get("$defs", {}).items())


def conforms(shape: type[BaseModel], response_json: object) -> None:
    shape.model_validate(response_json)  # extra="forbid": a field the schema lacks fails too


def test_rest_answers_have_the_documented_shapes() -> None:
    cache.clear()
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    user = User.objects.get(pk=client.session["_auth_user_id"])
    user.is_guest = False  # guests cannot have API keys
    user.save(update_fields=["is_guest"])
    start = services.start_turn(user=user, conversation_id=None, text="Lisbon?", client_id="c1")
    grounding = {"sources": [{"title": "Lisbon", "url": "https://example.org/"}], "invalid_citations": [2]}
    outcome = AnswerOutcome(
        content="Sunny [1].", frame_ends=[10], status="complete", finish_reason="stop", grounding=Grounding(**grounding)
    )
    recorder.finish_answer(answer_id=start.answer.pk, outcome=outcome)
    conversation_id = start.answer.conversation_id

    conforms(openapi.ConversationList, client.get("/api/conversations").json())
    conforms(openapi.Conversation, call(client, "post", f"/api/conversations/{conversation_id}/share").json())
    conforms(openapi.MessageList, client.get(f"/api/conversations/{conversation_id}/messages").json())
    conforms(openapi.Report, call(client, "post", f"/api/messages/{start.answer.pk}/report", {}).json())
    conforms(openapi.UserSettings, call(client, "patch", "/api/settings", {"search_mode": "off"}).json())
    conforms(openapi.NewApiKey, call(client, "post", "/api/keys", {"name": "laptop"}).json())
    conforms(openapi.ApiKeyList, client.get("/api/keys").json())
    conforms(openapi.Error, client.get("/api/conversations/999999").json())


def test_openai_answers_have_the_documented_shapes() -> None:
    secret = api_keys.create_key(user=User.objects.create_user("bot"), name="tests").secret
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    completion = completion_object(
        completion_id="chatcmpl-1", created=0, model="m", text="Hi.", finish_reason="stop", usage=usage_object(3, 2)
    )

    conforms(openapi.ModelList, Client().get("/v1/models", **headers).json())
    conforms(openapi.ChatCompletion, completion)
    first = chunk_object(completion_id="c", created=0, model="m", delta={"role": "assistant", "content": ""})
    conforms(openapi.ChatCompletionChunk, first)
    last = chunk_object(
        completion_id="c", created=0, model="m", delta={}, finish_reason="length", with_usage_field=True
    )
    conforms(openapi.ChatCompletionChunk, last)
    conforms(
        openapi.ChatCompletionChunk, usage_chunk(completion_id="c", created=0, model="m", usage=usage_object(1, 1))
    )
    refused = Client().post("/v1/chat/completions", data="{}", content_type="application/json", **headers)
    conforms(openapi.OpenAIError, refused.json())
