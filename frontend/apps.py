from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """Templates and static assets of the web UI; its only Python is how the static files are
    named and stored (storage.py)."""

    name = "frontend"
