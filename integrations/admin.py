from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from integrations.models import ChatBinding, InboundEvent, OutboundMessage
from integrations.selectors import channel_statuses


class OutboundMessageInline(admin.TabularInline):
    model = OutboundMessage
    fields = ("part", "kind", "content", "external_id", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """Every event the apps delivered; the list starts with each channel's status."""

    change_list_template = "admin/integrations/inboundevent/change_list.html"
    list_display = ("received_at", "app", "kind", "chat_id", "sender_id", "handled_at", "reply_error")
    list_filter = ("app", "kind", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "chat_id", "sender_id")
    readonly_fields = [f.name for f in InboundEvent._meta.fields]
    inlines = [OutboundMessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from the apps only

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "channel_statuses": channel_statuses()})


@admin.register(ChatBinding)
class ChatBindingAdmin(admin.ModelAdmin):
    list_display = ("app", "chat_id", "sender_id", "user", "conversation", "created_at")
    list_filter = ("app",)
    search_fields = ("chat_id", "sender_id", "user__username")
    readonly_fields = ("app", "chat_id", "sender_id", "user", "conversation", "created_at")
