"""The official `openai` Python package, unchanged, against the assistant's own API on a real
uvicorn server and the embedded llama.cpp model, in both modes (embedded; PostgreSQL + Redis).
Function calling needs a Llama 3.1 model: its round trip with this package runs in process against
a scripted Llama server (tests/assistant/test_openai_tools.py)."""

from __future__ import annotations

import json
import time
import uuid

import openai
import pytest

from tests.support.chat_client import ServerAddress
from tests.support.processes import manage

pytestmark = pytest.mark.live

STORED_ANSWER = """
import json
from assistant.models import Message
m = Message.objects.select_related("conversation").get(pk={pk})
print(json.dumps({{"status": m.status, "content": m.content, "channel": m.conversation.channel}}))
"""


def client_of(server: ServerAddress) -> openai.OpenAI:
    """A client with a fresh key of a fresh service account, made with the operator's command."""
    secret = manage(server.env, "create_api_key", f"bot-{uuid.uuid4().hex[:8]}", "--name", "tests").strip()
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=60)


def stored_answer(server: ServerAddress, completion_id: str) -> dict[str, str]:
    answer_id = int(completion_id.removeprefix("chatcmpl-"))
    return json.loads(manage(server.env, "shell", "-v", "0", "-c", STORED_ANSWER.format(pk=answer_id)))


@pytest.fixture(scope="module")
def client(chat_server: ServerAddress) -> openai.OpenAI:
    return client_of(chat_server)


def model_name(client: openai.OpenAI) -> str:
    [model] = client.models.list().data
    return model.id


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    assert model_name(client) == "smollm2-135m-instruct"


def test_a_completion_is_answered_and_recorded(client: openai.OpenAI, chat_server: ServerAddress) -> None:
    completion = client.chat.completions.create(
        model=model_name(client),
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
        max_tokens=20,
    )

    text = completion.choices[0].message.content
    assert text
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert 0 < completion.usage.completion_tokens <= 20
    assert stored_answer(chat_server, completion.id) == {"status": "complete", "content": text, "channel": "api"}


def test_a_stream_arrives_in_chunks_with_usage_last(client: openai.OpenAI, chat_server: ServerAddress) -> None:
    stream = client.chat.completions.create(
        model=model_name(client),
        messages=[{"role": "user", "content": "Count from one to ten in words."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert stored_answer(chat_server, chunks[0].id)["content"] == text


def test_refusals_raise_the_openai_exception_types(client: openai.OpenAI, chat_server: ServerAddress) -> None:
    question = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=question)
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.chat.completions.create(model=model_name(client), messages=question, n=2)
    stranger = openai.OpenAI(base_url=f"{chat_server.url}/v1", api_key="sk-asst-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_a_model_is_retrieved_by_its_id(client: openai.OpenAI) -> None:
    assert client.models.retrieve(model_name(client)).id == model_name(client)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.models.retrieve("gpt-4o")


def test_json_mode_makes_the_embedded_model_write_json(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    completion = client.chat.completions.create(
        model=model_name(client),
        messages=[{"role": "user", "content": "Name a colour, as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "colour", "schema": schema}},
        max_tokens=40,
    )

    assert isinstance(json.loads(completion.choices[0].message.content or "")["colour"], str)


def test_function_tools_need_a_llama_model(client: openai.OpenAI) -> None:
    tool = {"type": "function", "function": {"name": "get_time", "description": "The time now"}}
    with pytest.raises(openai.BadRequestError, match="need a Llama"):
        client.chat.completions.create(
            model=model_name(client), messages=[{"role": "user", "content": "Time?"}], tools=[tool]
        )


def test_a_client_that_goes_away_stops_the_answer(endless_chat_server: ServerAddress) -> None:
    client = client_of(endless_chat_server)
    stream = client.chat.completions.create(
        model=model_name(client), messages=[{"role": "user", "content": "Tell me a long story."}], stream=True
    )
    received = [chunk for chunk, _ in zip(stream, range(5), strict=False)]
    stream.close()

    deadline = time.monotonic() + 10
    while (answer := stored_answer(endless_chat_server, received[0].id))["status"] == "streaming":
        assert time.monotonic() < deadline, "the answer kept running after its client left"
        time.sleep(0.2)
    assert answer["status"] == "cancelled"
    sent = "".join(c.choices[0].delta.content or "" for c in received)
    assert answer["content"].startswith(sent)
    assert len(answer["content"]) < 1000  # stopped early: an endless answer runs to 400 tokens
