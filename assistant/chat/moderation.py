"""The moderation queue's writes: users report answers; staff dismiss, warn or suspend. Every
staff decision is recorded as a ModerationAction in the same transaction as its effect."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from assistant.chat.selectors import answer_for
from assistant.models import ModerationAction, ModerationCase, User
from core.errors import AssistantError, ErrorCode
from core.websocket import close_account_sockets

MAX_REASON_CHARS = 500


def report_answer(*, user: User, message_id: int, reason: str) -> ModerationCase:
    """Put one of the user's own answers in the queue; reporting it again finds the same case."""
    answer = answer_for(user=user, message_id=message_id)
    if not answer.is_final:
        raise AssistantError(ErrorCode.NOT_STREAMING, "Wait for the answer to finish before reporting it.")
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON_CHARS:
        raise AssistantError(ErrorCode.TEXT_TOO_LONG, f"A report's reason has at most {MAX_REASON_CHARS} characters.")
    fields = {"kind": ModerationCase.Kind.REPORT, "message": answer, "reporter": user}
    try:
        with transaction.atomic():
            case, _ = ModerationCase.objects.get_or_create(
                **fields,
                defaults={"author": answer.conversation.owner, "original_text": answer.content, "reason": reason},
            )
    except IntegrityError:  # a concurrent duplicate report won the race
        case = ModerationCase.objects.get(**fields)
    return case


def record_blocked_prompt(*, user_id: int, prompt: str, categories: list[str]) -> ModerationCase:
    """Queue an Imagine prompt the safety check refused (settings.IMAGINE_ON_BLOCKED_PROMPT names this)."""
    return ModerationCase.objects.create(
        kind=ModerationCase.Kind.BLOCKED_IMAGINE, author_id=user_id, categories=categories, original_text=prompt
    )


def _suspend(user_id: int) -> None:
    """Sessions and API keys stop working at once (inactive users are not authenticated), and the
    sockets already open are closed once this is committed."""
    User.objects.filter(pk=user_id).update(is_active=False)
    transaction.on_commit(lambda: close_account_sockets(user_id))


def _record(actor: User, action: str, target: User, case: ModerationCase | None, note: str) -> ModerationAction:
    return ModerationAction.objects.create(actor=actor, action=action, target=target, case=case, note=note[:500])


@transaction.atomic
def decide(*, actor: User, case: ModerationCase, action: str, note: str = "") -> ModerationAction:
    """Close a case: `dismiss` (nothing wrong), `warn` the author, or `suspend` the author."""
    if action not in {ModerationAction.Action.DISMISS, ModerationAction.Action.WARN, ModerationAction.Action.SUSPEND}:
        raise AssistantError(ErrorCode.INVALID_FRAME, f"Unknown moderation action {action!r}.")
    if action == ModerationAction.Action.SUSPEND:
        _suspend(case.author_id)
    state = (
        ModerationCase.State.DISMISSED if action == ModerationAction.Action.DISMISS else ModerationCase.State.ACTIONED
    )
    ModerationCase.objects.filter(pk=case.pk).update(state=state)
    return _record(actor, action, case.author, case, note)


@transaction.atomic
def set_suspended(*, actor: User, target: User, suspended: bool, note: str = "") -> ModerationAction:
    """Suspend (sessions and API keys stop working at once) or reinstate a user, outside any case."""
    if suspended:
        _suspend(target.pk)
    else:
        User.objects.filter(pk=target.pk).update(is_active=True)
    action = ModerationAction.Action.SUSPEND if suspended else ModerationAction.Action.REINSTATE
    return _record(actor, action, target, None, note)


def record_conversation_view(*, actor: User, conversation_owner: User, note: str) -> None:
    """Staff reading a user's conversation is itself audited."""
    _record(actor, ModerationAction.Action.VIEW_CONVERSATION, conversation_owner, None, note)
