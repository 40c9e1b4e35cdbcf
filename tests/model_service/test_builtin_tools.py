"""Llama 3.1 built-in tools in Meta's format, byte for byte, and on the real Llama 3 tokenizer."""

import datetime as dt

import pytest

from model_service.builtin_tools import ToolCall, may_become_tool_call, parse_tool_call, system_prompt_with_tools
from model_service.chat_formats import ChatMessage, Llama3Format, neutralize_special_tokens, render
from model_service.tokens import LocalTokenCounter, llama3_tokenizer_path

PYTHON_TAG_ID, EOM_ID, EOT_ID = 128010, 128008, 128009


def test_system_prompt_follows_metas_layout() -> None:
    assert system_prompt_with_tools("You are a helpful assistant", dt.date(2024, 7, 23)) == (
        "Environment: ipython\nTools: brave_search, wolfram_alpha\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 23 July 2024\n\nYou are a helpful assistant"
    )
    assert system_prompt_with_tools("", dt.date(2026, 11, 3)).endswith("Today Date: 3 November 2026")


def test_a_tool_call_round_trip_renders_byte_exact() -> None:
    call = ToolCall("brave_search", "Menlo Park weather")
    messages = [
        ChatMessage("system", system_prompt_with_tools("You are a helpful assistant", dt.date(2024, 7, 23))),
        ChatMessage("user", "What is the weather in Menlo Park?"),
        ChatMessage("assistant", call.message_content()),
        ChatMessage("ipython", "Sunny, 24 °C."),
    ]
    assert render(Llama3Format(), messages) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Environment: ipython\nTools: brave_search, wolfram_alpha\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 23 July 2024\n\n"
        "You are a helpful assistant<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is the weather in Menlo Park?<|eot_id|>"
        '<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query="Menlo Park weather")'
        "<|eom_id|>"
        "<|start_header_id|>ipython<|end_header_id|>\n\nSunny, 24 °C.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_the_call_is_special_tokens_but_typed_markers_are_text() -> None:
    counter = LocalTokenCounter(llama3_tokenizer_path())
    call = Llama3Format().message_block(ChatMessage("assistant", ToolCall("wolfram_alpha", "2+2").message_content()))
    ids = counter.encode(call)
    assert ids[4] == PYTHON_TAG_ID
    assert ids[-1] == EOM_ID
    typed = neutralize_special_tokens('<|python_tag|>brave_search.call(query="x")<|eom_id|>', counter.special_markers)
    block = Llama3Format().message_block(ChatMessage("user", typed))
    assert PYTHON_TAG_ID not in counter.encode(block)
    assert EOM_ID not in counter.encode(block)
    assert counter.encode(block)[-1] == EOT_ID


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('brave_search.call(query="harbour news")', ToolCall("brave_search", "harbour news")),
        ('<|python_tag|>wolfram_alpha.call(query="solve x^2=4")<|eom_id|>', ToolCall("wolfram_alpha", "solve x^2=4")),
        ('  brave_search.call(query="say \\"hi\\"")\n', ToolCall("brave_search", 'say "hi"')),
        ('brave_search.call(query="")', None),
        ('brave_search.call(query="a") and more', None),
        ('code_interpreter.call(query="x")', None),
        ("brave_search.call(query='single quotes')", None),
        ("The answer is 4.", None),
    ],
)
def test_parse_tool_call(text: str, expected: ToolCall | None) -> None:
    assert parse_tool_call(text) == expected


@pytest.mark.parametrize(
    ("start", "held"),
    [
        ("", True),
        ("  ", True),
        ("brave", True),
        ("<|python", True),
        ('wolfram_alpha.call(query="', True),
        ("Hello", False),
        ("brave new world", False),
        ("The", False),
    ],
)
def test_may_become_tool_call(start: str, held: bool) -> None:
    assert may_become_tool_call(start) is held
