from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """Templates and static assets of the web UI (no Python logic lives here)."""

    name = "frontend"
