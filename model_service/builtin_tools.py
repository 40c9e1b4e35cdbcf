"""Llama 3.1's built-in tools (`brave_search`, `wolfram_alpha`, `code_interpreter`), in Meta's own
prompt format.

Reference: `models/llama3_1/prompt_format.md` in meta-llama/llama-models. The system message
(model_service/llama31.py renders it) starts with the tool environment, with no blank line between
its lines and the date lines, Meta's date format (`05 March 2025`) and a final newline:

    Environment: ipython
    Tools: brave_search, wolfram_alpha
    Cutting Knowledge Date: December 2023
    Today Date: 28 November 2026

    <the operator's system prompt>

The model calls a tool by answering `<|python_tag|>brave_search.call(query="…")<|eom_id|>`; the
caller runs it and sends the result in an `ipython` message, then the model answers. Servers
drop special tokens from the text they stream (vLLM's default), so a call is recognised with or
without `<|python_tag|>`. Any other answer that begins with `<|python_tag|>` is Python for
`code_interpreter` (as llama-models' `decode_assistant_message_from_content` reads it), so code is
recognised only from a server that keeps special tokens in its text (`skip_special_tokens: false`,
which the engine asks for when it offers the tool). Hugging Face's chat template differs (blank
lines, `26 Jul 2024`): this module follows Meta's, and docs/subsystems/prompts.md records the choice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from model_service import llama31
from model_service.llama31 import PYTHON_TAG
from model_service.messages import ChatMessage

# The built-in tools the search step answers; code_interpreter (llama31.code_call) runs elsewhere.
BUILTIN_TOOLS = ("brave_search", "wolfram_alpha")
_END_MARKERS = (llama31.END_OF_MESSAGE, llama31.END_OF_TURN)

_CALL = re.compile(
    r"\s*(?:<\|python_tag\|>)?\s*(brave_search|wolfram_alpha)\.call\(query=(\"(?:[^\"\\]|\\.)*\")\)\s*(?:<\|eom_id\|>)?\s*",
    re.DOTALL,
)
_CALL_STARTS = tuple(f"{PYTHON_TAG}{name}.call(" for name in BUILTIN_TOOLS) + tuple(
    f"{name}.call(" for name in BUILTIN_TOOLS
)


@dataclass(frozen=True)
class ToolCall:
    name: str  # one of BUILTIN_TOOLS
    query: str

    def message(self) -> ChatMessage:
        """The assistant message that made this call, as the model wrote it (ended by <|eom_id|>)."""
        return llama31.builtin_call(self.name, self.query)


@dataclass(frozen=True)
class CodeCall:
    code: str  # Python for the code interpreter, as the model wrote it after `<|python_tag|>`

    def message(self) -> ChatMessage:
        """The assistant message that made this call (ended by <|eom_id|>)."""
        return llama31.code_call(self.code)


def system_prompt_with_tools(system_prompt: str, today: dt.date, *, web: bool = True, code: bool = False) -> str:
    """The 3.1 system block offering the web tools and/or the code interpreter (none: no tool lines)."""
    offered = (*(BUILTIN_TOOLS if web else ()), *((llama31.CODE_INTERPRETER,) if code else ()))
    return llama31.system_block(system_prompt, today=today, builtin_tools=offered)


def parse_tool_call(text: str) -> ToolCall | CodeCall | None:
    """The built-in tool call that `text` is in its entirety, or None for an ordinary answer."""
    match = _CALL.fullmatch(text)
    if match is None:
        return _code_call(text)
    try:
        query = json.loads(match.group(2))
    except json.JSONDecodeError:
        return None
    return ToolCall(match.group(1), query) if isinstance(query, str) and query.strip() else None


def _code_call(text: str) -> CodeCall | None:
    start = text.lstrip()
    if not start.startswith(PYTHON_TAG):
        return None
    code = start.removeprefix(PYTHON_TAG)
    for marker in _END_MARKERS:  # servers that keep special tokens may still send the end marker
        code = code.removesuffix(marker)
    return CodeCall(code) if code.strip() else None


def may_become_tool_call(text: str) -> bool:
    """Whether the start of an answer could still turn out to be a tool call (so it is held back)."""
    start = text.lstrip()
    if start.startswith(PYTHON_TAG):  # a built-in call or code: either way held to its end
        return True
    return any(call.startswith(start) or start.startswith(call) for call in _CALL_STARTS)
