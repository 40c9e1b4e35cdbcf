"""The compose file stays in step with the code it deploys."""

import re
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
