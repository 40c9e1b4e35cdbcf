"""Included at the project root: /webhooks/<app> for every messaging app."""

from __future__ import annotations

from django.urls import path

from integrations.adapters import MESSAGING_APPS
from integrations.views import webhook_view

urlpatterns = [path(f"webhooks/{app}", webhook_view(app), name=f"{app}-webhook") for app in MESSAGING_APPS]
