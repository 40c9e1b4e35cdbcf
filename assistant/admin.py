from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from assistant.chat import moderation
from assistant.models import ApiKey, Conversation, Message, ModerationAction, ModerationCase, User
from assistant.ops import content_access
from assistant.ops.content_access import ContentGuard, ContentGuardedAdmin
from core import limits
from imagine import admin as imagine_admin
from safety.llama_guard import hazard_name


@admin.register(User)
class AssistantUserAdmin(UserAdmin):
    """Users with their quota and today's use; suspending goes through the audited actions."""

    list_display = ("username", "email", "is_guest", "is_active", "is_staff", "daily_token_quota", "date_joined")
    list_filter = ("is_guest", "is_active", "is_staff")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Assistant", {"fields": ("is_guest", "search_mode", "daily_token_quota", "tokens_used_today")}),
    )
    readonly_fields = ("tokens_used_today", "is_active")
    actions = ["suspend", "reinstate"]

    @admin.display(description="Tokens used today (UTC)")
    def tokens_used_today(self, user: User) -> str:
        return f"{limits.tokens_used_today(user.pk):,} of {limits.daily_quota(user):,}"

    @admin.action(description="Suspend the selected users (audited)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.exclude(pk=request.user.pk):
            moderation.set_suspended(actor=request.user, target=user, suspended=True, note="admin action")
        self.message_user(request, "Suspended; their sessions and API keys no longer work.")

    @admin.action(description="Reinstate the selected users (audited)")
    def reinstate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            moderation.set_suspended(actor=request.user, target=user, suspended=False, note="admin action")
        self.message_user(request, "Reinstated.")


class MessageInline(ContentGuard, admin.TabularInline):
    """A conversation's messages; their text only for staff allowed to read it."""

    model = Message
    extra = 0
    fk_name = "conversation"
    can_delete = False
    content_fields = ("content",)
    fields = readonly_fields = (
        *content_fields,
        "role",
        "status",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "first_token_ms",
    )

    def has_add_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ContentGuardedAdmin):
    """Conversations for operators. Titles are written by users, so even the list needs the
    content permission to show them; opening a conversation with it is recorded in the audit trail."""

    list_filter = ("channel",)
    search_fields = ("owner__username",)
    content_fields = ("title", "instructions")
    fields = readonly_fields = (*content_fields, "owner", "channel", "api_key", "created_at", "updated_at")
    inlines = [MessageInline]

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        shown = ("id", "owner", "channel", "updated_at")
        return ("id", "title", *shown[1:]) if content_access.can_read_content(request.user) else shown

    def record_opened(self, request: HttpRequest, conversation: Conversation) -> None:
        moderation.record_conversation_view(
            actor=request.user, conversation_owner=conversation.owner, note=f"conversation {conversation.pk}"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Operators see who holds keys and when they were used; the secrets themselves are never stored."""

    list_display = ("name", "prefix", "owner", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = ("owner", "prefix", "digest", "created_at", "last_used_at")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} key(s).")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a key's secret is shown only to its owner, when the owner creates it


@admin.register(ModerationCase)
class ModerationCaseAdmin(ContentGuardedAdmin):
    """The moderation queue: blocked turns and user reports, open ones first. The flagged text and
    the reporter's words need the content permission; opening a case with it is audited."""

    list_display = ("id", "kind", "state", "author", "hazards", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("author__username", "original_text", "reason")
    content_fields = ("original_text", "reason")
    fields = readonly_fields = ("kind", "state", "message", "author", "reporter", "hazards", *content_fields)
    actions = ["dismiss", "warn", "suspend_author"]

    @admin.display(description="hazards")
    def hazards(self, case: ModerationCase) -> str:
        return ", ".join(hazard_name(code) for code in case.categories) or "—"

    def record_opened(self, request: HttpRequest, case: ModerationCase) -> None:
        note = f"moderation case {case.pk}"
        content_access.record_read(reader=request.user, note=note, author=case.author, case=case)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModerationCase]:
        return super().get_queryset(request).select_related("author", "reporter").order_by("-state", "-created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModerationCase | None = None) -> bool:
        return False  # cases are evidence; closing one is a decision, recorded in the audit trail

    def _decide(self, request: HttpRequest, queryset: QuerySet[ModerationCase], action: str) -> None:
        for case in queryset:
            moderation.decide(actor=request.user, case=case, action=action)
        self.message_user(request, f"{action}: {queryset.count()} case(s), recorded in the audit trail.")

    @admin.action(description="Dismiss (nothing wrong)")
    def dismiss(self, request: HttpRequest, queryset: QuerySet[ModerationCase]) -> None:
        self._decide(request, queryset, ModerationAction.Action.DISMISS)

    @admin.action(description="Warn the author")
    def warn(self, request: HttpRequest, queryset: QuerySet[ModerationCase]) -> None:
        self._decide(request, queryset, ModerationAction.Action.WARN)

    @admin.action(description="Suspend the author")
    def suspend_author(self, request: HttpRequest, queryset: QuerySet[ModerationCase]) -> None:
        self._decide(request, queryset, ModerationAction.Action.SUSPEND)


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The audit trail, read-only for everyone: decisions, and reads of what people wrote."""

    list_display = ("created_at", "actor", "action", "target", "case", "note")
    list_filter = ("action",)
    search_fields = ("actor__username", "target__username", "note")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModerationAction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModerationAction | None = None) -> bool:
        return False


@receiver(imagine_admin.prompt_read)
def _audit_prompt_read(sender: object, reader: User, note: str, author: User | None, **kwargs: object) -> None:
    """Imagine imports no chat code, so its admin announces each prompt read for this audit trail."""
    content_access.record_read(reader=reader, note=note, author=author)


admin.site.index_template = "admin/assistant_index.html"  # links the dashboard (assistant/ops/admin_views.py)
admin.site.site_header = "Assistant administration"
