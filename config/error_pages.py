"""Django's own refusals (no such URL, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a failed CSRF
check, an unhandled error) answered in the JSON shape of the API that was called: OpenAI's error
object under `/v1/`, the product's refusal under `/api/`. Pages keep Django's HTML."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.csrf import csrf_failure as html_csrf_failure

from assistant.openai_compat.protocol import ApiError
from assistant.openai_compat.serving import error_response as openai_error_response
from core.errors import ErrorCode
from core.http import error_response

_DETAILS = {
    ErrorCode.NOT_FOUND: "There is nothing at this address.",
    ErrorCode.BODY_TOO_LARGE: "The request body is too large.",
    ErrorCode.INVALID_FRAME: "The request could not be read.",
    ErrorCode.CSRF_FAILED: "The CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value.",
    ErrorCode.INTERNAL: "Something went wrong on our side.",
}


def _json_refusal(request: HttpRequest, code: ErrorCode) -> HttpResponse | None:
    """The refusal for an API path; None for pages."""
    if request.path.startswith("/v1/"):
        return openai_error_response(ApiError(code.http_status, _DETAILS[code], code=code))
    if request.path.startswith("/api/"):
        return error_response(code, _DETAILS[code])
    return None


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    code = ErrorCode.BODY_TOO_LARGE if isinstance(exception, RequestDataTooBig) else ErrorCode.INVALID_FRAME
    return _json_refusal(request, code) or defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _json_refusal(request, ErrorCode.NOT_FOUND) or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _json_refusal(request, ErrorCode.INTERNAL) or defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _json_refusal(request, ErrorCode.CSRF_FAILED) or html_csrf_failure(request, reason)
