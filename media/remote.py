"""The one way the media worker talks to a production model server (Whisper, TTS): a POST with the
server's bearer token, its failures turned into the product's errors."""

from __future__ import annotations

from typing import Any

import httpx

from core.errors import AssistantError, ErrorCode

CONNECT_TIMEOUT_SECONDS = 2.0  # a server that does not accept a connection this fast is down


def post_to_model_server(url: str, *, api_key: str, timeout: float, what: str, **request: Any) -> httpx.Response:
    """POST `request` (httpx's keywords: json, data, files) to `url`. Raises MODEL_UNAVAILABLE when the
    server cannot be reached or does not answer in `timeout` seconds, MODEL_ERROR on an error status."""
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS))
    try:
        response = httpx.post(url, headers=headers, timeout=limits, **request)
    except httpx.HTTPError as error:
        raise AssistantError(
            ErrorCode.MODEL_UNAVAILABLE, f"The {what} server cannot be reached right now; please try again."
        ) from error
    if response.status_code != 200:
        raise AssistantError(ErrorCode.MODEL_ERROR, f"The {what} server refused the request ({response.status_code}).")
    return response
