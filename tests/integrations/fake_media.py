"""The messaging apps' contract fake (tests/support/fake_messaging.py) with their media downloads, in
the apps' own wire formats, on the same loopback HTTP server:

- WhatsApp Cloud API: `GET /{version}/{media-id}` with the access token answers
  `{"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}`; the `url` is then fetched
  with the same `Authorization: Bearer` header (401 without it), as Meta's `lookaside` URLs are.
- Telegram Bot API: `getFile` answers `{"ok": true, "result": {"file_id", "file_unique_id", "file_size",
  "file_path"}}` (400 "Bad Request: invalid file_id" for an unknown one); the file is at
  `/file/bot<token>/<file_path>`.
- Messenger and Instagram: an attachment's `payload.url` is a signed CDN link, fetched as it is.

and the uploads of voice replies: WhatsApp `POST /{version}/{phone-number-id}/media` (multipart `file`,
`type`, `messaging_product`) answers `{"id"}`; Messenger and Instagram `POST /{version}/{page id or
me}/message_attachments` (multipart `message`, the JSON of an attachment with its `type` and
`payload.is_reusable`, and `filedata`, whose content type names the kind: `audio/…` for audio;
Instagram adds `platform=instagram` and takes only audio and video this way) answers
`{"attachment_id"}`; Telegram `sendVoice` (multipart `chat_id`, `voice`) answers the sent message.
Uploads are recorded in `uploads` with their multipart fields.

Scripted failures answer these requests too, in the app's own error shape: `fail_next` for downloads,
and for uploads, which deliver content, `fail_content` first. Files are served in 16 KiB chunks
without a content-length (chunked), so a reader's cap is what stops it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from typing import Any

from tests.support.fake_messaging import Failure, FakeMessaging, ReceivedRequest, _graph_error, _telegram_error
from tests.support.loopback import ClientGone, Exchange

CHUNK_BYTES = 16 * 1024
ATTACHMENT_TYPES = frozenset({"image", "audio", "video", "file"})
_WHATSAPP_DOWNLOADS = "/whatsapp_business/attachments/"
_CDN = "/cdn/"


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    mime_type: str
    path: str  # where it is downloaded from, on this server


@dataclass(frozen=True)
class Upload:
    path: str
    fields: dict[str, str]
    files: dict[str, tuple[str, str, bytes]]  # field → (file name, content type, bytes)


class FakeMediaMessaging(FakeMessaging):
    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, StoredFile] = {}  # WhatsApp media id / Telegram file_id / CDN name → file
        self.uploads: list[Upload] = []

    def add_whatsapp_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = StoredFile(data, mime_type, f"{_WHATSAPP_DOWNLOADS}?mid={media_id}&ext=1767000000")

    def add_telegram_file(self, file_id: str, data: bytes, file_path: str) -> None:
        self.media[file_id] = StoredFile(data, "", file_path)

    def add_cdn_file(self, name: str, data: bytes) -> str:
        """The attachment URL Messenger or Instagram would put in the webhook."""
        self.media[name] = StoredFile(data, "", f"{_CDN}{name}")
        return f"{self.origin}{_CDN}{name}"

    def downloads(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.method == "GET"]

    async def fallback(self, exchange: Exchange) -> None:
        if exchange.headers.get("content-type", "").startswith("multipart/form-data"):
            await self._upload(exchange)
            return
        if exchange.method == "GET" or exchange.path.endswith("/getFile"):
            request = ReceivedRequest(exchange.method, exchange.path, exchange.query, exchange.headers,
                                      exchange.json_or_text())  # fmt: skip
            with self._lock:
                self.requests.append(request)
                failure = self.failures.popleft() if self.failures else None  # `fail_next` applies here too
            if failure is not None:
                await _respond_failure(exchange, failure)
                return
            await self._serve_media(exchange, request)
            return
        await super().fallback(exchange)

    async def _serve_media(self, exchange: Exchange, request: ReceivedRequest) -> None:
        path = request.path.partition("?")[0]
        if path.endswith("/getFile"):
            status, body = self._get_file(request)
            await exchange.respond_json(status, body)
        elif path.startswith("/file/bot"):
            await self._send_file(exchange, self._by_path(path.split("/", 3)[3]))
        elif path == _WHATSAPP_DOWNLOADS:
            authorized = request.headers.get("authorization", "").startswith("Bearer ")
            found = self.media.get(request.query.get("mid", [""])[0])
            await self._send_file(exchange, found if authorized else None, status=401 if not authorized else 404)
        elif path.startswith(_CDN):
            await self._send_file(exchange, self.media.get(path.removeprefix(_CDN)))
        else:
            await exchange.respond_json(*self._media_info(path.rsplit("/", 1)[-1], request))

    async def _upload(self, exchange: Exchange) -> None:
        upload = _multipart(exchange)
        with self._lock:
            self.uploads.append(upload)
            number = len(self.uploads)
            plan = self.content_plan if self.content_plan else self.failures
            failure = plan.popleft() if plan else None
        if failure is not None:
            await _respond_failure(exchange, failure)
        else:
            await exchange.respond_json(*self._upload_answer(exchange, upload, number))

    def _upload_answer(self, exchange: Exchange, upload: Upload, number: int) -> tuple[int, dict[str, Any]]:
        if exchange.path.endswith("/sendVoice") and "voice" in upload.files and "chat_id" in upload.fields:
            chat = {"id": int(upload.fields["chat_id"]), "type": "private"}
            voice = {"file_id": f"AwACAgQ-sent{number}", "file_unique_id": f"sent{number}", "duration": 1}
            return 200, {"ok": True, "result": {"message_id": 5000 + number, "date": 1700000000, "chat": chat,
                                                 "voice": voice}}  # fmt: skip
        if not exchange.headers.get("authorization", "").startswith("Bearer "):
            return _graph_refusal(2500, "An active access token must be used.")
        if exchange.path.endswith("/message_attachments"):
            return _attachment_upload(upload, number)
        whatsapp = exchange.path.endswith("/media") and upload.fields.get("messaging_product") == "whatsapp"
        if whatsapp and "file" in upload.files:
            return 200, {"id": f"90000000000000{number}"}
        return _graph_refusal(100, "(#100) Invalid parameter")

    def _get_file(self, request: ReceivedRequest) -> tuple[int, dict[str, Any]]:
        body = request.body if isinstance(request.body, dict) else {}
        file_id = str(body.get("file_id", ""))
        found = self.media.get(file_id)
        if found is None:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
        result = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(found.data),
                  "file_path": found.path}  # fmt: skip
        return 200, {"ok": True, "result": result}

    def _media_info(self, media_id: str, request: ReceivedRequest) -> tuple[int, dict[str, Any]]:
        found = self.media.get(media_id)
        if found is None or not request.headers.get("authorization", "").startswith("Bearer "):
            message = f"Unsupported get request. Object with ID '{media_id}' does not exist"
            return 400, {"error": {"message": message, "type": "GraphMethodException", "code": 100}}
        return 200, {
            "messaging_product": "whatsapp",
            "url": f"{self.origin}{found.path}",
            "mime_type": found.mime_type,
            "sha256": hashlib.sha256(found.data).hexdigest(),
            "file_size": len(found.data),
            "id": media_id,
        }

    def _by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self.media.values() if f.path == file_path), None)

    @staticmethod
    async def _send_file(exchange: Exchange, found: StoredFile | None, *, status: int = 404) -> None:
        if found is None:
            await exchange.respond(status, b"Not Found", "text/plain")
            return
        await exchange.start(200, {"content-type": found.mime_type or "application/octet-stream"})
        try:
            for start in range(0, len(found.data), CHUNK_BYTES):
                await exchange.write(found.data[start : start + CHUNK_BYTES])
        except ClientGone:
            return  # the reader stopped at its cap
        await exchange.finish()


def _attachment_upload(upload: Upload, number: int) -> tuple[int, dict[str, Any]]:
    """The Attachment Upload API's answer to a file sent from a server (`filedata`)."""
    try:
        attachment = json.loads(upload.fields.get("message", "")).get("attachment") or {}
    except (ValueError, AttributeError):
        return _graph_refusal(100, "(#100) param message must be a JSON object")
    kind = attachment.get("type")
    _, content_type, data = upload.files.get("filedata", ("", "", b""))
    if kind not in ATTACHMENT_TYPES or not data or (kind != "file" and not content_type.startswith(f"{kind}/")):
        return _graph_refusal(100, "(#100) Upload attachment failure.")
    platform = upload.fields.get("platform", "messenger")
    if platform not in {"messenger", "instagram"} or (platform == "instagram" and kind not in {"audio", "video"}):
        return _graph_refusal(100, f"(#100) {kind} cannot be uploaded from a file for {platform}")
    return 200, {"attachment_id": f"18000000000000{number}"}


def _graph_refusal(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AfakeTraceId"}}


async def _respond_failure(exchange: Exchange, failure: Failure) -> None:
    status, headers, body = _telegram_error(failure) if "/bot" in exchange.path else _graph_error(failure)
    await exchange.respond_json(status, body, headers)


def _multipart(exchange: Exchange) -> Upload:
    """A multipart/form-data body, parsed with the standard library's MIME parser."""
    head = f"Content-Type: {exchange.headers['content-type']}\r\n\r\n".encode("latin-1")
    parsed = BytesParser().parsebytes(head + exchange.body)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in parsed.get_payload():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is not None:
            files[str(name)] = (part.get_filename() or "", part.get_content_type(), data)
        else:
            fields[str(name)] = data.decode()
    return Upload(exchange.path, fields, files)
