import pytest

from assistant.engine.frames import DoneFrame, FinishReason, TokenFrame, Usage
from assistant.web.protocol import (
    EditFrame,
    FrameError,
    MessageFrame,
    ResumeFrame,
    SelectVersionFrame,
    VersionSelectedFrame,
    parse_client_frame,
)
from core.errors import ErrorCode


def test_message_frame_parses_with_defaults() -> None:
    frame = parse_client_frame('{"type": "message", "text": "hi", "client_id": "c1"}')
    assert frame == MessageFrame(type="message", conversation_id=None, text="hi", client_id="c1")


def test_resume_defaults_to_the_beginning() -> None:
    assert parse_client_frame('{"type": "resume", "message_id": 4}') == ResumeFrame(
        type="resume", message_id=4, after_seq=0
    )


def test_version_frames_parse() -> None:
    edit = parse_client_frame('{"type": "edit", "conversation_id": 1, "message_id": 2, "text": "x", "client_id": "c"}')
    assert edit == EditFrame(type="edit", conversation_id=1, message_id=2, text="x", client_id="c")
    select = parse_client_frame('{"type": "select_version", "message_id": 5}')
    assert select == SelectVersionFrame(type="select_version", message_id=5)
    assert VersionSelectedFrame(conversation_id=1, message_id=5).dump() == (
        '{"type":"version_selected","conversation_id":1,"message_id":5}'
    )


@pytest.mark.parametrize(
    ("raw", "code", "detail_fragment"),
    [
        ("{", ErrorCode.INVALID_JSON, "not valid JSON"),
        ('"text"', ErrorCode.INVALID_FRAME, "JSON object"),
        ('{"text": "no type"}', ErrorCode.UNKNOWN_TYPE, "None"),
        ('{"type": "message", "client_id": "c"}', ErrorCode.INVALID_FRAME, "text"),
        ('{"type": "message", "text": "x", "client_id": ""}', ErrorCode.INVALID_FRAME, "client_id"),
        ('{"type": "message", "text": "x", "client_id": "' + "c" * 65 + '"}', ErrorCode.INVALID_FRAME, "client_id"),
        ('{"type": "stop"}', ErrorCode.INVALID_FRAME, "message_id"),
        ('{"type": "stop", "message_id": 1, "why": "x"}', ErrorCode.INVALID_FRAME, "why"),
        (
            '{"type": "edit", "conversation_id": 1, "text": "x", "client_id": "c"}',
            ErrorCode.INVALID_FRAME,
            "message_id",
        ),
        ('{"type": "edit", "conversation_id": 1, "message_id": 2, "text": "x"}', ErrorCode.INVALID_FRAME, "client_id"),
        (
            '{"type": "edit", "message_id": 2, "text": "x", "client_id": "c"}',
            ErrorCode.INVALID_FRAME,
            "conversation_id",
        ),
        ('{"type": "select_version"}', ErrorCode.INVALID_FRAME, "message_id"),
    ],
)
def test_bad_frames_name_the_problem(raw: str, code: ErrorCode, detail_fragment: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_client_frame(raw)
    assert caught.value.code == code
    assert detail_fragment in caught.value.detail


def test_server_frames_serialise_to_the_documented_shape() -> None:
    assert TokenFrame(message_id=3, seq=1, text="Hi").dump() == '{"type":"token","message_id":3,"seq":1,"text":"Hi"}'
    done = DoneFrame(
        message_id=3, seq=2, finish_reason=FinishReason.CANCELLED, usage=Usage(prompt_tokens=5, completion_tokens=2)
    )
    assert done.dump() == (
        '{"type":"done","message_id":3,"seq":2,"finish_reason":"cancelled",'
        '"usage":{"prompt_tokens":5,"completion_tokens":2},"error":null,"error_code":null,'
        '"invalid_citations":[],"code_warnings":[],"image":null,"code_images":[]}'
    )
