"""The assistant's own OpenAI-compatible API: `GET /v1/models`, `POST /v1/chat/completions`.

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

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from assistant.conf import model_settings
from assistant.door import AnswerHandle, RequestMessage, TurnRequest, start_answer
from assistant.engine.frames import AnswerFrame as Frame
from assistant.engine.frames import DoneFrame, FinishReason, TokenFrame
from assistant.engine.sinks import ChannelLayerSink, QueueSink, TeeSink
from assistant.models import ApiKey, Channel
from assistant.openai_compat.protocol import (
    OPENAI_CODES,
    ApiError,
    ChatCompletionRequest,
    ModelList,
    ModelObject,
    OpenAIFinishReason,
    chunk_object,
    completion_object,
    parse_request,
    sse,
    usage_chunk,
    usage_object,
    wire,
)
from core import auth
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode, dependency_unavailable
from core.metrics import ERRORS

logger = logging.getLogger(__name__)


def error_response(error: ApiError) -> JsonResponse:
    ERRORS.labels(error.code or f"http_{error.status}").inc()
    response = JsonResponse(wire(error.body()), status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def _from_assistant_error(error: AssistantError) -> ApiError:
    return ApiError(
        error.code.http_status,
        error.detail,
        code=OPENAI_CODES.get(error.code, error.code),
        retry_after=error.retry_after,
    )


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def _check_method(request: HttpRequest, allowed: str) -> None:
    if request.method != allowed:
        raise ApiError(405, f"Use {allowed} for {request.path}.", code="method_not_allowed")


async def _authenticate(request: HttpRequest) -> ApiKey:
    secret = auth.bearer_secret(request)
    if not secret:
        raise ApiError(401, "Send your API key as 'Authorization: Bearer <key>'.", code="missing_api_key")
    try:
        key = await database_sync_to_async(auth.find_api_key)(secret)
    except DEPENDENCY_ERRORS as exc:
        raise _unavailable(exc) from None
    if key is None:
        raise ApiError(401, "This API key is not valid or was revoked.", code="invalid_api_key")
    return key


def _unavailable(exc: BaseException) -> ApiError:
    logger.error("openai api: dependency unavailable: %s", exc)
    return _from_assistant_error(dependency_unavailable(exc))


@csrf_exempt  # authenticated by a bearer key, never by a cookie
async def models(request: HttpRequest) -> HttpResponse:
    try:
        _check_method(request, "GET")
        await _authenticate(request)
    except ApiError as error:
        return error_response(error)
    served = ModelObject(id=model_settings().name, object="model", created=0, owned_by="assistant")
    return JsonResponse(wire(ModelList(object="list", data=[served])))


def _turn_request(key: ApiKey, body: ChatCompletionRequest, ip: str | None) -> TurnRequest:
    return TurnRequest(
        channel=Channel.API,
        user=key.owner,
        ip=ip,
        api_key=key,
        instructions=body.instructions(),
        history=[RequestMessage(role=role, content=text) for role, text in body.conversation()],
        sampling=body.sampling(),
    )


async def _start(key: ApiKey, body: ChatCompletionRequest, ip: str | None, sink: QueueSink) -> AnswerHandle:
    if body.model != model_settings().name:
        raise ApiError(
            404,
            f"The model '{body.model}' does not exist; this server serves '{model_settings().name}'.",
            code="model_not_found",
            param="model",
        )
    try:
        # Also to the channel layer: the owner may follow (and stop) it on the web page.
        return await start_answer(_turn_request(key, body, ip), TeeSink(sink, ChannelLayerSink()))
    except AssistantError as error:
        raise _from_assistant_error(error) from None
    except DEPENDENCY_ERRORS as exc:
        raise _unavailable(exc) from None


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    sink = QueueSink()
    try:
        _check_method(request, "POST")
        key = await _authenticate(request)
        body = parse_request(request.body)
        handle = await _start(key, body, _client_ip(request), sink)
    except ApiError as error:
        return error_response(error)
    frames = sink.frames()
    reply = _Reply(completion_id=f"chatcmpl-{handle.answer.pk}", created=int(time.time()), body=body)
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


@dataclasses.dataclass(frozen=True)
class _Reply:
    completion_id: str
    created: int
    body: ChatCompletionRequest

    def _chunk(self, delta: dict[str, str], finish_reason: OpenAIFinishReason | None = None) -> bytes:
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

    async def events(self, frames: AsyncIterator[Frame]) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        streamed = False
        async for frame in frames:
            if isinstance(frame, TokenFrame):
                streamed = True
                yield self._chunk({"content": frame.text})
                continue
            if not isinstance(frame, DoneFrame):
                continue  # search progress and retractions have no place in OpenAI's stream
            if frame.failed:
                yield sse(_failure(frame).body())
                return
            if frame.finish_reason == FinishReason.BLOCKED and not streamed:
                yield self._chunk({"content": frame.error or ""})  # a refused question gets the refusal
            yield self._chunk({}, _finish_reason(frame))
            if self.body.stream_options and self.body.stream_options.include_usage:
                usage = usage_object(frame.usage.prompt_tokens, frame.usage.completion_tokens)
                yield sse(
                    usage_chunk(
                        completion_id=self.completion_id, created=self.created, model=model_settings().name, usage=usage
                    )
                )
            yield sse("[DONE]")

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
            blocked = frame.finish_reason == FinishReason.BLOCKED
            completion = completion_object(
                completion_id=self.completion_id,
                created=self.created,
                model=model_settings().name,
                text=(frame.error or "") if blocked else "".join(parts),
                finish_reason=_finish_reason(frame),
                usage=usage_object(frame.usage.prompt_tokens, frame.usage.completion_tokens),
            )
            return JsonResponse(wire(completion))
        raise RuntimeError("the answer's frames ended without a done frame")
