import pytest

from assistant.engine.frames import DoneFrame, FinishReason, TokenFrame, Usage
from assistant.web.protocol import FrameError, MessageFrame, ResumeFrame, parse_client_frame
from core.errors import ErrorCode


def test_message_frame_parses_with_defaults() -> None:
    frame = parse_client_frame('{"type": "message", "text": "hi", "client_id": "c1"}')
    assert frame == MessageFrame(type="message", conversation_id=None, text="hi", client_id="c1")


def test_resume_defaults_to_the_beginning() -> None:
    assert parse_client_frame('{"type": "resume", "message_id": 4}') == ResumeFrame(
        type="resume", message_id=4, after_seq=0
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
