from django.urls import path

from assistant import api, metrics, views

urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/conversations", api.conversations, name="api-conversations"),
    path("api/conversations/<int:conversation_id>", api.conversation_detail, name="api-conversation"),
    path("api/conversations/<int:conversation_id>/messages", api.conversation_messages, name="api-messages"),
]
