"""The compose file stays in step with the code it deploys."""

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from model_service.vllm import PRESETS, config_from_args
from tests.support.deployment import POSTGRES_ADMIN_URL
from tests.support.processes import COMPOSE_WORKER_POOL, COMPOSE_WORKER_THREADS, product_env, running, worker_command

ROOT = Path(__file__).resolve().parents[1]
WORKER_START_SECONDS = 120  # Django, Celery and the project's imports, on a busy machine


def value_of(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize(
    ("service", "preset", "memory_share"),
    [
        ("model", "llama3.1-8b", "0.75"),
        ("guard", "llama-guard-3-1b", "0.15"),
        ("transcription", "whisper-large-v3-turbo", "0.4"),
    ],
)
def test_vllm_services_run_checked_presets(service: str, preset: str, memory_share: str) -> None:
    config, _ = config_from_args(["--preset", preset, "--gpu-memory-utilization", memory_share])
    definition = compose()["services"][service]
    assert [*definition["entrypoint"], *definition["command"]] == config.argv()
    assert f"--preset {preset} --gpu-memory-utilization {memory_share}" in (ROOT / "docker-compose.yml").read_text()


def test_gpu_services_leave_room_for_each_other() -> None:
    services = compose()["services"]
    on_gpu = [name for name, service in services.items() if "deploy" in service]
    assert set(on_gpu) == {"model", "guard", "imagine", "vision", "vision-guard", "transcription", "speech"}
    shares = [float(value_of(services[name]["command"], "--gpu-memory-utilization")) for name in ("model", "guard")]
    assert sum(shares) <= 0.9, "the Imagine worker needs the rest of the GPU"
    # The vision model is opt-in (a profile) and has a GPU of its own: it never shares the first one.
    [device] = services["vision"]["deploy"]["resources"]["reservations"]["devices"]
    assert services["vision"]["profiles"] == ["vision"]
    assert device["device_ids"] == ["1"]


def test_voice_servers_are_opt_in_and_share_a_gpu_of_their_own() -> None:
    services = compose()["services"]
    gpus = {
        name: service["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
        for name, service in services.items()
        if "deploy" in service
    }

    assert services["transcription"]["profiles"] == services["speech"]["profiles"] == ["voice"]
    assert [name for name, ids in gpus.items() if ids == ["3"]] == ["transcription", "speech"]
    # The speech server allocates what it needs from what Whisper's vLLM leaves of the GPU.
    assert float(value_of(services["transcription"]["command"], "--gpu-memory-utilization")) <= 0.5


def test_workers_consume_the_queues_tasks_are_routed_to() -> None:
    services = compose()["services"]
    consumed = {
        queue
        for name in ("worker", "search", "code", "imagine", "documents", "media")
        for queue in value_of(services[name]["command"], "-Q").split(",")
    }
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert {settings.CELERY_TASK_DEFAULT_QUEUE, *routed} == consumed
    # One process per GPU: its worker threads hand requests to a single render thread that batches them.
    assert value_of(services["imagine"]["command"], "--pool") == "threads"


def test_the_default_worker_runs_as_the_tests_run_it_with_a_connection_to_spare() -> None:
    """Messaging replies on threads (tests/support/processes.py), and a pool that lets the worker start."""
    command = compose()["services"]["worker"]["command"]
    assert value_of(command, "-Q") == settings.CELERY_TASK_DEFAULT_QUEUE
    assert value_of(command, "--pool") == COMPOSE_WORKER_POOL
    assert int(value_of(command, "--concurrency")) == COMPOSE_WORKER_THREADS
    assert int(compose()["x-app"]["environment"]["DATABASE_POOL_MAX_SIZE"]) > COMPOSE_WORKER_THREADS


def started_worker(threads: int, tmp_path: Path) -> tuple[int | None, str]:
    """A thread-pool worker with a pool of four connections: its exit code (None: it got ready) and its log."""
    env = product_env(tmp_path, DATABASE_URL=POSTGRES_ADMIN_URL, DATABASE_POOL_MAX_SIZE="4")
    log = tmp_path / "worker.log"
    with running(worker_command(pool="threads", concurrency=threads), env=env, log=log) as worker:
        deadline = time.monotonic() + WORKER_START_SECONDS
        while worker.poll() is None and " ready." not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        return worker.poll(), log.read_text()


def test_a_thread_pool_worker_refuses_a_pool_no_larger_than_its_threads(tmp_path: Path) -> None:
    code, log = started_worker(4, tmp_path)
    assert code == 1, log
    assert "DATABASE_POOL_MAX_SIZE (4) must exceed this worker's --concurrency (4)" in log


def test_a_thread_pool_worker_starts_with_a_connection_to_spare(tmp_path: Path) -> None:
    code, log = started_worker(3, tmp_path)
    assert code is None, log
    assert " ready." in log


def test_web_stop_timeout_outlasts_the_answer_grace_period() -> None:
    web = compose()["services"]["web"]
    grace = float(compose()["x-app"]["environment"]["ASSISTANT_SHUTDOWN_GRACE_SECONDS"])
    assert float(web["stop_grace_period"].removesuffix("s")) > grace


def test_app_environment_names_are_settings_the_code_reads() -> None:
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read_names = set(re.findall(r'env\.\w+\("([A-Z_]+)"', settings_source))
    app_environment = compose()["x-app"]["environment"]
    assert set(app_environment) <= read_names
    assert compose()["x-app"]["environment"]["MODEL_CONTEXT_WINDOW"] == str(PRESETS["llama3.1-8b"].max_model_len)


def test_every_service_restarts_and_stateful_ones_keep_volumes() -> None:
    services = compose()["services"]
    celery_processes = {"worker", "search", "code", "documents", "media", "beat", "imagine"}
    model_servers = {"model", "guard", "cpu-guard", "vision", "vision-guard", "transcription", "speech"}
    long_running = {"web", *celery_processes, *model_servers, "searxng", "redis", "postgres"}
    assert set(services) == {*long_running, "migrate"}
    for name in long_running:
        assert services[name].get("restart", compose()["x-app"]["restart"]) == "unless-stopped"
        assert "healthcheck" in services[name], name
    assert services["postgres"]["volumes"]
    assert services["redis"]["volumes"]


def test_beat_schedules_only_tasks_that_exist() -> None:
    from config.celery import app

    app.loader.import_default_modules()
    assert compose()["services"]["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_searxng_serves_the_json_api_the_search_workers_use() -> None:
    app = compose()["x-app"]["environment"]
    assert app["SEARCH_PROVIDER"] == "searxng"
    assert app["SEARCH_SEARXNG_URL"] == "http://searxng:8080"
    searxng_settings = yaml.safe_load((ROOT / "deploy/searxng/settings.yml").read_text())
    assert "json" in searxng_settings["search"]["formats"]


def test_production_checks_answers_with_llama_guard_and_fails_closed() -> None:
    app = compose()["x-app"]["environment"]
    assert app["SAFETY_GUARD_BASE_URL"] == "http://guard:8000/v1"
    assert app["SAFETY_FAIL_CLOSED"] == "true"


def production_environment() -> dict[str, str]:
    """What docker-compose gives the web and worker containers (no service is contacted by `check`)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECURE": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
        "DATABASE_URL": "postgres://assistant:secret@127.0.0.1:5432/assistant",
        "DATABASE_POOL_MAX_SIZE": "10",
        "CHANNEL_LAYER_URL": "redis://127.0.0.1:6379/0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
        "CACHE_URL": "redis://127.0.0.1:6379/2",
    }


def check_deploy(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    env = {**env, "ASSISTANT_VAR_DIR": str(tmp_path)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    result = check_deploy(production_environment(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_development_defaults_fail_check_deploy(tmp_path: Path) -> None:
    """The check is live: the embedded defaults (plain HTTP) are reported."""
    env = {key: value for key, value in production_environment().items() if not key.startswith("DJANGO_SECURE")}
    result = check_deploy(env, tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_the_image_exports_the_sentence_encoder_before_it_drops_root() -> None:
    """The app user cannot write under /app at run time: the export that the guard, search and
    documents processes load must already be in the image."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    export = dockerfile.index("from model_service.sentence_encoder import exported_model; exported_model()")

    assert export < dockerfile.index("USER assistant")
