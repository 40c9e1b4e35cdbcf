"""Deployment checks of the product's own settings, run by `manage.py check --deploy`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def metrics_token_is_set(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.SECURE and not settings.METRICS_TOKEN:
        return [
            Error(
                "METRICS_TOKEN is empty: /metrics would refuse every scraper.",
                hint="Set METRICS_TOKEN to a random secret and give it to the Prometheus scrape job.",
                id="assistant.E001",
            )
        ]
    return []
