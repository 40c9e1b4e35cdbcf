from django.urls import path

from core import ids  # noqa: F401 (registers the <id:...> converter these paths use)
from knowledge import api

urlpatterns = [
    path("api/memory", api.memory_items, name="api-memory"),
    path("api/memory/settings", api.memory_settings, name="api-memory-settings"),
    path("api/memory/link", api.memory_link, name="api-memory-link"),
    path("api/memory/<id:item_id>", api.memory_item, name="api-memory-item"),
    path("api/documents", api.document_collection, name="api-documents"),
    path("api/documents/<id:document_id>", api.document_detail, name="api-document"),
    path("api/documents/<id:document_id>/attach", api.document_attach, name="api-document-attach"),
]
