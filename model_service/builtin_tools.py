"""Llama 3.1's built-in tools (`brave_search`, `wolfram_alpha`), in Meta's own prompt format.

Reference: `models/llama3_1/prompt_format.md` in meta-llama/llama-models. The system message
starts with the tool environment, with no blank line between its lines and the date lines, and
Meta's date format (`23 July 2024`):

    Environment: ipython
    Tools: brave_search, wolfram_alpha
    Cutting Knowledge Date: December 2023
    Today Date: 28 November 2026

    <the operator's system prompt>

The model calls a tool by answering `<|python_tag|>brave_search.call(query="…")<|eom_id|>`; the
caller runs it and sends the result in an `ipython` message, then the model answers. Servers
drop special tokens from the text they stream (vLLM's default), so a call is recognised with or
without `<|python_tag|>`. Hugging Face's chat template differs (blank lines, `26 Jul 2024`): this
module follows Meta's, and docs/architecture.md records the choice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

BUILTIN_TOOLS = ("brave_search", "wolfram_alpha")
KNOWLEDGE_CUTOFF = "December 2023"
PYTHON_TAG = "<|python_tag|>"

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

    def message_content(self) -> str:
        """The assistant message that made this call, as the model wrote it (ended by <|eom_id|>)."""
        return f"{PYTHON_TAG}{self.name}.call(query={json.dumps(self.query, ensure_ascii=False)})"


def system_prompt_with_tools(system_prompt: str, today: dt.date) -> str:
    header = (
        f"Environment: ipython\nTools: {', '.join(BUILTIN_TOOLS)}\n"
        f"Cutting Knowledge Date: {KNOWLEDGE_CUTOFF}\nToday Date: {today.day} {today:%B %Y}"
    )
    return f"{header}\n\n{system_prompt}" if system_prompt else header


def parse_tool_call(text: str) -> ToolCall | None:
    """The built-in tool call that `text` is in its entirety, or None for an ordinary answer."""
    match = _CALL.fullmatch(text)
    if match is None:
        return None
    try:
        query = json.loads(match.group(2))
    except json.JSONDecodeError:
        return None
    return ToolCall(match.group(1), query) if isinstance(query, str) and query.strip() else None


def may_become_tool_call(text: str) -> bool:
    """Whether the start of an answer could still turn out to be a tool call (so it is held back)."""
    start = text.lstrip()
    return any(call.startswith(start) or start.startswith(call) for call in _CALL_STARTS)
