"""REST API (JSON): conversations and messages. Thin views: parse, call one service or
selector, serialise through the shapes of `assistant.web.schemas`; docs/protocol.md documents them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from assistant.chat import account, api_keys, moderation, selectors, services
from assistant.engine.frames import MemoryItemRef
from assistant.engine.outcome import rest_fields, stored_outcome
from assistant.engine.renders import answer_image
from assistant.models import ApiKey, Conversation, Message, MessageFeedback
from assistant.web import schemas
from assistant.web.attachments import attachments_of
from assistant.web.schemas import AccountDeletion, FeedbackBody, KeyBody, ReportBody, SettingsBody, TitleBody
from core import limits
from core.errors import AssistantError, ErrorCode
from core.http import json_api, method_not_allowed, parse_body, shape_response
from knowledge import memory
from knowledge.models import MemoryItem

logger = logging.getLogger(__name__)


def conversation_shape(conversation: Conversation) -> schemas.Conversation:
    return schemas.Conversation(
        id=conversation.pk,
        title=conversation.title,
        share_url=f"/share/{conversation.share_token}" if conversation.share_token else None,
        created_at=conversation.created_at.isoformat(),
        updated_at=conversation.updated_at.isoformat(),
    )


def feedback_shape(feedback: MessageFeedback) -> schemas.Feedback:
    return schemas.Feedback(
        rating=feedback.rating,
        reason=feedback.reason or None,
        comment=feedback.comment,
        updated_at=feedback.updated_at.isoformat(),
    )


def message_shape(
    message: Message, memory_updated: Sequence[MemoryItem] = (), feedback: MessageFeedback | None = None
) -> schemas.MessageOut:
    return schemas.MessageOut(
        id=message.pk,
        role=message.role,
        content=message.content,
        status=message.status,
        seq=message.seq,
        finish_reason=message.finish_reason or None,
        error=message.error or None,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        model=message.model_name or None,
        created_at=message.created_at.isoformat(),
        first_token_ms=message.first_token_ms,
        duration_ms=message.duration_ms,
        **rest_fields(stored_outcome(message, answer_image(message))),
        memory_updated=[MemoryItemRef(id=item.pk, text=item.text) for item in memory_updated],
        feedback=feedback_shape(feedback) if feedback else None,
        edits_picture_of=message.edits_picture_of_id,
    )


@json_api
def conversations(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        items = selectors.conversation_list(user=request.user)
        return shape_response(schemas.ConversationList(conversations=[conversation_shape(c) for c in items]))
    if request.method == "POST":
        body = parse_body(request, TitleBody)
        conversation = services.create_conversation(user=request.user, title=body.title)
        return shape_response(conversation_shape(conversation), status=201)
    return method_not_allowed("GET, POST")


@json_api
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    if request.method == "GET":
        conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
        return shape_response(conversation_shape(conversation))
    if request.method == "PATCH":
        body = parse_body(request, TitleBody)
        conversation = services.rename_conversation(
            user=request.user, conversation_id=conversation_id, title=body.title
        )
        return shape_response(conversation_shape(conversation))
    if request.method == "DELETE":
        services.delete_conversation(user=request.user, conversation_id=conversation_id)
        return HttpResponse(status=204)
    return method_not_allowed("GET, PATCH, DELETE")


@json_api
def conversation_messages(request: HttpRequest, conversation_id: int) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed("GET")
    conversation = selectors.conversation_for(user=request.user, conversation_id=conversation_id)
    visible = list(selectors.visible_messages(conversation=conversation))
    questions = [m.pk for m in visible if m.role == Message.Role.USER]
    kept = memory.kept_from(owner_id=request.user.pk, message_ids=questions)
    answers = [m.pk for m in visible if m.role == Message.Role.ASSISTANT]
    rated = selectors.feedback_by_answer(user=request.user, answer_ids=answers)
    messages = [message_shape(m, kept.get(m.reply_to_id, []), rated.get(m.pk)) for m in visible]
    sent_with = attachments_of(questions)  # the photo or voice message of each user message that had one
    messages = [message.model_copy(update={"attachment": sent_with.get(message.id)}) for message in messages]
    versions = selectors.versions_by_message(messages=conversation.messages.only("id", "role", "reply_to", "parent"))
    messages = [message.model_copy(update={"versions": versions[message.id]}) for message in messages]
    return shape_response(schemas.MessageList(messages=messages))


def key_shape(key: ApiKey) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut(
        id=key.pk,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at.isoformat(),
        last_used_at=key.last_used_at.isoformat() if key.last_used_at else None,
    )


@json_api
def keys(request: HttpRequest) -> HttpResponse:
    """The signed-in user's active API keys; POST creates one and shows its secret this once."""
    if request.method == "GET":
        active = api_keys.active_keys(user=request.user)
        return shape_response(schemas.ApiKeyList(keys=[key_shape(k) for k in active]))
    if request.method == "POST":
        created = api_keys.create_key(user=request.user, name=parse_body(request, KeyBody).name)
        new_key = schemas.NewApiKey(**key_shape(created.key).model_dump(), key=created.secret)
        return shape_response(new_key, status=201)
    return method_not_allowed("GET, POST")


@json_api
def key_detail(request: HttpRequest, key_id: int) -> HttpResponse:
    if request.method != "DELETE":
        return method_not_allowed("DELETE")
    api_keys.revoke_key(user=request.user, key_id=key_id)
    return HttpResponse(status=204)


@json_api
def conversation_share(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """POST: share the conversation as it is now (a read-only link); DELETE: turn the link off."""
    if request.method == "POST":
        conversation = services.share_conversation(user=request.user, conversation_id=conversation_id)
        return shape_response(conversation_shape(conversation))
    if request.method == "DELETE":
        services.unshare_conversation(user=request.user, conversation_id=conversation_id)
        return HttpResponse(status=204)
    return method_not_allowed("POST, DELETE")


@json_api
def report_message(request: HttpRequest, message_id: int) -> HttpResponse:
    """Report one of your answers for review; reporting again returns the same report."""
    if request.method != "POST":
        return method_not_allowed("POST")
    body = parse_body(request, ReportBody)
    case = moderation.report_answer(user=request.user, message_id=message_id, reason=body.reason)
    return shape_response(schemas.Report(report_id=case.pk, state=case.state), status=201)


@json_api
def message_feedback(request: HttpRequest, message_id: int) -> HttpResponse:
    """PUT: rate one of your answers (again: replaces the rating); DELETE: take the rating back."""
    if request.method == "PUT":
        body = parse_body(request, FeedbackBody)
        change = services.give_feedback(
            user=request.user,
            message_id=message_id,
            rating=body.rating,
            reason=body.reason or "",
            comment=body.comment,
        )
        return shape_response(feedback_shape(change.feedback))
    if request.method == "DELETE":
        services.clear_feedback(user=request.user, message_id=message_id)
        return HttpResponse(status=204)
    return method_not_allowed("PUT, DELETE")


def settings_shape(user: Any) -> schemas.UserSettings:
    return schemas.UserSettings(
        search_mode=user.search_mode,
        language=user.language,
        theme=user.theme,
        voice_replies=user.voice_replies,
        daily_token_quota=limits.daily_quota(user),
        tokens_used_today=limits.tokens_used_today(user.pk),
    )


@json_api
def user_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in user's preferences, and their quota with today's use."""
    if request.method == "PATCH":
        changes = parse_body(request, SettingsBody).model_dump(mode="json", exclude_unset=True)
        for field, value in changes.items():
            setattr(request.user, field, value)
        request.user.save(update_fields=list(changes))
    elif request.method != "GET":
        return method_not_allowed("GET, PATCH")
    return shape_response(settings_shape(request.user))


@json_api
def account_export(request: HttpRequest) -> HttpResponse:
    """Everything kept about the signed-in person, as one ZIP download."""
    if request.method != "GET":
        return method_not_allowed("GET")
    response = HttpResponse(account.export_archive(request.user), content_type="application/zip")
    day = timezone.now().date().isoformat()
    response["Content-Disposition"] = f'attachment; filename="assistant-data-{day}.zip"'
    response["Cache-Control"] = "no-store"
    return response


@json_api
def account_detail(request: HttpRequest) -> HttpResponse:
    """DELETE: the account and everything in it, then the session ends. The body must name the
    account (`{"confirm": "<username>"}`), so no stray request deletes one."""
    if request.method != "DELETE":
        return method_not_allowed("DELETE")
    body = parse_body(request, AccountDeletion)
    if body.confirm != request.user.get_username():
        raise AssistantError(ErrorCode.INVALID_FRAME, "confirm: name the account to delete.")
    account.delete_account(request.user)
    logout(request)
    return HttpResponse(status=204)
