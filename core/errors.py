"""The product's error vocabulary: one code, one meaning, on every channel."""

from __future__ import annotations

from enum import StrEnum

import redis
from django.db import InterfaceError, OperationalError


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    TEXT_TOO_LONG = "text_too_long"
    EMPTY_TEXT = "empty_text"
    NOT_FOUND = "not_found"
    TURN_IN_PROGRESS = "turn_in_progress"
    ANSWER_IN_PROGRESS = "answer_in_progress"  # another answer of the person's, under the `refuse` policy
    NOTHING_TO_REGENERATE = "nothing_to_regenerate"
    NOT_STREAMING = "not_streaming"
    CONTEXT_TOO_LONG = "context_too_long"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_ERROR = "model_error"
    FORBIDDEN = "forbidden"
    LIMIT_REACHED = "limit_reached"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    BLOCKED = "blocked"
    SAFETY_UNAVAILABLE = "safety_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL = "internal"
    UNAUTHENTICATED = "unauthenticated"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    CSRF_FAILED = "csrf_failed"
    # Imagine's: a prompt is not a chat message, and a render has failures of its own.
    EMPTY_PROMPT = "empty_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    UNKNOWN_SIZE = "unknown_size"
    GPU_OUT_OF_MEMORY = "gpu_out_of_memory"
    WORKER_UNAVAILABLE = "worker_unavailable"
    RENDER_FAILED = "render_failed"
    # Files people send (documents, photos, voice notes), refused by what their bytes are, before
    # anything is stored.
    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
    FILE_TYPE_MISMATCH = "file_type_mismatch"  # the name or declared type says one kind, the bytes another
    BROKEN_FILE = "broken_file"
    ENCRYPTED_FILE = "encrypted_file"
    DOCUMENT_TOO_LONG = "document_too_long"
    NO_TEXT = "no_text"
    EXTRACTION_TIMEOUT = "extraction_timeout"
    DOCUMENT_NOT_READY = "document_not_ready"  # a file still being read, or refused, used in a chat
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    AUDIO_TOO_LONG = "audio_too_long"
    ATTACHMENT_USED = "attachment_used"  # a web upload already sent with another message
    UPLOAD_OFFSET_MISMATCH = "upload_offset_mismatch"  # a resumable upload's chunk at another offset than the server's

    @property
    def http_status(self) -> int:
        """The status of an HTTP answer refusing with this code; 400 unless the table says otherwise."""
        return _HTTP_STATUS.get(self, 400)


_HTTP_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.TURN_IN_PROGRESS: 409,
    ErrorCode.ANSWER_IN_PROGRESS: 409,
    ErrorCode.LIMIT_REACHED: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.BLOCKED: 422,  # only HTTP's refusals of a prompt; a blocked chat answer is a `done`
    ErrorCode.MODEL_ERROR: 502,
    ErrorCode.RENDER_FAILED: 502,
    ErrorCode.MODEL_UNAVAILABLE: 503,
    ErrorCode.SAFETY_UNAVAILABLE: 503,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.GPU_OUT_OF_MEMORY: 503,
    ErrorCode.WORKER_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.FILE_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_FILE_TYPE: 415,
    ErrorCode.ENCRYPTED_FILE: 422,
    ErrorCode.BROKEN_FILE: 422,
    ErrorCode.DOCUMENT_TOO_LONG: 413,
    ErrorCode.NO_TEXT: 422,
    ErrorCode.EXTRACTION_TIMEOUT: 422,
    ErrorCode.DOCUMENT_NOT_READY: 409,
    ErrorCode.FILE_TYPE_MISMATCH: 415,
    ErrorCode.IMAGE_TOO_MANY_PIXELS: 413,
    ErrorCode.AUDIO_TOO_LONG: 413,
    ErrorCode.ATTACHMENT_USED: 409,
    ErrorCode.UPLOAD_OFFSET_MISMATCH: 409,
}


class AssistantError(Exception):
    """A request the product refuses, with a sentence a person can act on. `retry_after` (seconds)
    is set when the same request will be accepted later (rate limits, quotas)."""

    def __init__(self, code: ErrorCode, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


# A dependency that is down or unreachable (not a bug): the request is refused with a sentence to
# act on, nothing is half-stored, and the next request tries again (connections are re-opened).
DATABASE_ERRORS = (OperationalError, InterfaceError)
DEPENDENCY_ERRORS = (*DATABASE_ERRORS, redis.ConnectionError, redis.TimeoutError)


def dependency_unavailable(exc: BaseException) -> AssistantError:
    what = "our database" if isinstance(exc, DATABASE_ERRORS) else "our messaging service"
    return AssistantError(
        ErrorCode.SERVICE_UNAVAILABLE,
        f"We can't reach {what} right now, so nothing was saved. Please try again in a moment.",
    )
