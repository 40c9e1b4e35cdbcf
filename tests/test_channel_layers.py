"""The embedded channel layer keeps the in-memory layer's expiry rules, swept at most once an interval."""

from __future__ import annotations

import asyncio

from config.channel_layers import EmbeddedChannelLayer


def _queued(layer: EmbeddedChannelLayer, channel: str) -> int:
    return layer.channels[channel].qsize() if channel in layer.channels else 0


async def test_expired_messages_are_swept_at_most_once_an_interval() -> None:
    layer = EmbeddedChannelLayer(expiry=0.01)
    layer.sweep_interval_seconds = 0.3
    await layer.send("answers", {"type": "token"})
    await asyncio.sleep(0.05)
    layer._clean_expired()
    assert _queued(layer, "answers") == 0  # the first sweep runs and drops the expired message

    await layer.send("answers", {"type": "token"})
    await asyncio.sleep(0.05)
    layer._clean_expired()
    assert _queued(layer, "answers") == 1  # within the interval: no sweep

    await asyncio.sleep(0.3)
    layer._clean_expired()
    assert _queued(layer, "answers") == 0


async def test_unexpired_messages_are_delivered() -> None:
    layer = EmbeddedChannelLayer()
    await layer.send("answers", {"type": "token", "text": "hi"})
    assert await layer.receive("answers") == {"type": "token", "text": "hi"}
