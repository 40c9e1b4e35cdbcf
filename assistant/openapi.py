"""The published OpenAPI 3.1 document of the REST API (`/api`) and the OpenAI-compatible API (`/v1`),
served at `GET /api/openapi.json`.

Built, never hand-written, from the pydantic models of each API's protocol module
(assistant/web/schemas.py, assistant/openai_compat/protocol.py, imagine/schemas.py, knowledge/schemas.py): the views
validate their bodies with them and serialise their answers through them, so the schema cannot
promise a field a view refuses or omits. tests/assistant/test_openapi.py checks the views' answers
against them and the schemathesis run (tests/live/test_schemathesis.py) the live server. `ROUTES`
says, per path and method, which body, answer, errors and credentials apply; the same test checks
it against the URL resolver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from assistant.conf import model_settings
from assistant.openai_compat.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ModelList,
    ModelObject,
    OpenAIError,
    SpeechRequest,
    Transcription,
    TranscriptionForm,
)
from assistant.web.schemas import (
    AccountDeletion,
    ApiKeyList,
    AttachmentOut,
    Conversation,
    ConversationList,
    Feedback,
    FeedbackBody,
    KeyBody,
    MessageList,
    NewApiKey,
    Report,
    ReportBody,
    SettingsBody,
    TitleBody,
    UserSettings,
)
from assistant.web.uploads import UploadBody, UploadOut
from core.http import Error
from core.ids import MAX_ROW_ID
from imagine.schemas import ImagineBody, ImagineEditBody, ImagineGallery, ImagineRendered
from knowledge.schemas import (
    DocumentAttach,
    DocumentList,
    DocumentOut,
    LinkCodeOut,
    MemoryConsent,
    MemoryEdit,
    MemoryList,
    MemoryOut,
    MemorySettingsOut,
    MemorySwitch,
)

# --- the route table ---------------------------------------------------------------------------


class Auth(Enum):
    NONE = "none"
    SESSION = "session"  # the session cookie; unsafe methods also need the CSRF header
    API_KEY = "api_key"  # Authorization: Bearer sk-asst-…
    SESSION_OR_API_KEY = "either"


class Family(Enum):
    """Which error shape and common refusals an operation has."""

    REST = "rest"
    OPENAI = "openai"
    FILE = "file"  # a stored file: everything that is not the file is Django's 404 page


@dataclass(frozen=True)
class Answer:
    status: int
    description: str
    shape: type[BaseModel] | None = None  # None: no body (204) or not JSON (see media)
    media: tuple[str, ...] = ("application/json",)
    events: type[BaseModel] | None = None  # text/event-stream: the JSON of each `data:` line


@dataclass(frozen=True)
class Operation:
    summary: str
    answer: Answer
    family: Family = Family.REST
    auth: Auth = Auth.SESSION
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides the family's common ones
    body_media: str = "application/json"  # or multipart/form-data: the body's fields as form fields


NO_CONTENT = Answer(204, "Done; no body.")
SPEECH_MEDIA_TYPES = ("audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav")
IMAGE_FILE = Answer(200, "The file.", media=("image/png", "video/mp4", "image/gif"))

ROUTES: dict[str, dict[str, Operation]] = {
    "/api/openapi.json": {
        "get": Operation("This document.", Answer(200, "The OpenAPI 3.1 document."), auth=Auth.NONE),
    },
    "/api/conversations": {
        "get": Operation("Your conversations, most recently active first.", Answer(200, "", ConversationList)),
        "post": Operation("Start a conversation.", Answer(201, "Created.", Conversation), body=TitleBody),
    },
    "/api/conversations/{conversation_id}": {
        "get": Operation("One conversation.", Answer(200, "", Conversation), errors=(404,)),
        "patch": Operation("Rename it.", Answer(200, "", Conversation), body=TitleBody, errors=(404,)),
        "delete": Operation("Delete it.", NO_CONTENT, errors=(404, 409)),
    },
    "/api/conversations/{conversation_id}/messages": {
        "get": Operation("Its messages, oldest first.", Answer(200, "", MessageList), errors=(404,)),
    },
    "/api/conversations/{conversation_id}/share": {
        "post": Operation("Share it as a read-only link.", Answer(200, "", Conversation), errors=(400, 404)),
        "delete": Operation("Turn the link off.", NO_CONTENT, errors=(404,)),
    },
    "/api/messages/{message_id}/report": {
        "post": Operation("Report one of your answers.", Answer(201, "", Report), body=ReportBody, errors=(404,)),
    },
    "/api/messages/{message_id}/feedback": {
        "put": Operation(
            "Rate one of your finished answers (again: replaces the rating).",
            Answer(200, "", Feedback),
            body=FeedbackBody,
            errors=(404,),
        ),
        "delete": Operation("Take your rating back (again: 204).", NO_CONTENT, errors=(404,)),
    },
    "/api/messages/{message_id}/speech": {
        "get": Operation(
            "One of your finished answers read aloud (made once on the `media` queue, then kept).",
            Answer(200, "The audio.", media=("audio/mpeg",)),
            errors=(400, 404, 409, 503),
        ),
    },
    "/api/attachments": {
        "post": Operation(
            "Upload a photo or a voice message (multipart/form-data: `file`; the kind is read from its bytes), "
            "read on the `media` queue; a chat `message` frame then sends it once, by `attachment_id`.",
            Answer(201, "Read and kept.", AttachmentOut),
            errors=(400, 413, 415, 422, 429, 503),
        ),
    },
    "/api/attachments/{attachment_id}/file": {
        "get": Operation(
            "The photo (cleaned: no EXIF) or the recording itself, to its owner only.",
            Answer(200, "The file.", media=("image/jpeg", "image/png", "audio/webm", "audio/ogg", "audio/mp4")),
            errors=(404,),
        ),
    },
    "/api/uploads": {
        "post": Operation(
            "Start a resumable upload of a photo or voice message: its declared size, type and name are checked "
            "against the media caps at once; send its bytes with PATCH, then finish it.",
            Answer(201, "Created; `Location` and `Upload-Offset: 0`.", UploadOut),
            body=UploadBody,
            errors=(413, 415, 429),
        ),
    },
    "/api/uploads/{upload_id}": {
        "get": Operation("How many bytes the server has (also in `Upload-Offset`).", Answer(200, "", UploadOut)),
        "patch": Operation(
            "The next bytes (raw body, at most 1 MiB) at the offset in the `Upload-Offset` header; another offset "
            "than the server's is a 409 with the server's in `Upload-Offset`. The first 64 bytes are sniffed.",
            Answer(200, "Received; the new offset, also in `Upload-Offset`.", UploadOut),
            errors=(400, 409, 413, 415),
        ),
        "delete": Operation("Give the upload up: its bytes are removed.", NO_CONTENT),
    },
    "/api/uploads/{upload_id}/finish": {
        "post": Operation(
            "Every byte is here: read it as `POST /api/attachments` does (201); finishing again answers the same "
            "attachment (200).",
            Answer(201, "Read and kept.", AttachmentOut),
            errors=(400, 413, 415, 422, 429, 503),
        ),
    },
    "/api/settings": {
        "get": Operation("Your preferences and today's quota.", Answer(200, "", UserSettings)),
        "patch": Operation("Change your search mode.", Answer(200, "", UserSettings), body=SettingsBody),
    },
    "/api/account": {
        "delete": Operation(
            "Delete your account and everything in it (conversations, memory, files, pictures); the session ends.",
            NO_CONTENT,
            body=AccountDeletion,
            errors=(400, 403),
        ),
    },
    "/api/account/export": {
        "get": Operation(
            "Everything kept about you as one ZIP: account, conversations, memory, documents, pictures.",
            Answer(200, "The archive.", media=("application/zip",)),
        ),
    },
    "/api/keys": {
        "get": Operation("Your active API keys (never their secrets).", Answer(200, "", ApiKeyList)),
        "post": Operation(
            "Create an API key; its secret is shown this once.",
            Answer(201, "", NewApiKey),
            body=KeyBody,
            errors=(409,),
        ),
    },
    "/api/keys/{key_id}": {
        "delete": Operation("Revoke a key (again: 204).", NO_CONTENT, errors=(404,)),
    },
    "/api/memory": {
        "get": Operation(
            "What the assistant remembers about you, and whether memory is on.", Answer(200, "", MemoryList)
        ),
        "post": Operation(
            "Keep a sensitive fact the chat asked about (the token of a `memory_consent` frame).",
            Answer(201, "", MemoryOut),
            body=MemoryConsent,
            errors=(403, 404, 422),
        ),
        "delete": Operation("Forget everything.", NO_CONTENT),
    },
    "/api/memory/settings": {
        "get": Operation("Whether memory is on.", Answer(200, "", MemorySettingsOut)),
        "patch": Operation("Switch memory on or off.", Answer(200, "", MemorySettingsOut), body=MemorySwitch),
    },
    "/api/memory/link": {
        "post": Operation(
            "A one-time code that links a messaging chat to your memory: send `/link CODE` there within ten minutes.",
            Answer(201, "", LinkCodeOut),
            errors=(403,),
        ),
    },
    "/api/memory/{item_id}": {
        "patch": Operation("Correct one remembered fact.", Answer(200, "", MemoryOut), body=MemoryEdit, errors=(404,)),
        "delete": Operation("Forget one fact.", NO_CONTENT, errors=(404,)),
    },
    "/api/documents": {
        "get": Operation("Your documents (`?conversation_id=` for one conversation's).", Answer(200, "", DocumentList)),
        "post": Operation(
            "Upload a document (multipart/form-data: `file`, optional `conversation_id`); its text is read on "
            "the `documents` queue, and the answer's `status` and `progress` say how far it got.",
            Answer(202, "Accepted; being read.", DocumentOut),
            errors=(400, 413, 415, 422, 429, 503),
        ),
    },
    "/api/documents/{document_id}": {
        "get": Operation("One document and how far its reading got.", Answer(200, "", DocumentOut), errors=(404,)),
        "delete": Operation("Delete it and its passages.", NO_CONTENT, errors=(404,)),
    },
    "/api/documents/{document_id}/attach": {
        "post": Operation(
            "Use one of your ready files in one of your conversations without uploading it again: the "
            "conversation's copy of it (the same copy when it already has one).",
            Answer(200, "", DocumentOut),
            body=DocumentAttach,
            errors=(400, 404, 409),
        ),
    },
    "/api/imagine": {
        "get": Operation(
            "Your Imagine gallery, newest first.", Answer(200, "", ImagineGallery), auth=Auth.SESSION_OR_API_KEY
        ),
        "post": Operation(
            "Render a prompt in full quality and keep it.",
            Answer(201, "Rendered.", ImagineRendered),
            auth=Auth.SESSION_OR_API_KEY,
            body=ImagineBody,
            errors=(404, 422, 429, 502),
        ),
    },
    "/api/imagine/edit": {
        "post": Operation(
            'Restyle one of your images by an instruction ("make it watercolour") and keep the edit.',
            Answer(201, "Edited.", ImagineRendered),
            auth=Auth.SESSION_OR_API_KEY,
            body=ImagineEditBody,
            errors=(404, 422, 429, 502),
        ),
    },
    "/api/imagine/{image_id}/{name}": {
        "get": Operation("A gallery file, to its owner only.", IMAGE_FILE, Family.FILE, Auth.SESSION_OR_API_KEY),
    },
    "/api/imagine/shared/{token}/{image_id}/{name}": {
        "get": Operation("A picture of a shared conversation.", IMAGE_FILE, Family.FILE, Auth.NONE),
    },
    "/api/imagine/public/{token}": {
        "get": Operation("A file named by a signed link.", IMAGE_FILE, Family.FILE, Auth.NONE),
    },
    "/v1/models": {
        "get": Operation("The served model.", Answer(200, "", ModelList), Family.OPENAI, Auth.API_KEY),
    },
    "/v1/models/{model_id}": {
        "get": Operation("The served model, by its id.", Answer(200, "", ModelObject), Family.OPENAI, Auth.API_KEY),
    },
    "/v1/chat/completions": {
        "post": Operation(
            "One turn through the assistant's pipeline.",
            Answer(
                200,
                "A `chat.completion` object; with `stream: true`, a text/event-stream of `chat.completion.chunk` "
                'events ending with `data: [DONE]`, or with `data: {"error": …}` when the answer fails after its '
                "first token.",
                ChatCompletion,
                media=("application/json", "text/event-stream"),
                events=ChatCompletionChunk,
            ),
            Family.OPENAI,
            Auth.API_KEY,
            body=ChatCompletionRequest,
            errors=(400, 404, 413, 415, 422, 429, 502),
        ),
    },
    "/v1/audio/transcriptions": {
        "post": Operation(
            "The words of an audio file, heard on the `media` worker.",
            Answer(
                200,
                "`json`: `{text}`; `verbose_json`: with `language` and `duration`; `text`: the text alone.",
                Transcription,
                media=("application/json", "text/plain"),
            ),
            Family.OPENAI,
            Auth.API_KEY,
            body=TranscriptionForm,
            errors=(400, 413, 415, 422, 429, 502),
            body_media="multipart/form-data",
        ),
    },
    "/v1/audio/speech": {
        "post": Operation(
            "The input read aloud, in the key owner's language.",
            Answer(200, "The audio, in `response_format`.", media=SPEECH_MEDIA_TYPES),
            Family.OPENAI,
            Auth.API_KEY,
            body=SpeechRequest,
            errors=(400, 422, 429, 502),
        ),
    },
}

# `<id:...>` (core/ids.py): digits that fit a database row id; any other number is a 404.
ROW_ID = {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID}
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "conversation_id": ROW_ID,
    "message_id": ROW_ID,
    "key_id": ROW_ID,
    "image_id": ROW_ID,
    "item_id": ROW_ID,
    "document_id": ROW_ID,
    "attachment_id": ROW_ID,
    "upload_id": {"type": "string", "format": "uuid"},
    "name": {"type": "string", "enum": ["image.png", "clip.mp4", "clip.gif"]},
    "token": {"type": "string"},
    "model_id": {"type": "string"},  # `<path:…>`: a served model's id may hold slashes (`meta-llama/…`)
}

_ERROR_REASONS = {
    400: "Not answerable as sent: a body that is not JSON or not the shape above (or, for an upload, no `file`"
    " field), or nothing to share yet.",
    401: "No session or API key, or a revoked one.",
    403: "A missing or wrong CSRF token (Django's page), or something guests cannot do (`forbidden`).",
    404: "Not found, or not yours.",
    405: "Another method is needed.",
    409: "A conflict (`turn_in_progress`, `limit_reached`, `attachment_used`, `upload_offset_mismatch`: the"
    " server's offset is in `Upload-Offset`).",
    413: "The body or the file is larger than its cap (`body_too_large`, `file_too_large`, `document_too_long`,"
    " `image_too_many_pixels`, `audio_too_long`).",
    415: "A file of a kind that cannot be read (`unsupported_file_type`, `file_type_mismatch`).",
    422: "The prompt or text failed the safety check (`blocked`), or the file is encrypted, broken or has no text.",
    429: "Too many requests, or today's tokens are used up.",
    502: "The model or the renderer failed the request.",
    503: "A dependency (database, Redis, model, worker, safety check) is unreachable; retry later.",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds until the request will be accepted.", "schema": {"type": "integer"}}
}
_UNSAFE = {"post", "patch", "put", "delete"}


# --- building the document ---------------------------------------------------------------------


def _operations() -> list[Operation]:
    return [op for methods in ROUTES.values() for op in methods.values()]


def _components() -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]], dict[str, Any]]:
    """Each model's reference, and the definitions they point to: bodies as the views validate them,
    everything else as it is serialised."""
    bodies = [op.body for op in _operations() if op.body]
    answers = [shape for op in _operations() for shape in (op.answer.shape, op.answer.events) if shape]
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((body, "validation") for body in dict.fromkeys(bodies)),
        *((shape, "serialization") for shape in dict.fromkeys([*answers, Error, OpenAIError])),
    ]
    refs, definitions = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    return refs, definitions.get("$defs", {})


def _security(auth: Auth, method: str) -> list[dict[str, list[str]]]:
    session = {"session": [], "csrf": []} if method in _UNSAFE else {"session": []}
    return {
        Auth.NONE: [],
        Auth.SESSION: [session],
        Auth.API_KEY: [{"apiKey": []}],
        Auth.SESSION_OR_API_KEY: [session, {"apiKey": []}],
    }[auth]


def _statuses(op: Operation, method: str, has_path_parameters: bool) -> set[int]:
    if op.family is Family.FILE:
        return {404}
    common = {405, 503} | ({401} if op.auth is not Auth.NONE else set())
    if op.body:
        common.add(400)
    if op.family is Family.REST and method in _UNSAFE:
        common.add(403)
    if has_path_parameters:
        common.add(404)
    return common | set(op.errors)


def _error_response(status: int, op: Operation, error_ref: dict[str, Any]) -> dict[str, Any]:
    # JSON on every route, Django's own refusals included (no such path, CSRF: config/error_pages.py).
    content = {"application/json": {"schema": error_ref}}
    response: dict[str, Any] = {"description": _ERROR_REASONS[status], "content": content}
    if status == 429 and op.family is Family.OPENAI:
        response["headers"] = _RETRY_AFTER
    return response


def _success(answer: Answer, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if answer.status == 204:
        return {"description": answer.description}
    content = {media: {"schema": _answer_schema(answer, media, refs)} for media in answer.media}
    return {"description": answer.description or "OK.", "content": content}


def _answer_schema(answer: Answer, media: str, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if media == "application/json":
        return refs[(answer.shape, "serialization")] if answer.shape else {"type": "object"}
    if media == "text/event-stream" and answer.events:
        return _event(refs[(answer.events, "serialization")], refs[(OpenAIError, "serialization")])
    return {"type": "string", "contentMediaType": media}


def _event(data_ref: dict[str, Any], error_ref: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event: `data` is `[DONE]`, or JSON that is a chunk or the error that ends the stream."""
    json_data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"anyOf": [data_ref, error_ref]},
    }
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"anyOf": [{"const": "[DONE]"}, json_data]}},
    }


def _operation(path: str, method: str, op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    error_ref = refs[(OpenAIError if op.family is Family.OPENAI else Error, "serialization")]
    responses = {
        str(op.answer.status): _success(op.answer, refs),
        **{
            str(status): _error_response(status, op, error_ref) for status in sorted(_statuses(op, method, bool(names)))
        },
    }
    document: dict[str, Any] = {
        "operationId": re.sub(r"\W+", "_", f"{method} {path}").strip("_"),
        "summary": op.summary,
        "security": _security(op.auth, method),
        "responses": responses,
    }
    if names:
        document["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]} for name in names
        ]
    if op.body:
        body_schema = refs[(op.body, "validation")]
        document["requestBody"] = {"required": True, "content": {op.body_media: {"schema": body_schema}}}
    return document


def build_document() -> dict[str, Any]:
    refs, schemas = _components()
    paths = {
        path: {method: _operation(path, method, op, refs) for method, op in methods.items()}
        for path, methods in ROUTES.items()
    }
    paths["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["example"] = _chat_example()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Llama Assistant API",
            "version": "1",
            "description": "REST (`/api`) and OpenAI-compatible (`/v1`) APIs; see docs/protocol.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRFToken",
                    "description": "The value of the csrftoken cookie; needed by unsafe methods with a session.",
                },
                "apiKey": {"type": "http", "scheme": "bearer", "description": "sk-asst-… from POST /api/keys."},
            },
        },
    }


def _chat_example() -> dict[str, Any]:
    """A request that is answered, not refused: clients (and fuzzers) learn the served model's name."""
    return {"model": model_settings().name, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


@require_GET
def openapi_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(build_document())
