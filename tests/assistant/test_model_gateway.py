"""The model gateway: a client per event loop (httpx pools belong to one loop), but one tokenizer
per process, however many loops a process runs (a Celery worker runs one per messaging reply)."""

import asyncio

from assistant.llm import ModelGateway, model_gateway


async def current_gateway() -> ModelGateway:
    return model_gateway()


def test_each_loop_has_its_own_client_and_all_share_one_tokenizer() -> None:
    first, second = asyncio.run(current_gateway()), asyncio.run(current_gateway())

    assert first.client is not second.client
    assert first.counter is second.counter


async def test_one_loop_keeps_its_gateway() -> None:
    assert model_gateway() is model_gateway()
