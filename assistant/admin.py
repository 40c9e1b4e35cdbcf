from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from assistant.chat import moderation
from assistant.models import ApiKey, Conversation, Message, ModerationAction, ModerationCase, User
from core import limits


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


READ_CONTENT = "assistant.read_message_content"


class MessageInline(admin.TabularInline):
    """A conversation's messages; their text only for staff allowed to read it."""

    model = Message
    extra = 0
    fk_name = "conversation"
    can_delete = False

    def get_fields(self, request: HttpRequest, obj: Conversation | None = None) -> tuple[str, ...]:
        fields = ("role", "status", "finish_reason", "prompt_tokens", "completion_tokens", "first_token_ms")
        return ("content", *fields) if request.user.has_perm(READ_CONTENT) else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Conversation | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Conversations for operators. Titles are written by users, so even the list needs the
    content permission to show them; opening a conversation with it is recorded in the audit trail."""

    list_filter = ("channel",)
    search_fields = ("owner__username",)
    readonly_fields = ("owner", "channel", "api_key", "created_at", "updated_at")
    inlines = [MessageInline]

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        shown = ("id", "owner", "channel", "updated_at")
        return ("id", "title", *shown[1:]) if request.user.has_perm(READ_CONTENT) else shown

    def get_fields(self, request: HttpRequest, obj: Conversation | None = None) -> tuple[str, ...]:
        shown = ("owner", "channel", "api_key", "created_at", "updated_at")
        return ("title", "instructions", *shown) if request.user.has_perm(READ_CONTENT) else shown

    def get_readonly_fields(self, request: HttpRequest, obj: Conversation | None = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        conversation = self.get_object(request, object_id)
        if conversation is not None and request.user.has_perm(READ_CONTENT):
            moderation.record_conversation_view(
                actor=request.user, conversation_owner=conversation.owner, note=f"conversation {conversation.pk}"
            )
        return super().change_view(request, object_id, form_url, extra_context)

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
class ModerationCaseAdmin(admin.ModelAdmin):
    """The moderation queue: blocked turns and user reports, open ones first."""

    list_display = ("id", "kind", "state", "author", "categories", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("author__username", "original_text", "reason")
    readonly_fields = ("kind", "state", "message", "author", "reporter", "categories", "original_text", "reason")
    actions = ["dismiss", "warn", "suspend_author"]

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
    """The audit trail, read-only for everyone."""

    list_display = ("created_at", "actor", "action", "target", "case", "note")
    list_filter = ("action",)
    search_fields = ("actor__username", "target__username", "note")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModerationAction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModerationAction | None = None) -> bool:
        return False


admin.site.index_template = "admin/assistant_index.html"  # links the dashboard (assistant/ops/admin_views.py)
admin.site.site_header = "Assistant administration"
