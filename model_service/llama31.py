"""Llama 3 / 3.1 prompts exactly as Meta writes them, segment by segment.

References: `models/llama3_1/prompt_format.md` and `models/llama3/chat_format.py` in
meta-llama/llama-models, and the prompt templates in llama-stack that generated that page. Where
Meta's sources disagree, this module picks (docs/subsystems/prompts.md says why):

- message content is sent as given, never stripped (llama-models' `ChatFormat` does not strip;
  the original meta-llama/llama3 encoder and Hugging Face's template do);
- `<|python_tag|>` begins every built-in tool call and every JSON custom call, as
  prompt_format.md shows the model writing them (llama-models' encoder since #283 writes it only
  before code); function-tag calls have none and end the turn with `<|eot_id|>`;
- the system block is Meta's generator's: `Environment: ipython` and a `Tools:` line only when tools
  are offered (code_interpreter needs no `Tools:` entry), the knowledge cut-off and `Today Date` as
  `%d %B %Y`, a blank line and the instruction, and a final newline.

Strings put inside JSON (descriptions, names) are JSON-escaped: for ordinary text the bytes are
Meta's, and a quote in a description cannot break the JSON the model reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from model_service.messages import ChatMessage, Segment, plain, special

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
END_OF_TURN = "<|eot_id|>"
END_OF_MESSAGE = "<|eom_id|>"
PYTHON_TAG = "<|python_tag|>"

KNOWLEDGE_CUTOFF = "December 2023"
CODE_INTERPRETER = "code_interpreter"
BUILTIN_TOOL_NAMES = ("brave_search", "wolfram_alpha", CODE_INTERPRETER)

CustomToolFormat = Literal["json", "function_tag"]


class Llama3Format:
    """Meta's `ChatFormat`: `<|begin_of_text|>`, then per message a header, the content and an end
    marker, then an open assistant header. Header words and the blank line after a header are
    their own segments, as Meta encodes them, so content that starts with a newline keeps it."""

    name = "llama3"
    stop_tokens = (END_OF_TURN, END_OF_MESSAGE, END_OF_TEXT)

    def prefix(self) -> list[Segment]:
        return [special(BEGIN_OF_TEXT)]

    def message_block(self, message: ChatMessage) -> list[Segment]:
        tag = [special(PYTHON_TAG)] if message.python_tag else []
        end = special(END_OF_MESSAGE if message.awaits_result else END_OF_TURN)
        return [*_header(message.role), *tag, *plain(message.content), end]

    def generation_prompt(self) -> list[Segment]:
        return _header("assistant")


def _header(role: str) -> list[Segment]:
    return [special(START_HEADER), Segment(role), special(END_HEADER), Segment("\n\n")]


def today_date(today: dt.date) -> str:
    """Meta's `%d %B %Y` (`05 March 2025`), in English whatever the process locale."""
    return f"{today.day:02d} {_MONTHS[today.month - 1]} {today.year}"


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def system_block(
    instruction: str, *, today: dt.date, builtin_tools: Sequence[str] = (), custom_tools: bool = False
) -> str:
    """The Llama 3.1 system message: tool environment (when any tool is offered), knowledge
    cut-off, today's date, the operator's instruction, and Meta's final newline."""
    environment = ""
    if builtin_tools or custom_tools:
        listed = [name for name in builtin_tools if name != CODE_INTERPRETER]
        environment = "Environment: ipython\n" + (f"Tools: {', '.join(listed)}" if listed else "") + "\n"
    dated = f"Cutting Knowledge Date: {KNOWLEDGE_CUTOFF}\nToday Date: {today_date(today)}"
    return environment + dated + (f"\n\n{instruction}" if instruction else "") + "\n"


# --- tool calls and results, as messages -------------------------------------------------------


def builtin_call(name: str, query: str) -> ChatMessage:
    """`brave_search.call(query="…")` or `wolfram_alpha.call(…)`: waits for its ipython result."""
    content = f"{name}.call(query={json.dumps(query, ensure_ascii=False)})"
    return ChatMessage("assistant", content, python_tag=True, awaits_result=True)


def code_call(code: str) -> ChatMessage:
    """Python for the code interpreter: the code itself after `<|python_tag|>`."""
    return ChatMessage("assistant", code, python_tag=True, awaits_result=True)


def custom_call(name: str, arguments: Mapping[str, object], fmt: CustomToolFormat) -> ChatMessage:
    """A call of a client-defined tool, in the format its tools were offered in."""
    if fmt == "json":
        call = {"type": "function", "name": name, "parameters": dict(arguments)}
        return ChatMessage("assistant", json.dumps(call, ensure_ascii=False), python_tag=True, awaits_result=True)
    return ChatMessage("assistant", f"<function={name}>{json.dumps(dict(arguments), ensure_ascii=False)}</function>")


def tool_result(output: str) -> ChatMessage:
    """A tool's output, sent back under the `ipython` role as plain text (never JSON-quoted)."""
    return ChatMessage("ipython", output)


# --- custom (client-defined) tools ---------------------------------------------------------------


@dataclass(frozen=True)
class ToolParam:
    name: str
    param_type: str  # as Meta's tool definitions name it: "str", "int", or a JSON Schema type
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class CustomTool:
    name: str
    description: str
    parameters: tuple[ToolParam, ...] = ()


def custom_tools_message(tools: Sequence[CustomTool], fmt: CustomToolFormat) -> ChatMessage:
    """The user message that offers `tools` (Meta puts it before the conversation's user turns)."""
    render = _json_tools_prompt if fmt == "json" else _function_tag_tools_prompt
    return ChatMessage("user", render(tools))


def _json_tools_prompt(tools: Sequence[CustomTool]) -> str:
    listed = "".join(_json_tool(tool) + "\n" for tool in tools)
    return (
        "Answer the user's question by making use of the following functions if needed.\n"
        "If none of the function can be used, please say so.\n"
        "Here is a list of functions in JSON format:\n"
        f"{listed}\nReturn function calls in JSON format."
    )


def _json_tool(tool: CustomTool) -> str:
    """Meta's hand-indented layout: properties as a list of one-key objects, each typed "object"."""
    properties = ",".join(
        "\n" + " " * 16 + "{\n"
        f"{' ' * 20}{_quoted(param.name)}: {{\n"
        f'{" " * 24}"type": "object",\n'
        f'{" " * 24}"description": {_quoted(param.description)}\n'
        f"{' ' * 20}}}\n"
        f"{' ' * 16}}}"
        for param in tool.parameters
    )
    required = json.dumps([param.name for param in tool.parameters if param.required], ensure_ascii=False)
    return (
        "{\n"
        '    "type": "function",\n'
        '    "function": {\n'
        f'        "name": {_quoted(tool.name)},\n'
        f'        "description": {_quoted(tool.description)},\n'
        '        "parameters": {\n'
        '            "type": "object",\n'
        f'            "properties": [{properties}\n'
        "            ],\n"
        f'            "required": {required}\n'
        "        }\n"
        "    }\n"
        "}"
    )


def _function_tag_tools_prompt(tools: Sequence[CustomTool]) -> str:
    listed = "".join(
        f"Use the function '{tool.name}' to '{tool.description}':\n"
        f'{{"name": {_quoted(tool.name)}, "description": {_quoted(tool.description)}, '
        f'"parameters": {_tojson(_param_table(tool))}}}\n\n'
        for tool in tools
    )
    return (
        "You have access to the following functions:\n\n"
        f"{listed}"
        "Think very carefully before calling functions.\n"
        "If you choose to call a function ONLY reply in the following format with no prefix or suffix:\n\n"
        '<function=example_function_name>{"example_name": "example_value"}</function>\n\n'
        "Reminder:\n"
        "- If looking for real time information use relevant functions before falling back to brave_search\n"
        "- Function calls MUST follow the specified format, start with <function= and end with </function>\n"
        "- Required parameters MUST be specified\n"
        "- Only call one function at a time\n"
        "- Put the entire function call reply on one line"
    )


def _param_table(tool: CustomTool) -> dict[str, dict[str, object]]:
    return {
        param.name: {"description": param.description, "param_type": param.param_type, "required": param.required}
        for param in tool.parameters
    }


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tojson(value: object) -> str:
    """Jinja's `tojson`, which Meta's template uses here: sorted keys, HTML-safe escapes."""
    dumped = json.dumps(value, sort_keys=True)
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")
