"""The assistant's own OpenAI-compatible API: `GET /v1/models`, `GET /v1/models/{id}`,
`POST /v1/chat/completions` (with function tools: assistant/openai_compat/tools.py; with a photo as
an `image_url` part: assistant/openai_compat/photos.py). The audio routes are in audio.py.

Existing OpenAI clients work unchanged. A request is one turn through the same pipeline as the
web chat (so safety and search apply), stored as a conversation of the key's owner (channel
`api`). It enters through the one door (`assistant.door`) like every turn; this view reads the
answer's frames from a local, lossless queue. A client that disconnects stops the generation, and the stored answer ends
`cancelled` with the text written so far.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from assistant.conf import model_settings
from assistant.door import AnswerHandle, RequestMessage, TurnRequest, admit_before_reading, start_answer
from assistant.engine.client_tools import ClientTools
from assistant.engine.frames import AnswerFrame as Frame
from assistant.engine.frames import DoneFrame, FinishReason, TokenFrame
from assistant.engine.sinks import ChannelLayerSink, QueueSink, TeeSink
from assistant.models import ApiKey, Channel
from assistant.openai_compat.guided import guided_fields
from assistant.openai_compat.photos import photo_attachment
from assistant.openai_compat.protocol import (
    OPENAI_CODES,
    ApiError,
    ChatCompletionRequest,
    Delta,
    FunctionCall,
    FunctionCallDelta,
    ModelList,
    ModelObject,
    OpenAIFinishReason,
    ToolCall,
    ToolCallDelta,
    chunk_object,
    completion_object,
    parse_request,
    sse,
    usage_chunk,
    usage_object,
    wire,
)
from assistant.openai_compat.tools import (
    ParsedCall,
    ToolRequest,
    may_become_call,
    parse_call,
    stored_messages,
    tool_format,
    tool_request,
)
from core import auth
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode, dependency_unavailable
from core.metrics import ERRORS

logger = logging.getLogger(__name__)


def error_response(error: ApiError) -> JsonResponse:
    ERRORS.labels(error.code or f"http_{error.status}").inc()
    response = JsonResponse(wire(error.body()), status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def check_method(request: HttpRequest, allowed: str) -> None:
    if request.method != allowed:
        raise ApiError(405, f"Use {allowed} for {request.path}.", code="method_not_allowed")


async def authenticate(request: HttpRequest) -> ApiKey:
    secret = auth.bearer_secret(request)
    if not secret:
        raise ApiError(401, "Send your API key as 'Authorization: Bearer <key>'.", code="missing_api_key")
    try:
        key = await database_sync_to_async(auth.find_api_key)(secret)
    except DEPENDENCY_ERRORS as exc:
        raise unavailable(exc) from None
    if key is None:
        raise ApiError(401, "This API key is not valid or was revoked.", code="invalid_api_key")
    return key


def unavailable(exc: BaseException) -> ApiError:
    logger.error("openai api: dependency unavailable: %s", exc)
    return ApiError.of(dependency_unavailable(exc))


def _served_model() -> ModelObject:
    return ModelObject(id=model_settings().name, object="model", created=0, owned_by="assistant")


@csrf_exempt  # authenticated by a bearer key, never by a cookie
async def models(request: HttpRequest) -> HttpResponse:
    try:
        check_method(request, "GET")
        await authenticate(request)
    except ApiError as error:
        return error_response(error)
    return JsonResponse(wire(ModelList(object="list", data=[_served_model()])))


@csrf_exempt
async def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    try:
        check_method(request, "GET")
        await authenticate(request)
        if model_id != model_settings().name:
            raise ApiError(404, f"The model '{model_id}' does not exist.", code="model_not_found", param="model")
    except ApiError as error:
        return error_response(error)
    return JsonResponse(wire(_served_model()))


def _tool_request(body: ChatCompletionRequest) -> ToolRequest | None:
    """The request's tools as Llama 3.1 custom tools; None when it uses none."""
    if not body.uses_tools():
        return None
    if model_settings().prompt_format != "llama3":
        raise ApiError(400, "Function tools need a Llama 3.1 model (MODEL_PROMPT_FORMAT=llama3).", param="tools")
    return tool_request(body, tool_format())


def _check_model(body: ChatCompletionRequest) -> None:
    if body.model != model_settings().name:
        raise ApiError(
            404,
            f"The model '{body.model}' does not exist; this server serves '{model_settings().name}'.",
            code="model_not_found",
            param="model",
        )


def _turn_request(key: ApiKey, body: ChatCompletionRequest, tools: ClientTools | None, ip: str | None) -> TurnRequest:
    sampling = body.sampling()
    history = stored_messages(tools) if tools else [RequestMessage(m.role, m.text) for m in body.conversation()]
    return TurnRequest(
        channel=Channel.API,
        user=key.owner,
        ip=ip,
        api_key=key,
        instructions=body.instructions(),
        history=history,
        sampling=dataclasses.replace(sampling, extra={**sampling.extra, **guided_fields(body.response_format)}),
        client_tools=tools,
    )


async def _start(
    key: ApiKey, body: ChatCompletionRequest, tools: ToolRequest | None, ip: str | None, sink: QueueSink
) -> AnswerHandle:
    _check_model(body)
    try:
        turn = _turn_request(key, body, tools.client_tools if tools else None, ip)
        if (photo := body.photo()) is not None:
            # Counted first, so a flood of photos is refused before each costs the media worker a read;
            # then read before the turn is stored (as in messaging).
            turn = dataclasses.replace(await admit_before_reading(turn), attachment=await photo_attachment(photo))
        # Also to the channel layer: the owner may follow (and stop) it on the web page.
        return await start_answer(turn, TeeSink(sink, ChannelLayerSink()))
    except AssistantError as error:
        raise ApiError.of(error) from None
    except DEPENDENCY_ERRORS as exc:
        raise unavailable(exc) from None


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    sink = QueueSink()
    try:
        check_method(request, "POST")
        key = await authenticate(request)
        body = parse_request(request.body)
        tools = _tool_request(body)
        handle = await _start(key, body, tools, client_ip(request), sink)
    except ApiError as error:
        return error_response(error)
    frames = sink.frames()
    reply = _Reply(completion_id=f"chatcmpl-{handle.answer.pk}", created=int(time.time()), body=body, tools=tools)
    # The first frame decides the status: a model that is down is a 503, not a 200 stream of an error.
    first = await anext(frames)
    if isinstance(first, DoneFrame) and first.failed:
        return error_response(_failure(first))
    if body.stream:
        response = StreamingHttpResponse(reply.events(_prepend(first, frames)), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass every event on as it comes
        return response
    return await reply.whole(_prepend(first, frames))


async def _prepend(first: Frame, rest: AsyncIterator[Frame]) -> AsyncIterator[Frame]:
    yield first
    async for frame in rest:
        yield frame


def _failure(done: DoneFrame) -> ApiError:
    code = done.error_code or ErrorCode.SERVICE_UNAVAILABLE  # no code: the server shut down mid-answer
    detail = done.error or "The answer failed."
    return ApiError(code.http_status, detail, code=OPENAI_CODES.get(code, code))


_OPENAI_FINISH_REASONS: dict[FinishReason, OpenAIFinishReason] = {
    FinishReason.LENGTH: "length",
    FinishReason.BLOCKED: "content_filter",
}


def _finish_reason(done: DoneFrame) -> OpenAIFinishReason:
    return _OPENAI_FINISH_REASONS.get(done.finish_reason, "stop")


ARGUMENT_FRAGMENT_CHARS = 32  # a streamed call's arguments arrive in pieces, as OpenAI sends them


def _missing_call(tools: ToolRequest) -> ApiError:
    wanted = f"the function '{tools.required}'" if tools.required else "one of the functions"
    return ApiError(
        500, f"The model answered without calling {wanted}, as tool_choice required.", code="tool_call_missing"
    )


@dataclasses.dataclass(frozen=True)
class _Reply:
    """One answer as OpenAI's response. With tools offered, text that may still be a call is held
    back until it is one (sent as `tool_calls`) or clearly is not (sent as content); when a call is
    required, all of it is held, and an answer that is no call is an error (`tool_call_missing`)."""

    completion_id: str
    created: int
    body: ChatCompletionRequest
    tools: ToolRequest | None

    def _offered(self) -> frozenset[str]:
        return self.tools.offered if self.tools is not None else frozenset()

    def _requires_call(self) -> bool:
        return self.tools is not None and self.tools.required is not None

    def _holds(self, text: str) -> bool:
        return self._requires_call() or may_become_call(text)

    def _tool_call(self, call: ParsedCall) -> ToolCall:
        call_id = self.completion_id.replace("chatcmpl-", "call_", 1)
        return ToolCall(id=call_id, type="function", function=FunctionCall(name=call.name, arguments=call.arguments))

    def _chunk(self, delta: Delta, finish_reason: OpenAIFinishReason | None = None) -> bytes:
        include_usage = bool(self.body.stream_options and self.body.stream_options.include_usage)
        return sse(
            chunk_object(
                completion_id=self.completion_id,
                created=self.created,
                model=model_settings().name,
                delta=delta,
                finish_reason=finish_reason,
                with_usage_field=include_usage,
            )
        )

    def _call_chunks(self, call: ParsedCall) -> list[bytes]:
        """The call as the `openai` package assembles it: named first, then argument fragments."""
        whole = self._tool_call(call)
        named = ToolCallDelta(
            index=0, id=whole.id, type="function", function=FunctionCallDelta(name=call.name, arguments="")
        )
        fragments = [
            ToolCallDelta(
                index=0, function=FunctionCallDelta(arguments=call.arguments[start : start + ARGUMENT_FRAGMENT_CHARS])
            )
            for start in range(0, len(call.arguments), ARGUMENT_FRAGMENT_CHARS)
        ]
        return [self._chunk(Delta(tool_calls=[piece])) for piece in (named, *fragments)]

    async def events(self, frames: AsyncIterator[Frame]) -> AsyncIterator[bytes]:
        holding = bool(self._offered())
        yield self._chunk(Delta(role="assistant") if holding else Delta(role="assistant", content=""))
        held: list[str] = []
        streamed = False
        async for frame in frames:
            if isinstance(frame, TokenFrame):
                if holding:
                    held.append(frame.text)
                    if self._holds("".join(held)):
                        continue
                streamed = True
                yield self._chunk(Delta(content="".join(held) if holding else frame.text))
                holding = False
                continue
            if not isinstance(frame, DoneFrame):
                continue  # search progress and retractions have no place in OpenAI's stream
            if frame.failed:
                yield sse(_failure(frame).body())
                return
            for event in self._end_events(frame, "".join(held) if holding else "", streamed):
                yield event
            return

    def _end_events(self, done: DoneFrame, held: str, streamed: bool) -> list[bytes]:
        """The stream's end: the refusal, the call or the held text; the finish; the usage."""
        finish = _finish_reason(done)
        if done.finish_reason == FinishReason.BLOCKED:
            ending = [] if streamed else [self._chunk(Delta(content=done.error or ""))]  # a refused question
        elif (call := parse_call(held, self._offered())) is not None:
            ending, finish = self._call_chunks(call), "tool_calls"
        elif self._requires_call() and self.tools is not None:
            return [sse(_missing_call(self.tools).body())]
        else:
            ending = [self._chunk(Delta(content=held))] if held else []
        ending.append(self._chunk(Delta(), finish))
        if self.body.stream_options and self.body.stream_options.include_usage:
            usage = usage_object(done.usage.prompt_tokens, done.usage.completion_tokens)
            ending.append(
                sse(
                    usage_chunk(
                        completion_id=self.completion_id, created=self.created, model=model_settings().name, usage=usage
                    )
                )
            )
        return [*ending, sse("[DONE]")]

    async def whole(self, frames: AsyncIterator[Frame]) -> HttpResponse:
        parts: list[str] = []
        async for frame in frames:
            if isinstance(frame, TokenFrame):
                parts.append(frame.text)
                continue
            if not isinstance(frame, DoneFrame):
                continue
            if frame.failed:
                return error_response(_failure(frame))
            return self._completion(frame, "".join(parts))
        raise RuntimeError("the answer's frames ended without a done frame")

    def _completion(self, done: DoneFrame, text: str) -> HttpResponse:
        finish = _finish_reason(done)
        blocked = done.finish_reason == FinishReason.BLOCKED
        call = None if blocked else parse_call(text, self._offered())
        if call is None and not blocked and self._requires_call() and self.tools is not None:
            return error_response(_missing_call(self.tools))
        if call is not None:
            finish = "tool_calls"
        completion = completion_object(
            completion_id=self.completion_id,
            created=self.created,
            model=model_settings().name,
            text=None if call else (done.error or "") if blocked else text,
            finish_reason=finish,
            usage=usage_object(done.usage.prompt_tokens, done.usage.completion_tokens),
            tool_calls=[self._tool_call(call)] if call else None,
        )
        return JsonResponse(wire(completion))
