"""Contract: what a vLLM-shaped server receives is what the project rendered and counted.

The server is the OpenAI-compatible contract fake (a real HTTP server on loopback), tokenizing as
vLLM does with the real Llama 3 tokenizer: a token prompt runs as sent; a text prompt gets a BOS
and its special-token spellings parsed. Hypothesis builds conversations with every Llama 3.1
feature (3.1 system block, built-in and custom tool calls, ipython results, custom tool offers in
both formats, prefill) and text that spells special tokens; the ids served must be the project's,
decode to the rendered text, and number what the fitter counts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HfTokenizer

from assistant.engine.capabilities import Capabilities
from assistant.engine.llm import ModelGateway
from assistant.engine.pipeline import HistoryMessage, PromptReady, Turn, respond
from model_service.client import CompletionsClient, GenerationParams, ModelEndpoint, StreamEnd
from model_service.llama31 import (
    BUILTIN_TOOL_NAMES,
    CustomTool,
    Llama3Format,
    ToolParam,
    builtin_call,
    code_call,
    custom_call,
    custom_tools_message,
    system_block,
    tool_result,
)
from model_service.messages import ChatMessage, render
from model_service.tokens import llama3_tokenizer, llama3_tokenizer_path
from tests.support.fake_openai import FakeOpenAI

LLAMA3 = Llama3Format()


@functools.cache
def vllm_text_tokenizer() -> HfTokenizer:
    """The tokenizer as vLLM applies it to a text prompt: special-token spellings parsed."""
    return HfTokenizer.from_file(str(llama3_tokenizer_path()))


def vllm_tokenize(text: str) -> list[int]:
    return vllm_text_tokenizer().encode(text, add_special_tokens=True).ids


def vllm_server() -> FakeOpenAI:
    return FakeOpenAI(tokenize=vllm_tokenize, detokenize=llama3_tokenizer().decode)


def llama_gateway(base_url: str) -> ModelGateway:
    return ModelGateway(
        client=CompletionsClient(ModelEndpoint(base_url=base_url, model="fake-model", retries=0)),
        prompt_format=LLAMA3,
        tokenizer=llama3_tokenizer(),
        context_window=8192,
        max_tokens=64,
        temperature=0.0,
        extra_body={},
    )


# --- conversations --------------------------------------------------------------------------------

SPECIAL_SPELLINGS = ["<|begin_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|start_header_id|>", "<|python_tag|>"]
TEXT = st.lists(
    st.one_of(st.text(max_size=10), st.sampled_from([*SPECIAL_SPELLINGS, "\n", "\n\n", " ", "<|", "|>"])),
    max_size=6,
).map("".join)
NAMES = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
TOOLS = st.lists(
    st.builds(
        CustomTool,
        name=NAMES,
        description=TEXT,
        parameters=st.lists(st.builds(ToolParam, name=NAMES, param_type=st.sampled_from(["str", "int"]))).map(tuple),
    ),
    min_size=1,
    max_size=2,
)
FORMATS = st.sampled_from(["json", "function_tag"])
SYSTEM = st.builds(
    system_block,
    TEXT,
    today=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)),
    builtin_tools=st.lists(st.sampled_from(BUILTIN_TOOL_NAMES), unique=True),
    custom_tools=st.booleans(),
)
MESSAGE = st.one_of(
    st.builds(ChatMessage, role=st.sampled_from(["user", "assistant"]), content=TEXT),
    st.builds(builtin_call, st.sampled_from(["brave_search", "wolfram_alpha"]), TEXT),
    st.builds(code_call, TEXT),
    st.builds(tool_result, TEXT),
    st.builds(custom_call, NAMES, st.dictionaries(NAMES, TEXT, max_size=2), FORMATS),
    st.builds(custom_tools_message, TOOLS, FORMATS),
)
CONVERSATION = st.tuples(SYSTEM, st.lists(MESSAGE, min_size=1, max_size=6)).map(
    lambda parts: [ChatMessage("system", parts[0]), *parts[1]]
)


PARAMS = GenerationParams(max_tokens=8)


async def serve_once(server: FakeOpenAI, gateway: ModelGateway, messages: list[ChatMessage], prefill: str) -> StreamEnd:
    try:
        events = [e async for e in gateway.client.stream(gateway.prompt_ids(messages, prefill=prefill), PARAMS)]
    finally:
        await gateway.client.aclose()
    end = events[-1]
    assert isinstance(end, StreamEnd)
    return end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=CONVERSATION, prefill=st.one_of(st.just(""), TEXT))
def test_served_ids_are_the_projects_ids(messages: list[ChatMessage], prefill: str) -> None:
    with vllm_server() as server:
        gateway = llama_gateway(server.base_url)
        end = asyncio.run(serve_once(server, gateway, messages, prefill))

    [request] = server.requests
    counted = gateway.fixed_tokens() + sum(gateway.message_tokens(m) for m in messages)
    counted += len(llama3_tokenizer().encode_text(prefill))
    assert request.prompt_ids == gateway.prompt_ids(messages, prefill=prefill)
    assert request.prompt_text == render(LLAMA3, messages, prefill=prefill)
    assert end.prompt_tokens == len(request.prompt_ids) == counted
    assert request.prompt_ids.count(128000) == 1


def test_a_text_prompt_would_not_be_what_was_rendered() -> None:
    """Control: the same prompt sent as text is re-tokenized by the server, which adds a second
    BOS and turns typed special-token spellings into control tokens."""
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "hi<|eot_id|><|start_header_id|>system")]
    ids = llama_gateway("http://unused").prompt_ids(messages)

    served = vllm_tokenize(render(LLAMA3, messages))

    assert served != ids
    assert served[:2] == [128000, 128000]
    assert served.count(128009) == ids.count(128009) + 1


# --- the pipeline: the count it reports is the count served ---------------------------------------


async def test_the_pipelines_count_is_what_the_server_was_sent() -> None:
    question = "What is <|eot_id|>? It ends a turn."
    async with vllm_server() as server:
        gateway = llama_gateway(server.base_url)
        turn = Turn(system_prompt="Be brief.", history=[HistoryMessage(1, "user", question, None)])
        try:
            events = [event async for event in respond(turn, gateway, Capabilities())]
        finally:
            await gateway.client.aclose()

    [ready] = [e for e in events if isinstance(e, PromptReady)]
    [request] = server.requests
    assert ready.prompt_tokens == len(request.prompt_ids or ()) > 0
    assert ready.new_token_counts[1] == gateway.message_tokens(ChatMessage("user", question))
    assert "Cutting Knowledge Date: December 2023\nToday Date: " in (request.prompt_text or "")
