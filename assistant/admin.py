from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from assistant.models import ApiKey, Conversation, Message, User

admin.site.register(User, UserAdmin)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("role", "status", "content", "finish_reason", "completion_tokens", "superseded")
    readonly_fields = fields
    extra = 0
    fk_name = "conversation"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "channel", "updated_at")
    list_filter = ("channel",)
    search_fields = ("title", "owner__username")
    inlines = [MessageInline]


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
