"""`response_format` as the configured model server's guided decoding.

The project sends prompts to the server's `/v1/completions`, so JSON output is asked for in the
fields that endpoint takes, which differ per server; MODEL_GUIDED_DECODING names the server kind:

- `vllm`: vLLM's completions request takes OpenAI's `response_format` (`json_object`,
  `json_schema`) and turns it into guided decoding;
- `llamacpp`: llama.cpp's own server (`llama-server`) takes `json_schema`;
- `llama-cpp-python`: a GBNF `grammar`, written here from the schema by llama-cpp-python's own
  converter: the one field both of the embedded engines take (llama-server, the default, and
  llama-cpp-python's server, the benchmarks' baseline), so it is the embedded default;
- `none`: a server without guided decoding; a JSON response format is refused with a 400.

Unset, it follows the prompt format: `llama3` deployments run vLLM, the embedded `chatml` one
gets a grammar.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.conf import model_settings
from assistant.openai_compat.protocol import ApiError, JsonObjectFormat, JsonSchemaFormat, ResponseFormat

GUIDED_DECODERS = ("vllm", "llamacpp", "llama-cpp-python", "none")
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def guided_decoder() -> str:
    chosen = model_settings().guided_decoding or _by_prompt_format()
    if chosen not in GUIDED_DECODERS:
        raise ValueError(f"MODEL_GUIDED_DECODING must be one of {GUIDED_DECODERS}, not {chosen!r}")
    return chosen


def _by_prompt_format() -> str:
    return "vllm" if model_settings().prompt_format == "llama3" else "llama-cpp-python"


def guided_fields(response_format: ResponseFormat | None) -> dict[str, object]:
    """The completions request fields that make the server write `response_format`'s JSON."""
    if response_format is None or not isinstance(response_format, JsonObjectFormat | JsonSchemaFormat):
        return {}
    decoder = guided_decoder()
    schema = _schema(response_format)
    if decoder == "vllm":
        return {"response_format": response_format.model_dump(mode="json", by_alias=True, exclude_none=True)}
    if decoder == "llamacpp":
        return {"json_schema": schema}
    if decoder == "llama-cpp-python":
        return {"grammar": _gbnf(schema)}
    raise ApiError(
        400,
        f"response_format '{response_format.type}' needs guided decoding, which this deployment's model server "
        "does not offer (MODEL_GUIDED_DECODING=none).",
        param="response_format",
        code="unsupported_response_format",
    )


def _schema(response_format: JsonObjectFormat | JsonSchemaFormat) -> dict[str, Any]:
    if isinstance(response_format, JsonSchemaFormat):
        return response_format.json_schema.schema_ or _ANY_OBJECT
    return _ANY_OBJECT


def _gbnf(schema: dict[str, Any]) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # the embedded server's own converter

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises bare exceptions for schema features it lacks
        raise ApiError(
            400, f"This JSON schema cannot be enforced: {exc}", param="response_format.json_schema.schema"
        ) from None
