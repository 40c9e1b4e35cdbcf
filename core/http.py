"""JSON answers over HTTP: a response model serialised, and refusals in one shape for `/api` and
`/api/imagine` (docs/protocol.md) with the status their code carries, counted in one metric."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode, dependency_unavailable
from core.json_input import load_client_json
from core.metrics import ERRORS

logger = logging.getLogger(__name__)


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


def method_not_allowed(allowed: str) -> JsonResponse:
    """A 405 naming the methods the path takes, in `Allow` too."""
    response = error_response(ErrorCode.METHOD_NOT_ALLOWED, f"Use {allowed}.")
    response["Allow"] = allowed
    return response


def refusal(exc: AssistantError) -> JsonResponse:
    return error_response(exc.code, exc.detail, retry_after=exc.retry_after)


def json_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A REST view of the web app: require a session; AssistantErrors and unreachable dependencies
    become JSON refusals."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            if not request.user.is_authenticated:  # reads the session: the database may be down
                return error_response(ErrorCode.UNAUTHENTICATED, "Open the chat page first to get a session.")
            return view(request, *args, **kwargs)
        except AssistantError as exc:
            return refusal(exc)
        except DEPENDENCY_ERRORS as exc:
            logger.error("%s %s: dependency unavailable: %s", request.method, request.path, exc)
            return refusal(dependency_unavailable(exc))

    return wrapper


Body = TypeVar("Body", bound=BaseModel)


def validated(schema: type[Body], value: Any) -> Body:
    """`value` as `schema`, or an `invalid_frame` refusal naming the first wrong field."""
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise AssistantError(ErrorCode.INVALID_FRAME, f"{where}: {first['msg']}.") from None


def parse_body(request: HttpRequest, schema: type[Body]) -> Body:
    """The request's JSON body (`{}` when empty) as `schema`."""
    return validated(schema, load_client_json(request.body or b"{}"))
