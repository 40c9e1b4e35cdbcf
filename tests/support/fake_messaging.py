"""A contract fake of the messaging apps' send APIs (JSON over HTTP/1.1), on one loopback HTTP server.

It speaks two wire formats, told apart by path, as the real services serve them:

- Meta's Graph API, `POST /{version}/{id}/messages` with `Authorization: Bearer <token>`:
  the WhatsApp Cloud API (bodies with `"messaging_product": "whatsapp"`: messages answer
  `{"messaging_product", "contacts": [{"input", "wa_id"|"user_id"}], "messages": [{"id": "wamid…"}]}`,
  read receipts `{"success": true}`) and the Messenger/Instagram Send API (`recipient.id` with a
  `message` → `{"recipient_id", "message_id"}`, or a `sender_action` → `{"recipient_id"}`).
  Errors are `{"error": {"message", "type", "code", "fbtrace_id"}}`.
- The Telegram Bot API, `POST /bot<token>/<method>`: `{"ok": true, "result": …}`, errors
  `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`.

It is a real HTTP/1.1 server (uvicorn, through tests/support/loopback.py), so clients' connections,
headers and JSON bodies go over a socket for real. Every request is recorded; scripted
`Failure`s answer the next requests (or the next content deliveries only: texts and images, not
read receipts or typing) with an error in the app's own shape, to test retries.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from tests.support.loopback import Exchange, LoopbackServer


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: Any  # parsed JSON, or the raw text when it was not JSON

    @property
    def is_telegram(self) -> bool:
        return self.path.startswith("/bot")

    @property
    def telegram_method(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Failure:
    """An error answer: HTTP `status`, the app's `code` (default: the status), an optional wait."""

    status: int
    code: int | None = None
    retry_after: int | None = None  # Graph: a Retry-After header; Telegram: parameters.retry_after
    message: str = "Fake failure"


class FakeMessaging(LoopbackServer):
    """`with FakeMessaging() as fake:` serves on `fake.base_url` until the block ends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ReceivedRequest] = []
        self.failures: deque[Failure] = deque()
        self.content_plan: deque[Failure | None] = deque()
        self._lock = threading.Lock()  # the server's thread answers while the test scripts and reads
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.origin

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def fail_content(self, *plan: Failure | None) -> None:
        """How the next content deliveries are answered, in order: a Failure, or None for success."""
        with self._lock:
            self.content_plan.extend(plan)

    def sent(self) -> list[ReceivedRequest]:
        """Requests that delivered content (texts and images), not read receipts or typing."""
        return [r for r in self.requests if _delivers_content(r)]

    # --- answering (in the server's thread) ------------------------------------------------------------

    async def fallback(self, exchange: Exchange) -> None:
        request = ReceivedRequest(
            method=exchange.method,
            path=exchange.path,
            query=exchange.query,
            headers=exchange.headers,
            body=exchange.json_or_text(),
        )
        status, headers, answer = self.answer(request)
        await exchange.respond_json(status, answer, headers)

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.requests.append(request)
            if _delivers_content(request) and self.content_plan:
                failure = self.content_plan.popleft()
            else:
                failure = self.failures.popleft() if self.failures else None
            number = next(self._ids)
        if failure is not None:
            return _telegram_error(failure) if request.is_telegram else _graph_error(failure)
        if request.is_telegram:
            return _telegram_answer(request, number)
        return _graph_answer(request, number)


def _delivers_content(request: ReceivedRequest) -> bool:
    if request.is_telegram:
        return request.telegram_method in {"sendMessage", "sendPhoto"}
    body = request.body if isinstance(request.body, dict) else {}
    return "message" in body or ("type" in body and "status" not in body)


def _graph_error(failure: Failure) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    error = {
        "message": failure.message,
        "type": "OAuthException",
        "code": failure.code if failure.code is not None else failure.status,
        "fbtrace_id": "AfakeTraceId",
    }
    return failure.status, headers, {"error": error}


def _telegram_error(failure: Failure) -> tuple[int, dict[str, str], dict[str, Any]]:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": failure.code if failure.code is not None else failure.status,
        "description": failure.message,
    }
    if failure.retry_after is not None:
        body["parameters"] = {"retry_after": failure.retry_after}
    return failure.status, {}, body


def _graph_answer(request: ReceivedRequest, number: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    parts = request.path.strip("/").split("/")
    if request.method != "POST" or len(parts) != 3 or parts[2] != "messages":
        return _graph_error(Failure(404, code=100, message=f"Unknown path {request.path}"))
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return _graph_error(Failure(400, code=2500, message="An active access token must be used."))
    body = request.body if isinstance(request.body, dict) else {}
    if body.get("messaging_product") == "whatsapp":
        return _whatsapp_answer(body, number)
    recipient = (body.get("recipient") or {}).get("id")
    if not recipient or not ("message" in body or "sender_action" in body):
        return _graph_error(Failure(400, code=100, message="(#100) The parameter recipient is required"))
    answer = {"recipient_id": recipient}
    if "message" in body:
        answer["message_id"] = f"m_fake{number}"
    return 200, {}, answer


def _whatsapp_answer(body: dict[str, Any], number: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    if body.get("status") == "read":
        return 200, {}, {"success": True}
    address = body.get("to") or body.get("recipient")
    if not address or body.get("type") not in body:
        return _graph_error(Failure(400, code=100, message="(#100) Invalid parameter"))
    contact = {"input": address, ("wa_id" if "to" in body else "user_id"): address}
    return (
        200,
        {},
        {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": f"wamid.fake{number}"}]},
    )


def _telegram_answer(request: ReceivedRequest, number: int) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = request.body if isinstance(request.body, dict) else {}
    method = request.telegram_method
    if method in {"sendChatAction", "answerCallbackQuery", "setWebhook"}:
        return 200, {}, {"ok": True, "result": True}
    if method in {"sendMessage", "sendPhoto"} and "chat_id" in body:
        message = {"message_id": number, "date": 1700000000, "chat": {"id": body["chat_id"], "type": "private"}}
        message.update({"text": body["text"]} if method == "sendMessage" else {"caption": body.get("caption", "")})
        return 200, {}, {"ok": True, "result": message}
    return _telegram_error(Failure(404 if method not in {"sendMessage", "sendPhoto"} else 400, message="Bad Request"))
