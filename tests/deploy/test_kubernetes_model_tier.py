"""The model tier's Helm values (deploy/vllm-stack/values) use only the chart's fields, serve what
model_service/vllm.py's presets serve, and are what the app overlays point at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from media.conf import MediaSettings
from model_service.vllm import PRESETS, VllmServeConfig
from tests.deploy.test_kubernetes import (
    MODEL_TIER,
    VOICE_OVERLAY,
    app_config,
    field_problems,
    find,
    overlay,
    rendered,
)

VALUES = MODEL_TIER / "values"
# Each layout file and the preset it deploys; every file in values/ but common.yaml is one.
LAYOUTS = {
    "llama3.1-8b.yaml": "llama3.1-8b",
    "llama3.1-70b-fp8.yaml": "llama3.1-70b-fp8",
    "llama3.1-405b-fp8.yaml": "llama3.1-405b-fp8",
    "llama3.1-405b-two-nodes.yaml": "llama3.1-405b",
    "guard-1b.yaml": "llama-guard-3-1b",
    "guard-8b.yaml": "llama-guard-3-8b",
    "vision-11b.yaml": "llama3.2-11b-vision",
    "vision-guard-11b.yaml": "llama-guard-3-11b-vision",
    "whisper-large-v3-turbo.yaml": "whisper-large-v3-turbo",
}
# Layouts run by vLLM's encoder-decoder engine, which has no prefix caching.
ENCODER_DECODER_LAYOUTS = {"vision-11b.yaml", "vision-guard-11b.yaml", "whisper-large-v3-turbo.yaml"}
# The layouts each app overlay is configured for: (chat model, guard).
OVERLAY_LAYOUTS = {
    "single-node": ("llama3.1-8b.yaml", "guard-1b.yaml"),
    "cluster": ("llama3.1-70b-fp8.yaml", "guard-8b.yaml"),
}
ROUTER_URL = "http://chat-router-service.llm.svc.cluster.local/v1"  # release `chat`, the chart's service name

# The vllm-stack chart's values (helm/values.yaml of vllm-project/production-stack, chart 0.1.12) that
# these files may set: a misspelt or invented key would be ignored by Helm without a word.
PROMETHEUS_SCALER = ({"serverAddress": str, "query": str, "threshold": str}, {"serverAddress", "query", "threshold"})
PROMETHEUS_TRIGGER = ({"type": str, "metadata": PROMETHEUS_SCALER}, {"type", "metadata"})
MODEL_SPEC = (
    {
        "name": str,
        "repository": str,
        "tag": str,
        "modelURL": str,
        "replicaCount": int,
        "requestCPU": int,
        "requestMemory": str,
        "limitCPU": int,
        "limitMemory": str,
        "requestGPU": int,
        "pvcStorage": str,
        "pvcExistingClaimName": str,
        "enableLoRA": bool,
        "enableTool": bool,
        "toolCallParser": str,
        "shmSize": str,
        "extraVolumes": None,
        "extraVolumeMounts": None,
        "vllmConfig": (
            {
                "tensorParallelSize": int,
                "pipelineParallelSize": int,
                "maxModelLen": int,
                "gpuMemoryUtilization": float,
                "enablePrefixCaching": bool,
                "extraArgs": [str],
            },
            {"tensorParallelSize", "maxModelLen", "gpuMemoryUtilization", "enablePrefixCaching", "extraArgs"},
        ),
        "keda": (
            {
                "enabled": bool,
                "minReplicaCount": int,
                "maxReplicaCount": int,
                "pollingInterval": int,
                "cooldownPeriod": int,
                "triggers": [PROMETHEUS_TRIGGER],
            },
            {"enabled", "triggers"},
        ),
        "raySpec": (
            {"enabled": bool, "headNode": {"requestCPU": int, "requestMemory": str, "requestGPU": int}},
            {"enabled", "headNode"},
        ),
    },
    {"name", "repository", "tag", "modelURL", "requestCPU", "requestMemory", "requestGPU", "vllmConfig"},
)
CHART_VALUES = {
    "servingEngineSpec": {
        "labels": None, "runtimeClassName": str, "imagePullPolicy": str, "securityContext": None,
        "containerSecurityContext": None, "env": None, "startupProbe": None, "tolerations": None,
        "modelSpec": [MODEL_SPEC],
    },
    "routerSpec": {
        "enableRouter": bool, "repository": str, "tag": str, "imagePullPolicy": str, "replicaCount": int,
        "routingLogic": str, "resources": None, "securityContext": None, "containerSecurityContext": None,
        "pdb": {"enabled": bool, "minAvailable": int},
        "autoscaling": {"enabled": bool, "minReplicas": int, "maxReplicas": int, "targetCPUUtilizationPercentage": int},
    },
}  # fmt: skip


def values(name: str) -> dict[str, Any]:
    return yaml.safe_load((VALUES / name).read_text())


def model_spec(layout: str) -> dict[str, Any]:
    [spec] = values(layout)["servingEngineSpec"]["modelSpec"]
    return spec


def option_pairs(argv: list[str]) -> dict[str, str | bool]:
    """`--flag value` and bare `--flag` options of a command line."""
    options: dict[str, str | bool] = {}
    for index, token in enumerate(argv):
        if token.startswith("--"):
            following = argv[index + 1] if index + 1 < len(argv) else "--"
            options[token] = True if following.startswith("--") else following
    return options


def chart_serve_options(spec: dict[str, Any]) -> dict[str, str | bool]:
    """The `vllm serve` options the chart builds from a modelSpec (its engine and Ray start templates)."""
    config = spec["vllmConfig"]
    argv = ["--tensor-parallel-size", str(config["tensorParallelSize"]), "--max-model-len", str(config["maxModelLen"])]
    argv += ["--gpu-memory-utilization", str(config["gpuMemoryUtilization"])]
    if "pipelineParallelSize" in config:
        argv += ["--pipeline-parallel-size", str(config["pipelineParallelSize"])]
    if spec.get("enableTool"):
        argv += ["--enable-auto-tool-choice"]
    if "toolCallParser" in spec:
        argv += ["--tool-call-parser", spec["toolCallParser"]]
    return option_pairs([*argv, *config["extraArgs"]])


def preset_serve_options(preset: VllmServeConfig) -> dict[str, str | bool]:
    options = option_pairs(preset.argv())
    del options["--host"], options["--port"]  # the chart sets these for its own service
    return options


def test_every_values_file_is_a_known_layout_or_common() -> None:
    assert {path.name for path in VALUES.glob("*.yaml")} == {"common.yaml", *LAYOUTS}


@pytest.mark.parametrize("name", ["common.yaml", *LAYOUTS])
def test_values_use_only_fields_the_chart_defines(name: str) -> None:
    assert field_problems(values(name), CHART_VALUES, name) == []


def test_the_chart_field_check_catches_a_misspelt_key() -> None:
    spec = model_spec("llama3.1-8b.yaml")
    spec["vllmConfig"]["maxModelLength"] = spec["vllmConfig"].pop("maxModelLen")

    problems = field_problems({"servingEngineSpec": {"modelSpec": [spec]}}, CHART_VALUES, "values")

    assert "values.servingEngineSpec.modelSpec[0].vllmConfig.maxModelLength: not a field of this resource" in problems
    assert "values.servingEngineSpec.modelSpec[0].vllmConfig.maxModelLen: required" in problems


@pytest.mark.parametrize(("layout", "preset_name"), LAYOUTS.items())
def test_each_layout_serves_its_preset(layout: str, preset_name: str) -> None:
    spec, preset = model_spec(layout), PRESETS[preset_name]

    assert spec["modelURL"] == preset.facts.hf_name
    assert chart_serve_options(spec) == preset_serve_options(preset)


@pytest.mark.parametrize(("layout", "preset_name"), LAYOUTS.items())
def test_each_layout_requests_the_gpus_its_parallel_layout_needs(layout: str, preset_name: str) -> None:
    spec, preset = model_spec(layout), PRESETS[preset_name]

    if "raySpec" in spec:
        # One Ray pod per pipeline stage (the head and replicaCount workers), each one tensor-parallel group.
        pods = 1 + spec["replicaCount"]
        assert pods == preset.pipeline_parallel_size
        assert spec["requestGPU"] == spec["raySpec"]["headNode"]["requestGPU"] == preset.tensor_parallel_size
        assert "keda" not in spec, "the chart renders no ScaledObject for Ray layouts"
    else:
        assert spec["requestGPU"] == preset.gpu_count()


def test_the_preset_check_catches_a_layout_that_drifts() -> None:
    spec = model_spec("llama3.1-70b-fp8.yaml")
    spec["vllmConfig"]["extraArgs"].remove("--quantization")

    assert chart_serve_options(spec) != preset_serve_options(PRESETS["llama3.1-70b-fp8"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_engines_cache_prefixes_read_the_shared_weights_and_scale_on_waiting_requests(layout: str) -> None:
    spec = model_spec(layout)
    served_name = option_pairs(spec["vllmConfig"]["extraArgs"])["--served-model-name"]

    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", spec["name"]), "the chart names Services after it"
    assert spec["vllmConfig"]["enablePrefixCaching"] is (layout not in ENCODER_DECODER_LAYOUTS)
    assert spec["pvcExistingClaimName"] == "model-weights"
    assert spec["tag"] != "latest"
    if "keda" in spec:
        [trigger] = spec["keda"]["triggers"]
        assert trigger["metadata"]["query"] == f'sum(vllm:num_requests_waiting{{model_name="{served_name}"}})'


def test_the_router_routes_by_prefix_and_serves_every_release() -> None:
    common = values("common.yaml")

    assert common["routerSpec"]["routingLogic"] == "prefixaware"
    assert common["routerSpec"]["tag"] != "latest"
    # The other releases reuse the chat release's router, which finds them by the shared engine labels.
    for layout in ("guard-1b.yaml", "guard-8b.yaml", "whisper-large-v3-turbo.yaml"):
        assert values(layout)["routerSpec"] == {"enableRouter": False}
        assert "labels" not in values(layout)["servingEngineSpec"]


@pytest.mark.parametrize(("name", "layouts"), OVERLAY_LAYOUTS.items())
def test_the_app_asks_the_router_for_the_models_its_overlay_deploys(name: str, layouts: tuple[str, str]) -> None:
    config = app_config(overlay(name))
    chat, guard = (PRESETS[LAYOUTS[layout]] for layout in layouts)

    assert config["MODEL_BASE_URL"] == config["SAFETY_GUARD_BASE_URL"] == ROUTER_URL
    assert config["MODEL_NAME"] == chat.served_name
    assert int(config["MODEL_CONTEXT_WINDOW"]) == chat.max_model_len
    assert config["SAFETY_GUARD_MODEL"] == guard.served_name


def test_the_voice_overlay_asks_the_router_for_the_whisper_layouts_model() -> None:
    config = app_config(overlay(VOICE_OVERLAY))
    whisper = PRESETS[LAYOUTS["whisper-large-v3-turbo.yaml"]]

    assert config["MEDIA_TRANSCRIPTION_BASE_URL"] == ROUTER_URL
    asked_for = config.get("MEDIA_TRANSCRIPTION_MODEL", MediaSettings.model_fields["transcription_model"].default)
    assert asked_for == whisper.served_name


def test_the_weights_job_downloads_the_single_node_layout() -> None:
    job = find(rendered(MODEL_TIER), "Job", "model-weights")
    downloads = job["spec"]["template"]["spec"]["containers"][0]["args"]

    assert downloads == [model_spec(layout)["modelURL"] for layout in OVERLAY_LAYOUTS["single-node"]]


@pytest.mark.parametrize("path", sorted(VALUES.glob("*.yaml")), ids=lambda path: path.name)
def test_values_hold_no_secret(path: Path) -> None:
    text = path.read_text()

    # Either would make the chart create a Secret from a string in the values file.
    assert "hf_token" not in text
    assert "vllmApiKey" not in text
