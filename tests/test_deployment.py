"""The compose file stays in step with the code it deploys."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

from model_service.vllm import PRESETS

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_model_service_runs_the_checked_vllm_preset() -> None:
    model = compose()["services"]["model"]
    preset = PRESETS["llama3.1-8b"]
    assert [*model["entrypoint"], *model["command"]] == preset.argv()


def test_app_environment_names_are_settings_the_code_reads() -> None:
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read_names = set(re.findall(r'env\.\w+\("([A-Z_]+)"', settings_source))
    app_environment = compose()["x-app"]["environment"]
    assert set(app_environment) <= read_names
    assert compose()["x-app"]["environment"]["MODEL_CONTEXT_WINDOW"] == str(PRESETS["llama3.1-8b"].max_model_len)


def test_every_service_restarts_and_stateful_ones_keep_volumes() -> None:
    services = compose()["services"]
    assert {"web", "worker", "model", "redis", "postgres", "migrate"} <= set(services)
    for name in ("web", "worker", "model", "redis", "postgres"):
        assert services[name].get("restart", compose()["x-app"]["restart"]) == "unless-stopped"
    for name in ("web", "model", "redis", "postgres"):
        assert "healthcheck" in services[name]
    assert services["postgres"]["volumes"]
    assert services["redis"]["volumes"]


def production_environment() -> dict[str, str]:
    """What docker-compose gives the web and worker containers (no service is contacted by `check`)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECURE": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
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
