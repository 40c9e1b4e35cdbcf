"""Imagine's error codes: what a client sees in `{"type": "error", "code": ...}` and REST errors."""

from __future__ import annotations

from enum import StrEnum


class ImagineErrorCode(StrEnum):
    INVALID_FRAME = "invalid_frame"
    EMPTY_PROMPT = "empty_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    UNKNOWN_SIZE = "unknown_size"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"
    SAFETY_UNAVAILABLE = "safety_unavailable"  # the guard cannot answer and the policy is to refuse
    NOT_FOUND = "not_found"
    GPU_OUT_OF_MEMORY = "gpu_out_of_memory"
    WORKER_UNAVAILABLE = "worker_unavailable"
    RENDER_FAILED = "render_failed"


class ImagineError(Exception):
    def __init__(self, code: ImagineErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


OUT_OF_MEMORY_DETAIL = "The image service ran out of GPU memory. Try a smaller size, or again in a moment."
