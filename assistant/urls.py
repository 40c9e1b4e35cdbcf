from django.urls import path

from assistant import openapi
from assistant.openai_compat import audio as openai_audio
from assistant.openai_compat import serving as openai_api
from assistant.ops import metrics
from assistant.web import api, attachments, shared_images, uploads, views
from core import ids  # noqa: F401 (registers the <id:...> converter these paths use)

urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/openapi.json", openapi.openapi_view, name="api-openapi"),
    path("api/conversations", api.conversations, name="api-conversations"),
    path("api/conversations/<id:conversation_id>", api.conversation_detail, name="api-conversation"),
    path("api/conversations/<id:conversation_id>/messages", api.conversation_messages, name="api-messages"),
    path("api/conversations/<id:conversation_id>/share", api.conversation_share, name="api-share"),
    path("share/<str:token>", views.shared_page, name="share"),
    path(
        "api/imagine/shared/<str:token>/<id:image_id>/<str:name>",
        shared_images.shared_image_file,
        name="imagine-shared-file",
    ),
    path("api/messages/<id:message_id>/report", api.report_message, name="api-report"),
    path("api/messages/<id:message_id>/feedback", api.message_feedback, name="api-feedback"),
    path("api/messages/<id:message_id>/speech", attachments.message_speech, name="api-speech"),
    path("api/attachments", attachments.attachment_collection, name="api-attachments"),
    path("api/attachments/<id:attachment_id>/file", attachments.attachment_file, name="api-attachment-file"),
    path("api/uploads", uploads.upload_collection, name="api-uploads"),
    path("api/uploads/<uuid:upload_id>", uploads.upload_detail, name="api-upload"),
    path("api/uploads/<uuid:upload_id>/finish", uploads.upload_finish, name="api-upload-finish"),
    path("api/settings", api.user_settings, name="api-settings"),
    path("api/account", api.account_detail, name="api-account"),
    path("api/account/export", api.account_export, name="api-account-export"),
    path("api/keys", api.keys, name="api-keys"),
    path("api/keys/<id:key_id>", api.key_detail, name="api-key"),
    path("v1/models", openai_api.models, name="openai-models"),
    path("v1/models/<path:model_id>", openai_api.model_detail, name="openai-model"),
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("v1/audio/transcriptions", openai_audio.transcriptions, name="openai-transcriptions"),
    path("v1/audio/speech", openai_audio.speech, name="openai-speech"),
]
