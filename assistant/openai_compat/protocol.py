"""The OpenAI-compatible API's wire contract: request validation and response shapes.

Requests are validated strictly (an unknown field or an unsupported feature is a 400 naming the
parameter, as OpenAI's own API does) so that a client never believes a setting took effect when
it did not. Responses follow OpenAI's chat completion and chunk objects field for field; the
views send these models (`wire`, `sse`) and assistant/openapi.py publishes their schemas.
On the wire a field with a default is present only when it was given (`exclude_unset`), as
OpenAI's own responses omit what does not apply: a chunk's `delta` keys, its `usage`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from assistant.door import PHOTO_MARKER, Sampling
from core.errors import AssistantError, ErrorCode
from core.json_input import load_client_json

# OpenAI's error types, by HTTP status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Product error codes as OpenAI clients know them.
OPENAI_CODES = {
    ErrorCode.CONTEXT_TOO_LONG: "context_length_exceeded",
    ErrorCode.RATE_LIMITED: "rate_limit_exceeded",
    ErrorCode.QUOTA_EXCEEDED: "insufficient_quota",
}


class ApiError(Exception):
    """A refused request, answered as OpenAI's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after = retry_after

    @classmethod
    def of(cls, error: AssistantError, *, param: str | None = None) -> ApiError:
        """A product refusal as OpenAI's error: its status, its code (as OpenAI names it where it has one)."""
        return cls(
            error.code.http_status,
            error.detail,
            code=OPENAI_CODES.get(error.code, error.code),
            param=param,
            retry_after=error.retry_after,
        )

    def body(self) -> OpenAIError:
        error_type = _ERROR_TYPES.get(self.status, "server_error")
        return OpenAIError(
            error=OpenAIErrorDetail(message=self.message, type=error_type, param=self.param, code=self.code)
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    name: str
    arguments: str  # a JSON object, as text


class ToolCall(_Strict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class SentToolCall(ToolCall):
    index: int | None = None  # kept by the `openai` package when it assembled the call from a stream


class ImageUrl(_Strict):
    url: str  # a `data:image/…;base64,…` URL, or an http(s) link fetched by the SSRF-safe fetcher
    detail: Literal["auto", "low", "high"] | None = None  # accepted; the whole photo is always read

    @field_validator("url")
    @classmethod
    def _data_or_web(cls, url: str) -> str:
        if not url.startswith(("data:", "https://", "http://")):
            raise ValueError("an image url is a data: URL (data:image/png;base64,…) or an https:// link")
        return url


class ImageUrlPart(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImageUrlPart, Field(discriminator="type")]


class RequestMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[SentToolCall] | None = None  # assistant: the calls it made
    tool_call_id: str | None = None  # tool: the call this is the result of
    refusal: str | None = None  # echoed back by clients that replay OpenAI's own messages

    @model_validator(mode="after")
    def _fields_fit_the_role(self) -> RequestMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.images() and self.role != "user":
            raise ValueError("only user messages carry image_url parts")
        return self

    @field_validator("content")
    @classmethod
    def _known_parts(cls, content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        for part in content if isinstance(content, list) else []:
            if part.get("type") not in ("text", "image_url"):
                raise ValueError(
                    f"content parts of type {part.get('type')!r} are not supported; send text and image_url parts"
                )
            _PART.validate_python(part)
        return content

    def images(self) -> list[ImageUrl]:
        parts = self.content if isinstance(self.content, list) else []
        return [ImageUrl.model_validate(part["image_url"]) for part in parts if part["type"] == "image_url"]

    @property
    def text(self) -> str:
        """The words sent; a message with a photo is stored as PHOTO_MARKER and its words, as the
        messaging apps store a photo and its caption (the photo's reading is the prompt's only)."""
        if not isinstance(self.content, list):
            return self.content or ""
        words = "".join(part["text"] for part in self.content if part["type"] == "text")
        return f"{PHOTO_MARKER} {words}".strip() if self.images() else words


_PART: TypeAdapter[TextPart | ImageUrlPart] = TypeAdapter(ContentPart)


_FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


class FunctionDefinition(_Strict):
    name: Annotated[str, Field(pattern=_FUNCTION_NAME)]
    description: str = ""
    parameters: dict[str, Any] | None = None  # a JSON Schema object
    strict: bool | None = None


class FunctionTool(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Strict):
    name: Annotated[str, Field(pattern=_FUNCTION_NAME)]


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: FunctionName


class TextFormat(_Strict):
    type: Literal["text"]


class JsonObjectFormat(_Strict):
    type: Literal["json_object"]


class JsonSchema(_Strict):
    name: str
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None


class JsonSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchema


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class StreamOptions(_Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None  # sent by newer OpenAI clients; there is nothing to obfuscate


class ChatCompletionRequest(_Strict):
    model: str
    messages: Annotated[list[RequestMessage], Field(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    n: Literal[1] | None = None
    user: Annotated[str, Field(max_length=256)] | None = None
    logprobs: Literal[False] | None = None
    tools: Annotated[list[FunctionTool], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None  # accepted; Llama 3.1 makes one call at a time
    response_format: ResponseFormat | None = None

    def sampling(self) -> Sampling:
        passed = {
            name: value
            for name in ("top_p", "presence_penalty", "frequency_penalty", "stop", "seed")
            if (value := getattr(self, name)) is not None
        }
        return Sampling(
            max_tokens=self.max_completion_tokens or self.max_tokens, temperature=self.temperature, extra=passed
        )

    def instructions(self) -> str:
        """The client's system and developer messages, joined in order."""
        return "\n\n".join(m.text for m in self.messages if m.role in ("system", "developer") and m.text)

    def conversation(self) -> list[RequestMessage]:
        """The user, assistant and tool messages, in order."""
        return [m for m in self.messages if m.role not in ("system", "developer")]

    def uses_tools(self) -> bool:
        return bool(self.tools) or any(m.tool_calls or m.role == "tool" for m in self.messages)

    def photo(self) -> ImageUrl | None:
        """The request's one image, which only its last message may carry (a photo is read for the turn
        that sends it, as in the messaging apps). Raises ApiError `too_many_images` otherwise."""
        *earlier, last = self.messages
        if any(message.images() for message in earlier):
            raise ApiError(
                400,
                "Only the last message may carry an image: send earlier photos' questions as text.",
                code="too_many_images",
                param="messages",
            )
        images = last.images()
        if len(images) > 1:
            raise ApiError(400, "At most one image is read per request.", code="too_many_images", param="messages")
        return images[0] if images else None


# --- audio -------------------------------------------------------------------------------------


class TranscriptionForm(_Strict):
    """`POST /v1/audio/transcriptions`, as multipart/form-data fields."""

    file: bytes  # the audio; its type is judged by its content (media intake), up to MEDIA_VOICE_MAX_BYTES
    model: Annotated[str, Field(min_length=1)]  # any name: the server's recogniser hears it
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] | None = None  # ISO 639-1, a hint
    prompt: str | None = None  # accepted and ignored: neither recogniser takes a prompt
    response_format: Literal["json", "text", "verbose_json"] = "json"
    temperature: Annotated[float, Field(ge=0, le=1)] | None = None  # accepted; decoding is greedy


class SpeechRequest(_Strict):
    """`POST /v1/audio/speech`."""

    model: Annotated[str, Field(min_length=1)]  # any name: the server's voice reads it
    input: str  # 1 to MEDIA_SPEECH_MAX_CHARS (4096, OpenAI's cap) characters
    voice: Annotated[str, Field(min_length=1)]  # any of OpenAI's names: the server has one voice per language
    response_format: Literal["mp3", "opus", "aac", "flac", "wav"] = "mp3"  # not `pcm`
    speed: Annotated[float, Field(ge=1, le=1)] | None = None
    stream_format: Literal["audio"] | None = None  # the whole file is sent; there are no `sse` events


class Transcription(_Strict):
    """`json`: the text; `verbose_json` adds the language (ISO 639-1, as vLLM sends it) and the duration
    in seconds."""

    text: str
    language: str | None = None
    duration: float | None = None


_UNSUPPORTED_HINTS = {
    "n": "only n=1 is supported",
    "logprobs": "log probabilities are not supported",
    "speed": "only speed 1.0 is supported",
}
Shape = TypeVar("Shape", bound=BaseModel)


def parse_request(body: bytes) -> ChatCompletionRequest:
    return parse_json(body, ChatCompletionRequest)


def parse_json(body: bytes, shape: type[Shape]) -> Shape:
    """A JSON body validated as `shape`; ApiError naming the parameter otherwise."""
    try:
        data = load_client_json(body)
    except AssistantError as exc:
        raise ApiError(400, exc.detail, code="invalid_json" if exc.code == ErrorCode.INVALID_JSON else None) from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
    return validated(data, shape)


def validated(data: dict[str, Any], shape: type[Shape]) -> Shape:
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        raise _request_error(exc) from None


def _request_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    location = [str(part) for part in first["loc"]]
    param = location[0] if location else None
    if first["type"] == "extra_forbidden":
        return ApiError(400, f"Unrecognized request argument supplied: {'.'.join(location)}.", param=param)
    if first["type"] == "missing":
        return ApiError(400, f"Missing required parameter: '{'.'.join(location)}'.", param=param)
    reason = _UNSUPPORTED_HINTS.get(param or "", first["msg"])
    return ApiError(400, f"Invalid value for '{'.'.join(location)}': {reason}.", param=param)


# --- responses --------------------------------------------------------------------


class OpenAIErrorDetail(_Strict):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(_Strict):
    """Every refusal of `/v1`, in OpenAI's error shape."""

    error: OpenAIErrorDetail


class ModelObject(_Strict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Strict):
    object: Literal["list"]
    data: list[ModelObject]


OpenAIFinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


class CompletionMessage(_Strict):
    role: Literal["assistant"]
    content: str | None  # None when the answer is a tool call
    refusal: None
    tool_calls: list[ToolCall] | None = None


class CompletionChoice(_Strict):
    index: int
    message: CompletionMessage
    logprobs: None
    finish_reason: OpenAIFinishReason


class Usage(_Strict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_Strict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: None
    choices: list[CompletionChoice]
    usage: Usage


class FunctionCallDelta(_Strict):
    name: str | None = None  # the call's first delta only
    arguments: str | None = None  # a fragment of the arguments' JSON text


class ToolCallDelta(_Strict):
    """A piece of a streamed call: the first names it (index, id, type, function.name, empty
    arguments); the next ones carry only argument fragments, as the `openai` package assembles them."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta


class Delta(_Strict):
    role: Literal["assistant"] | None = None  # the first chunk only
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Strict):
    index: int
    delta: Delta
    logprobs: None
    finish_reason: OpenAIFinishReason | None


class ChatCompletionChunk(_Strict):
    """One `data:` event of a stream; with `include_usage`, `usage` is null but on the last chunk,
    whose `choices` is empty."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    system_fingerprint: None
    choices: list[ChunkChoice]
    usage: Usage | None = None


def usage_object(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )


def completion_object(
    *,
    completion_id: str,
    created: int,
    model: str,
    text: str | None,
    finish_reason: OpenAIFinishReason,
    usage: Usage,
    tool_calls: list[ToolCall] | None = None,
) -> ChatCompletion:
    calls = {"tool_calls": tool_calls} if tool_calls else {}  # present only on a call, as OpenAI sends it
    choice = CompletionChoice(
        index=0,
        message=CompletionMessage(role="assistant", content=text, refusal=None, **calls),
        logprobs=None,
        finish_reason=finish_reason,
    )
    return ChatCompletion(
        id=completion_id,
        object="chat.completion",
        created=created,
        model=model,
        system_fingerprint=None,
        choices=[choice],
        usage=usage,
    )


def chunk_object(
    *,
    completion_id: str,
    created: int,
    model: str,
    delta: Delta | dict[str, Any],
    finish_reason: OpenAIFinishReason | None = None,
    with_usage_field: bool = False,
) -> ChatCompletionChunk:
    # OpenAI sends "usage": null on every chunk but the last when usage is asked for, else no "usage".
    usage_field = {"usage": None} if with_usage_field else {}
    choice = ChunkChoice(index=0, delta=Delta.model_validate(delta), logprobs=None, finish_reason=finish_reason)
    return _chunk(completion_id, created, model, [choice], **usage_field)


def usage_chunk(*, completion_id: str, created: int, model: str, usage: Usage) -> ChatCompletionChunk:
    return _chunk(completion_id, created, model, [], usage=usage)


def _chunk(
    completion_id: str, created: int, model: str, choices: list[ChunkChoice], **usage: Usage | None
) -> ChatCompletionChunk:
    """A chunk with `usage` only if it is passed (see `wire`)."""
    return ChatCompletionChunk(
        id=completion_id,
        object="chat.completion.chunk",
        created=created,
        model=model,
        system_fingerprint=None,
        choices=choices,
        **usage,
    )


def wire(shape: BaseModel) -> dict[str, Any]:
    """A response model as JSON-ready data: fields with defaults only where they were given."""
    return shape.model_dump(mode="json", exclude_unset=True)


def sse(event: BaseModel | str) -> bytes:
    payload = event if isinstance(event, str) else event.model_dump_json(exclude_unset=True)
    return f"data: {payload}\n\n".encode()
