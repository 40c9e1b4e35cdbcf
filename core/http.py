"""JSON answers over HTTP: a response model serialised, and refusals in one shape for `/api` and
`/api/imagine` (docs/protocol.md) with the status their code carries, counted in one metric."""

from __future__ import annotations

from django.http import JsonResponse
from pydantic import BaseModel, ConfigDict, Field

from core.errors import AssistantError, ErrorCode
from core.metrics import ERRORS


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    detail: str
    # Seconds, with the Retry-After header, when a retry will succeed; absent otherwise.
    retry_after: int | None = Field(default=None, exclude_if=lambda seconds: seconds is None)


class Error(BaseModel):
    """Every refusal of `/api`: `code` is from docs/protocol.md's list."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


def shape_response(shape: BaseModel, status: int = 200) -> JsonResponse:
    return JsonResponse(shape.model_dump(mode="json"), status=status)


def error_response(code: ErrorCode, detail: str, *, retry_after: int | None = None) -> JsonResponse:
    ERRORS.labels(code).inc()
    error = Error(error=ErrorDetail(code=code, detail=detail, retry_after=retry_after))
    response = shape_response(error, code.http_status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def refusal(exc: AssistantError) -> JsonResponse:
    return error_response(exc.code, exc.detail, retry_after=exc.retry_after)
