"""Llama 3.1 built-in tools in Meta's format, byte for byte, and on the real Llama 3 tokenizer."""

import datetime as dt

import pytest

from model_service.builtin_tools import ToolCall, may_become_tool_call, parse_tool_call, system_prompt_with_tools
from model_service.llama31 import Llama3Format, tool_result
from model_service.messages import ChatMessage, prompt_segments, render
from model_service.tokens import encode, llama3_tokenizer

PYTHON_TAG_ID, EOM_ID, EOT_ID = 128010, 128008, 128009


def test_system_prompt_follows_metas_layout() -> None:
    assert system_prompt_with_tools("You are a helpful assistant", dt.date(2024, 7, 23)) == (
        "Environment: ipython\nTools: brave_search, wolfram_alpha\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 23 July 2024\n\nYou are a helpful assistant\n"
    )
    assert system_prompt_with_tools("", dt.date(2026, 11, 3)).endswith("Today Date: 03 November 2026\n")


def test_a_tool_call_round_trip_renders_byte_exact() -> None:
    call = ToolCall("brave_search", "Menlo Park weather")
    messages = [
        ChatMessage("system", system_prompt_with_tools("You are a helpful assistant", dt.date(2024, 7, 23))),
        ChatMessage("user", "What is the weather in Menlo Park?"),
        call.message(),
        tool_result("Sunny, 24 °C."),
    ]
    assert render(Llama3Format(), messages) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Environment: ipython\nTools: brave_search, wolfram_alpha\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 23 July 2024\n\n"
        "You are a helpful assistant\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is the weather in Menlo Park?<|eot_id|>"
        '<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>brave_search.call(query="Menlo Park weather")'
        "<|eom_id|>"
        "<|start_header_id|>ipython<|end_header_id|>\n\nSunny, 24 °C.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_the_call_is_special_tokens_but_typed_markers_are_text() -> None:
    ids = encode(Llama3Format().message_block(ToolCall("wolfram_alpha", "2+2").message()), llama3_tokenizer())
    assert ids[4] == PYTHON_TAG_ID
    assert ids[-1] == EOM_ID
    typed = ChatMessage("user", '<|python_tag|>brave_search.call(query="x")<|eom_id|>')
    typed_ids = encode(prompt_segments(Llama3Format(), [typed]), llama3_tokenizer())
    assert PYTHON_TAG_ID not in typed_ids
    assert EOM_ID not in typed_ids
    assert typed_ids[-5] == EOT_ID  # the user's turn, then the open assistant header


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
