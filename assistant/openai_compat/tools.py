"""OpenAI function tools as Llama 3.1 custom tools, and the model's calls back as `tool_calls`.

`tools` become Meta's custom tools (model_service/llama31.py) in the format MODEL_TOOL_FORMAT
names (`json`, Meta's default, or `function_tag`); `tool_choice` decides which are offered and
whether a call is required; assistant `tool_calls` are replayed as Meta's calls and `tool`
messages as `ipython` results. What the model writes is a call only if it parses as one of the
offered functions (in either of Meta's formats); anything else is text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from assistant.chat.services import RequestMessage as StoredMessage
from assistant.conf import model_settings
from assistant.engine.client_tools import ClientTools
from assistant.openai_compat.protocol import (
    ApiError,
    ChatCompletionRequest,
    FunctionTool,
    NamedToolChoice,
    RequestMessage,
    ToolCall,
)
from model_service.llama31 import (
    END_OF_MESSAGE,
    END_OF_TURN,
    PYTHON_TAG,
    CustomTool,
    CustomToolFormat,
    ToolParam,
    custom_call,
    custom_tools_message,
    tool_result,
)
from model_service.messages import ChatMessage

TOOL_FORMATS: tuple[CustomToolFormat, ...] = ("json", "function_tag")
_FUNCTION_TAG = re.compile(r"<function=([a-zA-Z0-9_-]{1,64})>(.*)</function>", re.DOTALL)
_END_MARKERS = (END_OF_MESSAGE, END_OF_TURN)


def tool_format() -> CustomToolFormat:
    chosen = model_settings().tool_format
    if chosen not in TOOL_FORMATS:
        raise ValueError(f"MODEL_TOOL_FORMAT must be one of {TOOL_FORMATS}, not {chosen!r}")
    return cast(CustomToolFormat, chosen)


@dataclass(frozen=True)
class ToolRequest:
    """What a request's tools mean for its turn."""

    client_tools: ClientTools
    offered: frozenset[str]  # the function names a call may name
    required: str | None  # "" when any offered function must be called, its name for a named choice; None: optional


def tool_request(body: ChatCompletionRequest, fmt: CustomToolFormat) -> ToolRequest:
    offered = _offered_tools(body)
    choice = body.tool_choice
    required = choice.function.name if isinstance(choice, NamedToolChoice) else ("" if choice == "required" else None)
    offer = None
    if offered:
        offer = custom_tools_message([_custom_tool(tool) for tool in offered], fmt)
        offer = ChatMessage("user", offer.content + _must_call(required))
    conversation = tuple(_llama_message(message, index, body.messages, fmt) for index, message in _indexed(body))
    names = frozenset(tool.function.name for tool in offered)
    return ToolRequest(ClientTools(offer, conversation), names, required)


def stored_messages(tools: ClientTools) -> list[StoredMessage]:
    """The conversation as stored (users and assistants only): a call as the model reads it, a
    tool's result on the user's side."""
    return [
        StoredMessage(role="assistant" if m.role == "assistant" else "user", content=m.content)
        for m in tools.conversation
    ]


def _indexed(body: ChatCompletionRequest) -> list[tuple[int, RequestMessage]]:
    """The conversation with each message's index in `messages`; an assistant message with
    nothing in it is left out, as the stored history leaves it out."""
    return [
        (index, m)
        for index, m in enumerate(body.messages)
        if m.role not in ("system", "developer") and (m.role != "assistant" or m.text or m.tool_calls)
    ]


def _offered_tools(body: ChatCompletionRequest) -> list[FunctionTool]:
    tools = body.tools or []
    choice = body.tool_choice
    if choice == "none":
        return []
    if choice == "required" and not tools:
        raise ApiError(400, "tool_choice 'required' needs tools.", param="tool_choice")
    if isinstance(choice, NamedToolChoice):
        named = [tool for tool in tools if tool.function.name == choice.function.name]
        if not named:
            raise ApiError(
                400, f"tool_choice names '{choice.function.name}', which is not in tools.", param="tool_choice"
            )
        return named
    return tools


def _must_call(required: str | None) -> str:
    if required is None:
        return ""
    if required:
        return f"\n\nYou must call the function '{required}'."
    return "\n\nYou must call one of these functions."


def _custom_tool(tool: FunctionTool) -> CustomTool:
    schema = tool.function.parameters or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    params = tuple(
        ToolParam(name, _param_type(spec), str(spec.get("description", "")), name in required)
        for name, spec in properties.items()
        if isinstance(spec, dict)
    )
    return CustomTool(tool.function.name, tool.function.description, params)


def _param_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "string")
    return kind if isinstance(kind, str) else json.dumps(kind)


def _llama_message(
    message: RequestMessage, index: int, messages: Sequence[RequestMessage], fmt: CustomToolFormat
) -> ChatMessage:
    if message.role == "tool":
        _check_answers_a_call(message, index, messages)
        return tool_result(message.text)
    if message.role == "assistant" and message.tool_calls:
        call = _only_call(message, index)
        return custom_call(call.function.name, _arguments(call.function.arguments, index), fmt)
    return ChatMessage("assistant" if message.role == "assistant" else "user", message.text)


def _only_call(message: RequestMessage, index: int) -> ToolCall:
    calls = message.tool_calls or []
    if len(calls) != 1:
        raise ApiError(
            400, "Llama 3.1 calls one function at a time: send one tool call per message.", param=f"messages.{index}"
        )
    return calls[0]


def _arguments(text: str, index: int) -> dict[str, object]:
    try:
        arguments = json.loads(text)
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise ApiError(400, "A tool call's arguments must be a JSON object.", param=f"messages.{index}.tool_calls")
    return arguments


def _check_answers_a_call(message: RequestMessage, index: int, messages: Sequence[RequestMessage]) -> None:
    earlier = {call.id for m in messages[:index] for call in (m.tool_calls or [])}
    if message.tool_call_id not in earlier:
        raise ApiError(
            400,
            f"messages.{index}.tool_call_id '{message.tool_call_id}' answers no earlier tool call.",
            param=f"messages.{index}.tool_call_id",
        )


# --- the model's answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str  # the arguments object as JSON text


def may_become_call(text: str) -> bool:
    """Whether the answer so far could still be a call, so that streaming must hold it back."""
    start = text.lstrip().removeprefix(PYTHON_TAG).lstrip()
    return start.startswith(("{", "<function=")) or "<function=".startswith(start) or PYTHON_TAG.startswith(start)


def parse_call(text: str, offered: frozenset[str]) -> ParsedCall | None:
    """The call the model wrote, if `text` is exactly one call of an offered function: Meta's JSON
    (`{"name": …, "parameters": {…}}`, after `<|python_tag|>` or bare) or `<function=…>{…}</function>`."""
    body = text.strip().removeprefix(PYTHON_TAG).strip()
    for marker in _END_MARKERS:
        body = body.removesuffix(marker).rstrip()
    if tagged := _FUNCTION_TAG.fullmatch(body):
        name, arguments = tagged.group(1), _json_object(tagged.group(2))
    else:
        call = _json_object(body) or {}
        name, arguments = call.get("name"), call.get("parameters")
    if not isinstance(name, str) or name not in offered or not isinstance(arguments, dict):
        return None
    return ParsedCall(name, json.dumps(arguments, ensure_ascii=False))


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
