"""Function tools and `response_format` on the OpenAI-compatible API.

Unit tests of the mapping (OpenAI tools → Llama 3.1 custom tools) and of reading the model's
calls; then full round trips through `/v1` with the contract fake as a Llama 3.1 server (the
prompt it receives is decoded with the real Llama 3 tokenizer), by hand and with the `openai`
package."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from asgiref.sync import sync_to_async
from pytest_django.fixtures import Settings

from assistant.chat import api_keys
from assistant.engine import turns
from assistant.models import User
from assistant.openai_compat.guided import guided_fields
from assistant.openai_compat.protocol import ApiError, ChatCompletionRequest
from assistant.openai_compat.tools import ParsedCall, may_become_call, parse_call, tool_request
from model_service.llama31 import CustomTool, ToolParam, custom_call, custom_tools_message, tool_result
from model_service.messages import ChatMessage
from model_service.tokens import llama3_tokenizer
from tests.assistant.test_openai_api import MODEL, asgi_client, post, sse_events, stored_api_conversations
from tests.support.fake_openai import FakeOpenAI, Reply

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "description": "The time now"}}
WEATHER_TOOL = CustomTool(
    "get_weather",
    "The weather in a city",
    (ToolParam("city", "string", "The city", required=True), ToolParam("unit", "string")),
)
QUESTION = {"role": "user", "content": "Call the tool for Paris."}
CALLED = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ],
}
RESULT = {"role": "tool", "tool_call_id": "call_7", "content": '{"celsius": 21}'}
OFFERED = frozenset({"get_weather"})


def body(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": MODEL, "messages": [QUESTION], **fields})


# --- mapping ------------------------------------------------------------------------------------


def test_tools_are_offered_as_meta_custom_tools_before_the_conversation() -> None:
    request = tool_request(body(tools=[WEATHER], messages=[QUESTION, CALLED, RESULT]), "json")

    assert request.client_tools.offer == custom_tools_message([WEATHER_TOOL], "json")
    assert request.client_tools.conversation == (
        ChatMessage("user", "Call the tool for Paris."),
        custom_call("get_weather", {"city": "Paris"}, "json"),
        tool_result('{"celsius": 21}'),
    )
    assert request.offered == OFFERED
    assert request.required is None


def test_the_function_tag_format_renders_calls_as_function_tags() -> None:
    request = tool_request(body(tools=[WEATHER], messages=[QUESTION, CALLED, RESULT]), "function_tag")

    assert request.client_tools.offer == custom_tools_message([WEATHER_TOOL], "function_tag")
    assert request.client_tools.conversation[1].content == '<function=get_weather>{"city": "Paris"}</function>'


def test_tool_choice_none_offers_nothing_but_keeps_past_calls() -> None:
    request = tool_request(body(tools=[WEATHER], tool_choice="none", messages=[QUESTION, CALLED, RESULT]), "json")

    assert request.client_tools.offer is None
    assert request.offered == frozenset()
    assert request.client_tools.conversation[2] == tool_result('{"celsius": 21}')


def test_required_and_named_choices_add_the_instruction() -> None:
    required = tool_request(body(tools=[WEATHER, TIME], tool_choice="required"), "json")
    named = tool_request(
        body(tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}}), "json"
    )

    assert required.required == ""
    assert required.client_tools.offer is not None
    assert required.client_tools.offer.content.endswith("\n\nYou must call one of these functions.")
    assert named.required == "get_time"
    assert named.offered == frozenset({"get_time"})
    assert named.client_tools.offer is not None
    assert '"get_weather"' not in named.client_tools.offer.content
    assert named.client_tools.offer.content.endswith("\n\nYou must call the function 'get_time'.")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"tool_choice": "required"}, "needs tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "not in tools"),
        ({"tools": [WEATHER], "messages": [QUESTION, {**RESULT, "tool_call_id": "call_9"}]}, "answers no earlier"),
        ({"tools": [WEATHER], "messages": [{**CALLED, "tool_calls": CALLED["tool_calls"] * 2}, QUESTION]}, "one tool"),
        (
            {
                "tools": [WEATHER],
                "messages": [
                    {
                        **CALLED,
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "[1]"}}
                        ],
                    },
                    QUESTION,
                ],
            },
            "JSON object",
        ),
    ],
)
def test_tool_requests_that_cannot_be_rendered_are_refused(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ApiError, match=fragment) as refused:
        tool_request(body(**fields), "json")
    assert refused.value.status == 400


# --- reading the model's answer -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        '<|python_tag|>{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
        ' <function=get_weather>{"city": "Paris"}</function>\n',
    ],
)
def test_calls_in_either_meta_format_are_read(text: str) -> None:
    assert parse_call(text, OFFERED) == ParsedCall("get_weather", '{"city": "Paris"}')


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "launch_rockets", "parameters": {}}',  # not offered
        '{"name": "get_weather", "parameters": {"city": "Par',  # cut off
        '{"name": "get_weather", "parameters": "Paris"}',
        "<function=get_weather>Paris</function>",
        "It is sunny in Paris.",
        '{"city": "Paris"}',
    ],
)
def test_anything_but_a_call_of_an_offered_function_is_text(text: str) -> None:
    assert parse_call(text, OFFERED) is None


def test_only_text_that_may_still_become_a_call_is_held_back() -> None:
    assert all(may_become_call(text) for text in ("", " ", "{", '{"name', "<fun", "<function=get", "<|python_"))
    assert not any(may_become_call(text) for text in ("It", "<b>", "Sure: {"))


# --- response_format ----------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "count", "schema": SCHEMA}}


@pytest.mark.parametrize(
    ("decoder", "response_format", "expected"),
    [
        ("vllm", {"type": "json_object"}, {"response_format": {"type": "json_object"}}),
        ("vllm", JSON_SCHEMA_FORMAT, {"response_format": JSON_SCHEMA_FORMAT}),
        ("llamacpp", JSON_SCHEMA_FORMAT, {"json_schema": SCHEMA}),
        ("llamacpp", {"type": "json_object"}, {"json_schema": {"type": "object"}}),
        ("vllm", {"type": "text"}, {}),
    ],
)
def test_response_formats_become_the_servers_guided_decoding(
    settings: Settings, decoder: str, response_format: dict[str, Any], expected: dict[str, object]
) -> None:
    settings.MODEL_GUIDED_DECODING = decoder
    assert guided_fields(body(response_format=response_format).response_format) == expected


def test_llama_cpp_python_gets_a_grammar_written_from_the_schema(settings: Settings) -> None:
    settings.MODEL_GUIDED_DECODING = "llama-cpp-python"
    fields = guided_fields(body(response_format=JSON_SCHEMA_FORMAT).response_format)

    assert set(fields) == {"grammar"}
    assert "root ::=" in str(fields["grammar"])
    assert '\\"n\\"' in str(fields["grammar"])


def test_a_server_without_guided_decoding_refuses_json(settings: Settings) -> None:
    settings.MODEL_GUIDED_DECODING = "none"
    with pytest.raises(ApiError, match="needs guided decoding") as refused:
        guided_fields(body(response_format={"type": "json_object"}).response_format)
    assert (refused.value.status, refused.value.param) == (400, "response_format")


# --- through /v1, against a Llama 3.1 server ------------------------------------------------------

needs_db = pytest.mark.django_db(transaction=True)
CALL_TEXTS = ('{"name": "get_weather", ', '"parameters": {"city": ', '"Paris"}}')


@pytest.fixture
async def llama(settings: Settings) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(detokenize=llama3_tokenizer().decode) as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.MODEL_NAME = MODEL
        settings.MODEL_RETRIES = 0
        settings.MODEL_PROMPT_FORMAT = "llama3"
        settings.MODEL_TOKENIZER = "llama3"
        settings.MODEL_GUIDED_DECODING = "vllm"
        settings.SAFETY_CHECKS = False  # the guard is not under test here (tests/assistant/test_openai_api.py)
        yield fake
        await turns.drain(5)


@pytest.fixture
async def secret() -> str:
    user = await sync_to_async(User.objects.create_user)("ada", password="correct horse")
    return (await sync_to_async(api_keys.create_key)(user=user, name="laptop")).secret


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [QUESTION], "tools": [WEATHER], **fields}


@needs_db
async def test_a_call_comes_back_as_tool_calls(llama: FakeOpenAI, secret: str) -> None:
    llama.script(Reply(texts=CALL_TEXTS))
    response = await post(secret, chat())

    assert response.status_code == 200
    [choice] = response.json()["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call == {
        "id": response.json()["id"].replace("chatcmpl-", "call_"),
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    served = llama.requests[-1]
    assert response.json()["usage"]["prompt_tokens"] == len(served.prompt_ids or [])  # counted == served
    prompt = served.prompt_text or ""
    assert "<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n\nCutting Knowledge" in prompt
    offer = custom_tools_message([WEATHER_TOOL], "json").content
    assert f"<|start_header_id|>user<|end_header_id|>\n\n{offer}<|eot_id|>" in prompt
    assert prompt.endswith("Call the tool for Paris.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


@needs_db
async def test_a_streamed_call_arrives_as_deltas_the_openai_package_assembles(llama: FakeOpenAI, secret: str) -> None:
    llama.script(Reply(texts=CALL_TEXTS))
    response = await post(secret, chat(stream=True))

    chunks = [json.loads(event) for event in sse_events(response)[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant"}
    first = deltas[1]["tool_calls"][0]
    assert first == {
        "index": 0,
        "id": chunks[0]["id"].replace("chatcmpl-", "call_"),
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    fragments = [d["tool_calls"][0] for d in deltas[2:-1]]
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)
    assert "".join(f["function"]["arguments"] for f in fragments) == '{"city": "Paris"}'
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}


@needs_db
async def test_the_tool_result_is_sent_back_as_ipython(llama: FakeOpenAI, secret: str) -> None:
    llama.script(Reply(texts=("It is 21 °C in Paris.",)))
    response = await post(secret, chat(messages=[QUESTION, CALLED, RESULT]))

    assert response.json()["choices"][0]["message"] == {
        "role": "assistant",
        "content": "It is 21 °C in Paris.",
        "refusal": None,
    }
    prompt = llama.requests[-1].prompt_text or ""
    replayed = '{"type": "function", "name": "get_weather", "parameters": {"city": "Paris"}}'
    assert prompt.endswith(
        f"<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>{replayed}<|eom_id|>"
        '<|start_header_id|>ipython<|end_header_id|>\n\n{"celsius": 21}<|eot_id|>'
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    [(_, stored)] = await stored_api_conversations()
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Call the tool for Paris."),
        ("assistant", replayed),
        ("user", '{"celsius": 21}'),
        ("assistant", "It is 21 °C in Paris."),
    ]


@needs_db
@pytest.mark.parametrize("stream", [False, True])
async def test_an_unknown_function_is_answered_as_text(llama: FakeOpenAI, secret: str, stream: bool) -> None:
    written = '{"name": "launch_rockets", "parameters": {}}'
    llama.script(Reply(texts=(written[:10], written[10:])))
    response = await post(secret, chat(stream=stream))

    if stream:
        chunks = [json.loads(event) for event in sse_events(response)[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == written
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    else:
        assert response.json()["choices"][0]["message"]["content"] == written
        assert response.json()["choices"][0]["finish_reason"] == "stop"


@needs_db
async def test_plain_text_streams_at_once_when_tools_are_optional(llama: FakeOpenAI, secret: str) -> None:
    llama.script(Reply(stall_between=0.05))  # each piece its own frame
    response = await post(secret, chat(stream=True))

    chunks = [json.loads(event) for event in sse_events(response)[:-1]]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert contents == ["Hello", ",", " world", "!"]


@needs_db
@pytest.mark.parametrize("stream", [False, True])
async def test_required_call_missing_is_an_error(llama: FakeOpenAI, secret: str, stream: bool) -> None:
    response = await post(secret, chat(tool_choice="required", stream=stream))

    error = json.loads(sse_events(response)[-1]) if stream else response.json()
    assert error["error"]["code"] == "tool_call_missing"
    assert "as tool_choice required" in error["error"]["message"]
    if not stream:
        assert response.status_code == 500


@needs_db
async def test_tool_choice_none_offers_no_tools(llama: FakeOpenAI, secret: str) -> None:
    llama.script(Reply(texts=CALL_TEXTS))
    response = await post(secret, chat(tool_choice="none"))

    assert response.json()["choices"][0]["finish_reason"] == "stop"
    assert "Here is a list of functions" not in (llama.requests[-1].prompt_text or "")


@needs_db
async def test_tools_need_a_llama_model(llama: FakeOpenAI, secret: str, settings: Settings) -> None:
    settings.MODEL_PROMPT_FORMAT = "chatml"
    response = await post(secret, chat())

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tools"
    assert llama.requests == []


@needs_db
async def test_response_format_reaches_the_server(llama: FakeOpenAI, secret: str, settings: Settings) -> None:
    response = await post(secret, {"model": MODEL, "messages": [QUESTION], "response_format": JSON_SCHEMA_FORMAT})
    assert response.status_code == 200
    assert llama.requests[-1].body["response_format"] == JSON_SCHEMA_FORMAT

    settings.MODEL_GUIDED_DECODING = "none"
    refused = await post(secret, {"model": MODEL, "messages": [QUESTION], "response_format": {"type": "json_object"}})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsupported_response_format"
    assert len(llama.requests) == 1


# --- the `openai` package -------------------------------------------------------------------------


def openai_client(secret: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=secret, http_client=asgi_client(), max_retries=0)


@needs_db
@pytest.mark.parametrize("stream", [False, True])
async def test_the_openai_package_completes_a_function_calling_round_trip(
    llama: FakeOpenAI, secret: str, stream: bool
) -> None:
    client = openai_client(secret)
    llama.script(Reply(texts=CALL_TEXTS), Reply(texts=("21 °C", " and sunny.")))
    messages: list[Any] = [QUESTION]

    if stream:
        async with client.beta.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER]) as events:
            first = await events.get_final_completion()
    else:
        first = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    [call] = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})

    messages += [
        # The package's stream helper adds `parsed` fields, left out as null; a plain message goes as it is.
        first.choices[0].message.model_dump(exclude_none=True) if stream else first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "content": '{"celsius": 21}'},
    ]
    if stream:
        chunks = [c async for c in await client.chat.completions.create(model=MODEL, messages=messages, stream=True)]
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        final = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
        answer = final.choices[0].message.content or ""
    assert answer == "21 °C and sunny."
    assert '<|start_header_id|>ipython<|end_header_id|>\n\n{"celsius": 21}' in (llama.requests[-1].prompt_text or "")
    await client.close()
