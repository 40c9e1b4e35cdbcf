from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from assistant.models import Conversation, Message, User

admin.site.register(User, UserAdmin)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("role", "status", "content", "finish_reason", "completion_tokens", "superseded")
    readonly_fields = fields
    extra = 0
    fk_name = "conversation"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "updated_at")
    search_fields = ("title", "owner__username")
    inlines = [MessageInline]
