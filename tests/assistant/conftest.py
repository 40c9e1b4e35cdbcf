"""Fixtures shared by the turn tests of the assistant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from django.conf import Settings

from assistant.engine import turns
from assistant.engine.capabilities import default_capabilities
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture
async def model(settings: Settings) -> AsyncIterator[FakeOpenAI]:
    """The OpenAI contract fake as the model (no retries, no titles, no guard: these tests are about
    what reaches the model), with every turn drained before the next test."""
    async with FakeOpenAI() as fake:
        settings.MODEL_BASE_URL = fake.base_url
        settings.MODEL_RETRIES = 0
        settings.ASSISTANT_MODEL_TITLES = False
        settings.SAFETY_CHECKS = False
        default_capabilities.cache_clear()
        yield fake
        await turns.drain(5)
        default_capabilities.cache_clear()
