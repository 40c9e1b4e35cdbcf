"""One id follows a chat turn through every process: web, Celery worker and model server.

`turn_id` is a context variable holding a UUID (each asyncio task and each Celery task has its
own), added to every log record by `ContextFilter` and sent to the model server as
`X-Request-Id` (vLLM uses it as its request id; llama.cpp's server accepts only UUIDs there).
`JsonFormatter` writes one JSON object per line for log collectors.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

turn_id: ContextVar[str] = ContextVar("turn_id", default="")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.turn_id = turn_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "turn_id": getattr(record, "turn_id", "") or None,
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
