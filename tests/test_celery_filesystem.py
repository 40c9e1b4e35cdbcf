"""The embedded broker (config/celery_filesystem.py): a consumer never sees a message half written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from config.celery import app
from config.celery_filesystem import Channel


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Channel]:
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=options) as connection:
        yield connection.default_channel


def test_filesystem_urls_use_the_whole_message_transport() -> None:
    with Connection("filesystem://") as connection:
        assert type(connection.transport).Channel is Channel
    assert app.conf.broker_url == "filesystem://"  # the embedded default this protects


def test_a_message_being_written_is_invisible_until_whole(channel: Channel, monkeypatch: pytest.MonkeyPatch) -> None:
    seen_while_writing: list[str] = []
    real_replace = os.replace

    def consumer_looks_first(source: str, target: str) -> None:
        assert Path(source).read_bytes()  # written in full before it is renamed into place
        try:
            seen_while_writing.append(channel._get("default"))
        except Empty:
            seen_while_writing.append("nothing")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", consumer_looks_first)
    payload: dict[str, Any] = {"body": "x" * 10_000, "headers": {"task": "t"}}
    channel._put("default", payload)
    assert seen_while_writing == ["nothing"]
    assert channel._get("default") == payload
    with pytest.raises(Empty):
        channel._get("default")
