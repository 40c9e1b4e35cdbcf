"""The model gateway: a client per event loop (httpx pools belong to one loop), one tokenizer per
process; synchronous callers (Celery tasks) keep one loop per thread."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from assistant.engine.llm import ModelGateway, model_gateway
from core.event_loop import run_sync


async def current_gateway() -> ModelGateway:
    return model_gateway()


def test_each_loop_has_its_own_client_and_all_share_one_tokenizer() -> None:
    first, second = asyncio.run(current_gateway()), asyncio.run(current_gateway())

    assert first.client is not second.client
    assert first.tokenizer is second.tokenizer


async def test_one_loop_keeps_its_gateway() -> None:
    assert model_gateway() is model_gateway()


async def current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_synchronous_callers_keep_one_loop_and_gateway_per_thread() -> None:
    assert run_sync(current_loop()) is run_sync(current_loop())
    assert run_sync(current_gateway()) is run_sync(current_gateway())
    with ThreadPoolExecutor(1) as other_thread:
        assert other_thread.submit(run_sync, current_loop()).result() is not run_sync(current_loop())


def test_a_settings_change_rebuilds_the_loops_gateway(settings) -> None:
    before = run_sync(current_gateway())
    settings.MODEL_BASE_URL = "http://127.0.0.1:9/v1"

    after = run_sync(current_gateway())

    assert after is not before
    assert after.client.endpoint.base_url == "http://127.0.0.1:9/v1"
