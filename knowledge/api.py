"""REST for the knowledge store: `/api/memory` (Settings → Memory) and `/api/documents`. Thin views:
parse, call one service, serialise through knowledge/schemas.py; refusals in core/http.py's shape."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.errors import AssistantError, ErrorCode
from core.http import json_api, method_not_allowed, parse_body, shape_response, validated
from core.limits import count_upload
from knowledge import linking, memory, schemas, services, tasks
from knowledge.conf import knowledge_settings
from knowledge.models import Document, MemoryItem

logger = logging.getLogger(__name__)
# Multipart framing around the file: a body larger than the file cap by more than this is refused unread.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


# --- memory ------------------------------------------------------------------------------------


def memory_shape(item: MemoryItem) -> schemas.MemoryOut:
    return schemas.MemoryOut(
        id=item.pk,
        text=item.text,
        subject=item.subject,
        sensitive_category=item.sensitive_category or None,
        source=schemas.MemorySource(
            channel=item.source_channel,
            message_id=item.source_message_id,
            conversation_id=item.source_conversation_id,
            at=item.source_time.isoformat(),
        ),
        created_at=item.created.isoformat(),
        updated_at=item.updated.isoformat(),
    )


@json_api
def memory_items(request: HttpRequest) -> HttpResponse:
    """GET: every item with where it came from; POST: keep a fact the chat asked about (`memory_consent`);
    DELETE: forget everything."""
    owner_id = request.user.pk
    if request.method == "GET":
        items = [memory_shape(item) for item in memory.memory_list(owner_id=owner_id)]
        return shape_response(schemas.MemoryList(enabled=memory.is_enabled(owner_id=owner_id), items=items))
    if request.method == "POST":
        token = parse_body(request, schemas.MemoryConsent).token
        check = memory.configured_content_check()
        item = memory.remember_consented(owner_id=owner_id, token=token, content_check=check)
        return shape_response(memory_shape(item), status=201)
    if request.method == "DELETE":
        memory.clear_memory(owner_id=owner_id)
        return HttpResponse(status=204)
    return method_not_allowed("GET, POST, DELETE")


@json_api
def memory_link(request: HttpRequest) -> HttpResponse:
    """POST: a one-time code that links a messaging chat to this account's memory (`/link CODE` there)."""
    if request.method != "POST":
        return method_not_allowed("POST")
    if request.user.is_guest:
        raise AssistantError(ErrorCode.FORBIDDEN, "Sign up to use your memory in messaging apps.")
    code, expires = linking.issue_code(account_id=request.user.pk)
    return shape_response(schemas.LinkCodeOut(code=code, expires_at=expires.isoformat()), status=201)


@json_api
def memory_item(request: HttpRequest, item_id: int) -> HttpResponse:
    owner_id = request.user.pk
    if request.method == "PATCH":
        text = parse_body(request, schemas.MemoryEdit).text
        item = memory.edit_memory(
            owner_id=owner_id, item_id=item_id, text=text, content_check=memory.configured_content_check()
        )
        return shape_response(memory_shape(item))
    if request.method == "DELETE":
        memory.delete_memory(owner_id=owner_id, item_id=item_id)
        return HttpResponse(status=204)
    return method_not_allowed("PATCH, DELETE")


@json_api
def memory_settings(request: HttpRequest) -> HttpResponse:
    """Memory on or off: off, nothing new is kept and nothing kept is used (items stay until cleared)."""
    if request.method == "PATCH":
        memory.set_enabled(owner_id=request.user.pk, enabled=parse_body(request, schemas.MemorySwitch).enabled)
    elif request.method != "GET":
        return method_not_allowed("GET, PATCH")
    return shape_response(schemas.MemorySettingsOut(enabled=memory.is_enabled(owner_id=request.user.pk)))


# --- documents ---------------------------------------------------------------------------------


def document_shape(document: Document) -> schemas.DocumentOut:
    return schemas.DocumentOut(
        id=document.pk,
        name=document.name,
        media_type=document.media_type,
        size=document.size,
        pages=document.pages,
        conversation_id=document.conversation_id,
        status=document.status,
        progress=document.progress,
        error=document.error_code or None,
        error_detail=document.error_detail or None,
        created_at=document.created.isoformat(),
    )


@json_api
def document_collection(request: HttpRequest) -> HttpResponse:
    """GET: the person's documents with status and progress; POST (multipart, field `file`): upload one."""
    if request.method == "GET":
        where = validated(schemas.DocumentFilter, request.GET.dict())
        found = services.document_list(owner_id=request.user.pk, conversation_id=where.conversation_id)
        return shape_response(schemas.DocumentList(documents=[document_shape(d) for d in found]))
    if request.method == "POST":
        return shape_response(document_shape(_upload(request)), status=202)
    return method_not_allowed("GET, POST")


def _upload(request: HttpRequest) -> Document:
    count_upload(request)
    cap = knowledge_settings().max_file_bytes
    if int(request.META.get("CONTENT_LENGTH") or 0) > cap + MULTIPART_OVERHEAD_BYTES:  # refused before reading
        raise AssistantError(ErrorCode.FILE_TOO_LARGE, f"The file is larger than {cap // 2**20} MB.")
    if not request.content_type.startswith("multipart/form-data") or "file" not in request.FILES:
        raise AssistantError(
            ErrorCode.INVALID_FRAME, "Send the document as multipart/form-data in a field named `file`."
        )
    fields = validated(schemas.UploadFields, {k: v for k, v in request.POST.dict().items() if v != ""})
    if fields.conversation_id is not None:
        _check_conversation(request, fields.conversation_id)
    upload = request.FILES["file"]
    if upload.size > cap:
        raise AssistantError(ErrorCode.FILE_TOO_LARGE, f"The file is larger than {cap // 2**20} MB.")
    document = services.create_document(
        owner_id=request.user.pk, name=upload.name or "", data=upload.read(), conversation_id=fields.conversation_id
    )
    try:
        tasks.extract_document.delay(document.pk)
    except BrokerUnavailable as exc:
        logger.error("document %s: the task queue is unreachable: %s", document.pk, exc)
        unavailable = AssistantError(
            ErrorCode.WORKER_UNAVAILABLE, "Documents can't be read right now; try again later."
        )
        services.fail_document(document.pk, unavailable)
        raise unavailable from None
    return document


@json_api
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    owner_id = request.user.pk
    if request.method == "GET":
        return shape_response(document_shape(services.document_for(owner_id=owner_id, document_id=document_id)))
    if request.method == "DELETE":
        services.delete_document(owner_id=owner_id, document_id=document_id)
        return HttpResponse(status=204)
    return method_not_allowed("GET, DELETE")


@json_api
def document_attach(request: HttpRequest, document_id: int) -> HttpResponse:
    """POST `{"conversation_id"}`: one of the person's ready files, used in that chat of theirs
    without uploading or reading it again; the conversation's copy of it (the same one each time)."""
    if request.method != "POST":
        return method_not_allowed("POST")
    conversation_id = parse_body(request, schemas.DocumentAttach).conversation_id
    _check_conversation(request, conversation_id)
    document = services.attach_document(
        owner_id=request.user.pk, document_id=document_id, conversation_id=conversation_id
    )
    return shape_response(document_shape(document))


def _check_conversation(request: HttpRequest, conversation_id: int) -> None:
    """`not_found` unless the conversation is the caller's (the chat's own lookup, by its dotted path)."""
    import_string(knowledge_settings().conversation_lookup)(user=request.user, conversation_id=conversation_id)
