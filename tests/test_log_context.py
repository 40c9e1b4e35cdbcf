"""Log records carry the turn id; the JSON format is one parseable object per line."""

from __future__ import annotations

import json
import logging

from model_service import log_context


def format_record(message: str) -> dict:
    record = logging.LogRecord("assistant.turns", logging.WARNING, __file__, 1, message, None, None)
    log_context.ContextFilter().filter(record)
    return json.loads(log_context.JsonFormatter().format(record))


def test_json_lines_carry_the_turn_id_of_their_context() -> None:
    token = log_context.turn_id.set("answer-42")
    try:
        entry = format_record('a "quoted"\nmessage')
    finally:
        log_context.turn_id.reset(token)
    assert entry["turn_id"] == "answer-42"
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "assistant.turns", 'a "quoted"\nmessage')
    assert format_record("outside any turn")["turn_id"] is None
