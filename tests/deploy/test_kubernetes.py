"""The Kubernetes manifests (deploy/kubernetes, deploy/vllm-stack) render, match the API schemas and
the custom resources' fields, follow the pod policy, and stay in step with the code and with compose."""

from __future__ import annotations

import copy
import functools
import ipaddress
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("single-node", "cluster")
# single-node with components/cpu-guard: the content guard on CPU instead of Llama Guard on the model tier.
CPU_GUARD_OVERLAY = "single-node-cpu-guard"
# single-node with components/voice: Whisper on the model tier and the speech server beside the app.
VOICE_OVERLAY = "single-node-voice"
MODEL_TIER = ROOT / "deploy" / "vllm-stack"
KUBERNETES_VERSION = "1.32"  # the kubectl on this machine kind; manifests must not need a newer API
APP_IMAGE = "registry.example.com/llama-assistant"
APP_NAMESPACE = "assistant"

Manifest = dict[str, Any]


@functools.cache
def rendered(directory: Path) -> tuple[Manifest, ...]:
    """What `kubectl apply -k directory` would send, as parsed objects."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(yaml.safe_load_all(result.stdout))


def overlay(name: str) -> tuple[Manifest, ...]:
    return rendered(ROOT / "deploy" / "kubernetes" / "overlays" / name)


def find(manifests: tuple[Manifest, ...] | list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def app_config(manifests: tuple[Manifest, ...]) -> dict[str, str]:
    return find(manifests, "ConfigMap", "assistant-config")["data"]


def pod_spec(manifest: Manifest) -> Manifest | None:
    template = manifest.get("spec", {}).get("template", {})
    return template.get("spec") if manifest["kind"] in {"Deployment", "StatefulSet", "Job"} else None


def containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(manifests: tuple[Manifest, ...]) -> list[Manifest]:
    return [m for m in manifests if pod_spec(m) is not None]


def app_containers(manifests: tuple[Manifest, ...]) -> list[Manifest]:
    return [c for m in workloads(manifests) for c in containers(pod_spec(m)) if c["image"].startswith(APP_IMAGE)]


def compose() -> Manifest:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def celery_queues(container: Manifest) -> set[str]:
    command = container.get("command", [])
    return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else set()


# --- Schemas ---------------------------------------------------------------------------------------

# The custom resources' fields these manifests may use, from each project's reference: KEDA's
# ScaledObject and redis scaler (keda.sh/docs/scalers/redis-lists), CloudNativePG's Cluster
# (cloudnative-pg.io/documentation, API reference). `None` leaves a field's inside unchecked; a dict
# lists the fields allowed inside; a tuple (fields, required) also names the ones that must be there.
# Every trigger here is KEDA's redis list scaler, so a trigger's metadata is checked as that scaler's.
REDIS_SCALER = (
    {
        "address": str, "addressFromEnv": str, "host": str, "hostFromEnv": str, "port": str, "portFromEnv": str,
        "usernameFromEnv": str, "passwordFromEnv": str, "listName": str, "listLength": str,
        "activationListLength": str, "enableTLS": str, "unsafeSsl": str, "databaseIndex": str,
    },
    {"listName"},
)  # fmt: skip
CUSTOM_RESOURCES: dict[tuple[str, str], Any] = {
    ("keda.sh/v1alpha1", "ScaledObject"): (
        {
            "scaleTargetRef": ({"apiVersion": str, "kind": str, "name": str, "envSourceContainerName": str}, {"name"}),
            "pollingInterval": int, "cooldownPeriod": int, "initialCooldownPeriod": int, "idleReplicaCount": int,
            "minReplicaCount": int, "maxReplicaCount": int, "fallback": None, "advanced": None,
            "triggers": [({"type": str, "name": str, "metadata": REDIS_SCALER, "authenticationRef": None,
                           "metricType": str, "useCachedMetrics": bool}, {"type", "metadata"})],
        },
        {"scaleTargetRef", "triggers"},
    ),
    ("postgresql.cnpg.io/v1", "Cluster"): (
        {
            "instances": int, "imageName": str, "primaryUpdateStrategy": str, "primaryUpdateMethod": str,
            "inheritedMetadata": {"labels": None, "annotations": None},
            "bootstrap": {"initdb": ({"database": str, "owner": str, "secret": None, "encoding": str,
                                      "localeCollate": str, "localeCType": str, "postInitSQL": None}, set())},
            "postgresql": {"parameters": None, "pg_hba": None, "shared_preload_libraries": None},
            "storage": ({"size": str, "storageClass": str, "resizeInUseVolumes": bool, "pvcTemplate": None}, {"size"}),
            "walStorage": ({"size": str, "storageClass": str, "pvcTemplate": None}, {"size"}),
            "resources": {"requests": None, "limits": None},
            "affinity": {"enablePodAntiAffinity": bool, "topologyKey": str, "podAntiAffinityType": str,
                         "nodeSelector": None, "tolerations": None},
            "monitoring": {"enablePodMonitor": bool, "customQueriesConfigMap": None},
            "enableSuperuserAccess": bool, "backup": None, "description": str,
        },
        {"instances", "storage"},
    ),
}  # fmt: skip


def field_problems(value: Any, schema: Any, path: str) -> list[str]:
    """Where `value` departs from `schema`: unknown fields, missing required ones, wrong types."""
    if schema is None:
        return []
    if isinstance(schema, type):
        return [] if isinstance(value, schema) else [f"{path}: {value!r} is not {schema.__name__}"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, item in enumerate(value) for p in field_problems(item, schema[0], f"{path}[{i}]")]
    fields, required = schema if isinstance(schema, tuple) else (schema, set())
    if not isinstance(value, dict):
        return [f"{path}: not a mapping"]
    problems = [f"{path}.{name}: not a field of this resource" for name in value.keys() - fields.keys()]
    problems += [f"{path}.{name}: required" for name in required - value.keys()]
    return problems + [
        p for name in value.keys() & fields.keys() for p in field_problems(value[name], fields[name], f"{path}.{name}")
    ]


def custom_resource_problems(manifest: Manifest) -> list[str]:
    schema = CUSTOM_RESOURCES[manifest["apiVersion"], manifest["kind"]]
    return field_problems(manifest["spec"], schema, f"{manifest['kind']}/{manifest['metadata']['name']}.spec")


def all_renders() -> list[Any]:
    """Every kustomization, as test parameters: the overlays, with the CPU guard's and the voice servers',
    and the model tier's namespace."""
    renders = [
        *((name, overlay(name)) for name in (*OVERLAYS, CPU_GUARD_OVERLAY, VOICE_OVERLAY)),
        ("vllm-stack", rendered(MODEL_TIER)),
    ]
    return [pytest.param(manifests, id=name) for name, manifests in renders]


@pytest.mark.parametrize("manifests", all_renders())
def test_every_manifest_matches_the_kubernetes_schemas_or_its_custom_resource_fields(
    manifests: tuple[Manifest, ...],
) -> None:
    problems = []
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
            problems += custom_resource_problems(manifest)
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message}")
    assert problems == []


@pytest.mark.parametrize(
    ("kind", "name", "path", "value", "problem"),
    [
        ("ScaledObject", "worker-default", ["spec", "maxReplicas"], 3, "not a field of this resource"),
        ("ScaledObject", "worker-default", ["spec", "triggers", 0, "metadata", "listLength"], 8, "is not str"),
        ("Cluster", "assistant", ["spec", "storage", "sizee"], "1Gi", "not a field of this resource"),
    ],
)
def test_the_custom_resource_check_catches_a_wrong_field(
    kind: str, name: str, path: list, value: Any, problem: str
) -> None:
    manifest = copy.deepcopy(find(overlay("cluster"), kind, name))
    *parents, last = path
    target = manifest
    for key in parents:
        target = target[key]
    target[last] = value

    assert any(problem in found for found in custom_resource_problems(manifest))


def test_the_schema_check_catches_a_misspelt_kubernetes_field() -> None:
    web = copy.deepcopy(find(overlay("single-node"), "Deployment", "web"))
    web["spec"]["template"]["spec"]["terminationGracePeriod"] = 45

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)


# --- Pod policy ------------------------------------------------------------------------------------


def services_select(manifests: tuple[Manifest, ...], labels: dict[str, str]) -> bool:
    selectors = [m["spec"]["selector"] for m in manifests if m["kind"] == "Service"]
    return any(selector.items() <= labels.items() for selector in selectors)


def policy_violations(manifests: tuple[Manifest, ...]) -> list[str]:
    """Non-root, read-only root filesystem, requests and limits, pinned images, and probes: readiness and
    liveness on servers (pods behind a Service), liveness on every other long-running pod."""
    found = []
    for manifest in workloads(manifests):
        spec, name = pod_spec(manifest), f"{manifest['kind']}/{manifest['metadata']['name']}"
        labels = manifest["spec"]["template"]["metadata"]["labels"]
        long_running = manifest["kind"] != "Job"
        for container in containers(spec):
            where = f"{name} {container['name']}"
            security = container.get("securityContext", {})
            if not security.get("runAsNonRoot", spec.get("securityContext", {}).get("runAsNonRoot")):
                found.append(f"{where}: may run as root")
            if not security.get("readOnlyRootFilesystem"):
                found.append(f"{where}: writable root filesystem")
            if security.get("allowPrivilegeEscalation") is not False:
                found.append(f"{where}: may escalate privileges")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                found.append(f"{where}: keeps Linux capabilities")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                if not {"cpu", "memory"} <= resources.get(bound, {}).keys():
                    found.append(f"{where}: no cpu and memory {bound}")
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                found.append(f"{where}: image {image} is not pinned")
            if not long_running or container in spec.get("initContainers", []):
                continue
            if "livenessProbe" not in container:
                found.append(f"{where}: no liveness probe")
            if services_select(manifests, labels) and "readinessProbe" not in container:
                found.append(f"{where}: serves without a readiness probe")
    return found


@pytest.mark.parametrize("manifests", all_renders())
def test_every_pod_follows_the_policy(manifests: tuple[Manifest, ...]) -> None:
    assert policy_violations(manifests) == []


def web_container(deployment: Manifest) -> Manifest:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "app")


BREAKAGES = {
    "may run as root": lambda web: web["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
    "writable root filesystem": lambda web: web_container(web)["securityContext"].update(readOnlyRootFilesystem=False),
    "no cpu and memory limits": lambda web: web_container(web)["resources"].pop("limits"),
    "is not pinned": lambda web: web_container(web).update(image="registry.example.com/llama-assistant:latest"),
    "serves without a readiness probe": lambda web: web_container(web).pop("readinessProbe"),
    "no liveness probe": lambda web: web_container(web).pop("livenessProbe"),
    "keeps Linux capabilities": lambda web: web_container(web)["securityContext"].pop("capabilities"),
}


@pytest.mark.parametrize("violation", sorted(BREAKAGES))
def test_the_policy_check_catches_a_broken_manifest(violation: str) -> None:
    manifests = overlay("single-node")
    web = find(manifests, "Deployment", "web")
    broken_web = copy.deepcopy(web)
    BREAKAGES[violation](broken_web)
    others = tuple(m for m in manifests if m is not web)

    assert any(violation in found for found in policy_violations((*others, broken_web)))


# --- Secrets -----------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(^|_)(SECRETS?|TOKEN|PASSWORD|KEY|APP_ID)(_|$)|^DATABASE_URL$")


def inlined_secrets(manifests: tuple[Manifest, ...]) -> list[str]:
    """Secret objects, secret-looking ConfigMap keys, and secret-looking variables not read from a Secret."""
    found = [f"Secret/{m['metadata']['name']}" for m in manifests if m["kind"] == "Secret"]
    for manifest in manifests:
        if manifest["kind"] == "ConfigMap":
            found += [
                f"ConfigMap/{manifest['metadata']['name']}: {key}"
                for key in manifest["data"]
                if SECRET_NAME.search(key)
            ]
        for container in containers(pod_spec(manifest)) if pod_spec(manifest) else []:
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]) and "secretKeyRef" not in variable.get("valueFrom", {}):
                    found.append(f"{manifest['metadata']['name']} {container['name']}: {variable['name']}")
    return found


@pytest.mark.parametrize("manifests", all_renders())
def test_secrets_are_referenced_never_inlined(manifests: tuple[Manifest, ...]) -> None:
    assert inlined_secrets(manifests) == []


def test_the_secret_check_catches_an_inlined_secret() -> None:
    manifests = overlay("single-node")
    config = copy.deepcopy(find(manifests, "ConfigMap", "assistant-config"))
    config["data"]["DJANGO_SECRET_KEY"] = "x" * 50
    web = copy.deepcopy(find(manifests, "Deployment", "web"))
    web_container(web)["env"].append({"name": "TELEGRAM_BOT_TOKEN", "value": "123:abc"})

    assert inlined_secrets((config, web)) == [
        "ConfigMap/assistant-config: DJANGO_SECRET_KEY",
        "web app: TELEGRAM_BOT_TOKEN",
    ]


# --- Settings ----------------------------------------------------------------------------------------

# Settings config/settings.py reads that the manifests leave at their defaults, and why each default
# holds in production. A new setting fails test_every_setting_is_set_or_safe_by_default until it is set
# in the manifests or added here.
SAFE_DEFAULTS = {
    "secure whenever DJANGO_SECURE is true (config.yaml sets it)": {
        "DJANGO_DEBUG", "DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_HSTS_SECONDS",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "DJANGO_SECURE_HSTS_PRELOAD", "DJANGO_BEHIND_PROXY",
    },
    "tuned defaults, each explained in docs/operations.md (Settings)": {
        "ASSISTANT_FLUSH_INTERVAL_MS", "ASSISTANT_FRAME_INTERVAL_MS", "CHANNEL_LAYER_MAX_CONNECTIONS",
        "DATABASE_CONN_MAX_AGE", "CELERY_REDELIVERY_SCAN_SECONDS", "CELERY_RESULT_EXPIRES", "CELERY_VISIBILITY_TIMEOUT",
        "MODEL_CONNECT_TIMEOUT", "MODEL_READ_TIMEOUT", "MODEL_FIRST_TOKEN_TIMEOUT", "MODEL_RETRIES",
        "MODEL_MAX_CONNECTIONS", "MODEL_MAX_TOKENS", "MODEL_TEMPERATURE", "MODEL_EXTRA_BODY",
        "SEARCH_TIMEOUT_SECONDS", "SEARCH_MAX_SOURCES", "SEARCH_CACHE_SECONDS", "SAFETY_GUARD_TIMEOUT",
        "SAFETY_GUARD_MAX_CONNECTIONS",
        "SAFETY_OUTPUT_CHECK_CHARS", "IMAGINE_FINAL_STEPS", "IMAGINE_PROMPTS_PER_SECOND", "IMAGINE_DEVICE",
        "IMAGINE_DTYPE", "IMAGINE_PREVIEW_AUTOENCODER", "IMAGINE_ANIMATE_MODEL",
        "INTEGRATIONS_SEND_TIMEOUT_SECONDS", "INTEGRATIONS_SEND_ATTEMPTS", "INTEGRATIONS_SEND_BACKOFF_SECONDS",
        "INTEGRATIONS_SEND_MAX_BACKOFF_SECONDS", "INTEGRATIONS_REQUEUE_AFTER_SECONDS",
        "INTEGRATIONS_REQUEUE_WITHIN_SECONDS", "INTEGRATIONS_WEBHOOK_FAST_PATH", "LOG_LEVEL",
        "MEDIA_PROCESS_TIMEOUT", "MEDIA_WAIT_SECONDS", "KNOWLEDGE_EXTRACTION_SECONDS",
    },
    "abuse limits and quotas, the product's own (docs/safety.md)": {
        "RATE_LIMIT_MESSAGES_PER_USER", "RATE_LIMIT_MESSAGES_PER_IP", "RATE_LIMIT_API_PER_USER",
        "RATE_LIMIT_API_PER_IP", "RATE_LIMIT_MESSAGING_PER_USER", "RATE_LIMIT_IMAGINE_PER_USER",
        "RATE_LIMIT_IMAGINE_PER_IP", "RATE_LIMIT_LOGINS_PER_IP", "RATE_LIMIT_GUESTS_PER_IP",
        "RATE_LIMIT_UPLOADS_PER_USER", "RATE_LIMIT_UPLOADS_PER_IP", "ASSISTANT_DAILY_TOKENS",
        "ASSISTANT_GUEST_DAILY_TOKENS_PER_IP",
        "ASSISTANT_GUEST_DAILY_TOKENS", "ASSISTANT_MAX_MESSAGE_CHARS", "ASSISTANT_MAX_CONVERSATION_MESSAGES",
        "SAFETY_CHECKS", "SAFETY_CODE_SHIELD", "SAFETY_CODE_BLOCK_SEVERITY",
        "CODE_INTERPRETER_CPU_SECONDS", "CODE_INTERPRETER_WALL_SECONDS", "CODE_INTERPRETER_MEMORY_MIB",
        "CODE_INTERPRETER_PROCESSES", "CODE_INTERPRETER_WAIT_SECONDS", "MODEL_TOOL_FORMAT", "MODEL_GUIDED_DECODING",
    },
    "caps on what people send, from the messaging apps' own limits (docs/subsystems/media.md, knowledge.md)": {
        "MEDIA_PHOTO_MAX_BYTES", "MEDIA_VOICE_MAX_BYTES", "MEDIA_PHOTO_MAX_PIXELS", "MEDIA_VOICE_MAX_SECONDS",
        "KNOWLEDGE_MAX_FILE_BYTES", "KNOWLEDGE_MAX_PAGES", "KNOWLEDGE_MAX_CHARACTERS",
        "MEDIA_PHOTO_MAX_SIDE",  # and the size photos are kept at, from the vision model's tiles
    },
    "the product's behaviour, the same in every deployment": {
        "ASSISTANT_SYSTEM_PROMPT", "ASSISTANT_MODEL_TITLES", "ASSISTANT_CONCURRENT_ANSWERS",
        "SEARCH_FETCH_ALLOWED_HOSTS", "KNOWLEDGE_EXTRACTION_MODEL", "KNOWLEDGE_CONTENT_CHECK",
        "MEDIA_VOICE_REPLY_TO_VOICE",
    },
    "the messaging apps' public API addresses": {
        "META_GRAPH_API_BASE_URL", "META_GRAPH_API_VERSION", "TELEGRAM_API_BASE_URL",
    },
    "unused here: media go to MEDIA_S3_BUCKET, the guard to SAFETY_GUARD_BASE_URL": {
        "MEDIA_ROOT", "SAFETY_GUARD_GGUF", "SAFETY_EMBEDDED_CHECKS_ANSWERS", "SAFETY_EMBEDDED_THRESHOLD",
        "SAFETY_EMBEDDED_GUARD_PORT",
    },
    "Llama Guard judges answers; the cpu-guard component turns it off for the stand-in": {
        "SAFETY_GUARD_JUDGES_ANSWERS",
    },
    "derived from CHANNEL_LAYER_URL, one deployment per Redis server": {"CHANNEL_LAYER_PREFIX"},
    "the vision release is optional (values/vision-11b.yaml): unset, photos are known by their OCR reading": {
        "MODEL_VISION_BASE_URL", "MODEL_VISION_NAME", "MODEL_VISION_API_KEY", "MODEL_VISION_CONTEXT_WINDOW",
    },
    "the vision guard's release is optional (values/vision-guard-11b.yaml): unset, photos are judged by their text": {
        "SAFETY_VISION_GUARD_BASE_URL", "SAFETY_VISION_GUARD_MODEL", "SAFETY_VISION_GUARD_API_KEY",
        "SAFETY_VISION_GUARD_TIMEOUT",
    },
    "the voice servers are optional (components/voice): unset, the media worker's pocketsphinx and espeak-ng": {
        "MEDIA_TRANSCRIPTION_BASE_URL", "MEDIA_TRANSCRIPTION_MODEL", "MEDIA_TRANSCRIPTION_TIMEOUT",
        "MEDIA_TRANSCRIPTION_DETECT_LANGUAGE",  # the model tier's Whisper runs vLLM 0.19.1, which detects
        "MEDIA_SPEECH_BASE_URL", "MEDIA_SPEECH_MODEL", "MEDIA_SPEECH_VOICE", "MEDIA_SPEECH_TIMEOUT",
    },
}  # fmt: skip


SETTING_READ = re.compile(r'(?:\benv|Env\(\))\.\w+\(\s*"([A-Z0-9_]+)"')


def settings_read() -> set[str]:
    """The environment variables config/settings.py reads (`env.str("NAME", …)`, over one or more lines)."""
    return set(SETTING_READ.findall((ROOT / "config" / "settings.py").read_text()))


def image_environment() -> set[str]:
    """Variables the Dockerfile's ENV lines set in the app image."""
    return {name for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("ENV ")
            for name in re.findall(r"(\w+)=", line)}  # fmt: skip


def environment_names(container: Manifest, config: dict[str, str]) -> set[str]:
    from_config = set(config) if any("configMapRef" in source for source in container.get("envFrom", [])) else set()
    return from_config | {variable["name"] for variable in container.get("env", [])} | image_environment()


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_setting_is_set_or_safe_by_default(name: str) -> None:
    manifests = overlay(name)
    safe = set().union(*SAFE_DEFAULTS.values())
    read = settings_read()
    main_containers = [c for c in app_containers(manifests) if c["name"] == "app"]

    assert safe <= read, f"no longer read by config/settings.py: {sorted(safe - read)}"
    for container in main_containers:
        set_here = environment_names(container, app_config(manifests))
        assert read - safe <= set_here, f"neither set nor safe by default: {sorted(read - safe - set_here)}"
        assert not safe & set_here, f"set, so not left to its default: {sorted(safe & set_here)}"


def test_settings_read_finds_names_across_lines() -> None:
    assert {"ASSISTANT_MAX_CONVERSATION_MESSAGES", "ASSISTANT_VAR_DIR", "DATABASE_URL"} <= settings_read()


def deployed_environment(manifests: tuple[Manifest, ...], tmp_path: Path) -> dict[str, str]:
    """The web container's environment, with a stand-in value for each Secret it reads."""
    web = web_container(find(manifests, "Deployment", "web"))
    stand_ins = {
        "DATABASE_URL": "postgres://assistant:secret@postgres:5432/assistant",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    }
    environment = {
        **os.environ,
        **app_config(manifests),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ASSISTANT_VAR_DIR": str(tmp_path),
    }
    for variable in web["env"]:
        reference = variable.get("valueFrom", {}).get("secretKeyRef", {})
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        elif not reference.get("optional"):
            environment[variable["name"]] = stand_ins.get(variable["name"], "stand-in-secret")
    return environment


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_deployed_settings_pass_check_deploy(name: str, tmp_path: Path) -> None:
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    environment = deployed_environment(overlay(name), tmp_path)

    result = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_channel_layer_has_one_shard_per_redis_channels_pod(name: str, tmp_path: Path) -> None:
    manifests = overlay(name)
    pods = find(manifests, "StatefulSet", "redis-channels")["spec"]["replicas"]
    show_hosts = "from django.conf import settings; print(len(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts']))"
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", show_hosts]

    result = subprocess.run(
        command,
        cwd=ROOT,
        env=deployed_environment(manifests, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == pods
    assert app_config(manifests)["CHANNEL_LAYER_URL"].split(",") == [
        f"redis://redis-channels-{ordinal}.redis-channels:6379/0" for ordinal in range(pods)
    ]


@pytest.mark.parametrize("name", OVERLAYS)
def test_probes_send_a_host_the_app_accepts(name: str) -> None:
    manifests = overlay(name)
    allowed = app_config(manifests)["DJANGO_ALLOWED_HOSTS"].split(",")
    probes = [
        container[probe]["httpGet"]
        for container in app_containers(manifests)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        if "httpGet" in container.get(probe, {})
    ]

    assert probes
    for probe in probes:
        [host] = [header["value"] for header in probe.get("httpHeaders", []) if header["name"] == "Host"]
        assert host in allowed, "a pod IP as Host would fail Django's host validation"


# --- Processes: compose counterparts, queues, drain ---------------------------------------------------

# Each compose service and what runs it on Kubernetes: (kind, name) in an overlay, or a model-tier values file.
COUNTERPARTS = {
    "migrate": [("Job", "migrate")],
    "web": [("Deployment", "web")],
    "worker": [("Deployment", "worker-default")],
    "search": [("Deployment", "worker-search")],
    "code": [("Deployment", "worker-code")],
    "documents": [("Deployment", "worker-documents")],
    "media": [("Deployment", "worker-media")],
    "beat": [("Deployment", "beat")],
    "imagine": [("Deployment", "imagine")],
    "searxng": [("Deployment", "searxng")],
    "redis": [("StatefulSet", "redis-channels"), ("StatefulSet", "redis-broker")],
    "postgres": [("StatefulSet", "postgres"), ("Cluster", "assistant")],  # single-node, cluster
    "model": [("values", "llama3.1-8b.yaml"), ("values", "llama3.1-70b-fp8.yaml")],
    "guard": [("values", "guard-1b.yaml"), ("values", "guard-8b.yaml")],
    "vision": [("values", "vision-11b.yaml")],
    "vision-guard": [("values", "vision-guard-11b.yaml")],
    "transcription": [("values", "whisper-large-v3-turbo.yaml")],
    "speech": [("Deployment", "speech")],
    "cpu-guard": [("Deployment", "cpu-guard")],
}


def test_every_compose_service_has_a_kubernetes_counterpart() -> None:
    assert set(compose()["services"]) == set(COUNTERPARTS)
    renders = (*OVERLAYS, CPU_GUARD_OVERLAY, VOICE_OVERLAY)
    objects = {(m["kind"], m["metadata"]["name"]) for name in renders for m in overlay(name)}
    for service, counterparts in COUNTERPARTS.items():
        for kind, name in counterparts:
            exists = (MODEL_TIER / "values" / name).is_file() if kind == "values" else (kind, name) in objects
            assert exists, f"{service}: {kind} {name} is missing"


@pytest.mark.parametrize("name", OVERLAYS)
def test_services_run_the_same_images_and_commands_as_compose(name: str) -> None:
    manifests, services = overlay(name), compose()["services"]
    same_as_compose = {
        "searxng": ("Deployment", "searxng"),
        "beat": ("Deployment", "beat"),
        "worker": ("Deployment", "worker-default"),
        "search": ("Deployment", "worker-search"),
        "documents": ("Deployment", "worker-documents"),
        "media": ("Deployment", "worker-media"),
        "migrate": ("Job", "migrate"),
    }
    if name == "single-node":
        same_as_compose["postgres"] = ("StatefulSet", "postgres")
    for service, (kind, deployed) in same_as_compose.items():
        container = pod_spec(find(manifests, kind, deployed))["containers"][0]
        assert container.get("command") == services[service].get("command"), service
        if "image" in services[service]:
            assert container["image"] == services[service]["image"], service
    for server in ("redis-channels", "redis-broker"):
        image = pod_spec(find(manifests, "StatefulSet", server))["containers"][0]["image"]
        assert image.startswith(services["redis"]["image"] + "."), "same Redis major version as compose"


@pytest.mark.parametrize("name", OVERLAYS)
def test_workers_consume_every_queue_tasks_are_routed_to(name: str) -> None:
    manifests = overlay(name)
    consumed = [queue for container in app_containers(manifests) for queue in celery_queues(container)]
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}

    assert sorted(consumed) == sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *routed}), (
        "one worker Deployment per queue: add one (and its ScaledObject) to deploy/kubernetes/base/workers.yaml"
    )


@pytest.mark.parametrize("name", OVERLAYS)
def test_thread_pool_workers_have_a_database_connection_more_than_threads(name: str) -> None:
    """Else the worker refuses to start (config/celery.py): its tasks could hold every connection."""
    manifests = overlay(name)
    pool = int(app_config(manifests)["DATABASE_POOL_MAX_SIZE"])
    threaded = [c for c in app_containers(manifests) if "threads" in c.get("command", [])]

    assert sorted(queue for container in threaded for queue in celery_queues(container)) == ["default", "imagine"]
    for container in threaded:
        command = container["command"]
        assert pool > int(command[command.index("--concurrency") + 1]), command


@pytest.mark.parametrize("name", OVERLAYS)
def test_keda_scales_each_worker_on_its_own_queue_in_the_broker(name: str) -> None:
    manifests = overlay(name)
    broker = re.fullmatch(r"redis://([\w-]+):(\d+)/(\d+)", app_config(manifests)["CELERY_BROKER_URL"])
    scaled = [m for m in manifests if m["kind"] == "ScaledObject"]
    workers = {m["metadata"]["name"]: m for m in workloads(manifests) if celery_queues(pod_spec(m)["containers"][0])}

    assert sorted(s["spec"]["scaleTargetRef"]["name"] for s in scaled) == sorted(workers)
    for scaled_object in scaled:
        [trigger] = scaled_object["spec"]["triggers"]
        metadata = trigger["metadata"]
        target = workers[scaled_object["spec"]["scaleTargetRef"]["name"]]
        assert trigger["type"] == "redis"
        assert {metadata["listName"]} == celery_queues(pod_spec(target)["containers"][0])
        assert metadata["address"] == f"{broker[1]}.{APP_NAMESPACE}.svc.cluster.local:{broker[2]}"
        assert metadata["databaseIndex"] == broker[3]
        assert 1 <= scaled_object["spec"]["minReplicaCount"] <= scaled_object["spec"]["maxReplicaCount"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_gpu_workers_land_on_gpu_nodes_with_a_gpu_each(name: str) -> None:
    imagine = pod_spec(find(overlay(name), "Deployment", "imagine"))
    resources = imagine["containers"][0]["resources"]

    assert imagine["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in imagine["tolerations"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "1"


@pytest.mark.parametrize("name", OVERLAYS)
def test_web_drains_answers_for_the_grace_period_before_it_is_killed(name: str) -> None:
    manifests = overlay(name)
    web = find(manifests, "Deployment", "web")
    pod = web["spec"]["template"]["spec"]
    container = web_container(web)
    default_grace = settings.ASSISTANT_SHUTDOWN_GRACE_SECONDS  # what the app uses when the manifests leave it unset
    answer_grace = float(app_config(manifests).get("ASSISTANT_SHUTDOWN_GRACE_SECONDS", default_grace))
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]

    # Kubernetes counts the preStop hook inside terminationGracePeriodSeconds; SIGTERM comes after it.
    assert pod["terminationGracePeriodSeconds"] - pre_stop > answer_grace
    assert find(manifests, "PodDisruptionBudget", "web")["spec"]["maxUnavailable"] == 1
    workers_grace = [
        pod_spec(m)["terminationGracePeriodSeconds"]
        for m in workloads(manifests)
        if celery_queues(pod_spec(m)["containers"][0])
    ]
    assert min(workers_grace) >= int(compose()["services"]["worker"]["stop_grace_period"].removesuffix("s"))


def test_web_ingress_keeps_chat_sockets_open_and_unbuffered() -> None:
    ingress = find(overlay("cluster"), "Ingress", "web")
    annotations = ingress["metadata"]["annotations"]
    [rule] = ingress["spec"]["rules"]

    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert rule["host"] in app_config(overlay("cluster"))["DJANGO_ALLOWED_HOSTS"].split(",")
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "web"


def test_searxng_gets_the_settings_compose_mounts() -> None:
    deployed = find(overlay("single-node"), "ConfigMap", "searxng")["data"]["settings.yml"]

    assert yaml.safe_load(deployed) == yaml.safe_load((ROOT / "deploy" / "searxng" / "settings.yml").read_text())


def test_the_app_reads_the_secret_cloudnativepg_creates() -> None:
    cluster = find(overlay("cluster"), "Cluster", "assistant")
    readers = {
        variable["valueFrom"]["secretKeyRef"]["name"]
        for container in app_containers(overlay("cluster"))
        for variable in container.get("env", [])
        if variable["name"] == "DATABASE_URL"
    }

    assert readers == {f"{cluster['metadata']['name']}-app"}
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "assistant", "owner": "assistant"}


# --- NetworkPolicies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None  # None: outside the cluster
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    ip: str = "10.1.2.3"


INTERNET = Endpoint(None, ip="93.184.215.14")
METADATA_SERVICE = Endpoint(None, ip="169.254.169.254")
DNS = Endpoint("kube-system", {"k8s-app": "kube-dns"})
INGRESS_CONTROLLER = Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
ROUTER = Endpoint("llm", {"app.kubernetes.io/component": "router"})


def matches(selector: dict, labels: dict[str, str]) -> bool:
    expressions = selector.get("matchExpressions", [])
    return selector.get("matchLabels", {}).items() <= labels.items() and all(
        (labels.get(e["key"]) in e["values"]) == (e["operator"] == "In") for e in expressions
    )


def peer_matches(peer: dict, endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(endpoint.ip)
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return endpoint.namespace is None and address in ipaddress.ip_network(block["cidr"]) and not excluded
    if endpoint.namespace is None:
        return False
    namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
    in_namespace = (
        matches(peer["namespaceSelector"], namespace_labels)
        if "namespaceSelector" in peer
        else endpoint.namespace == policy_namespace
    )
    return in_namespace and matches(peer.get("podSelector", {}), endpoint.labels)


def rule_allows(rule: Manifest, peers_key: str, peer: Endpoint, port: int, protocol: str, namespace: str) -> bool:
    """One ingress or egress rule: no peers listed means any peer, no ports listed means any port."""
    peers, ports = rule.get(peers_key), rule.get("ports")
    peer_ok = not peers or any(peer_matches(p, peer, namespace) for p in peers)
    port_ok = not ports or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)
    return peer_ok and port_ok


def direction_allows(
    policies: list[Manifest], pod: Endpoint, peer: Endpoint, port: int, protocol: str, kind: str
) -> bool:
    """Kubernetes' rule: a pod no policy of this kind selects is open; otherwise some rule must allow."""
    key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    applying = [
        p for p in policies
        if p["metadata"]["namespace"] == pod.namespace and kind in p["spec"]["policyTypes"]
        and matches(p["spec"]["podSelector"], pod.labels)
    ]  # fmt: skip
    if pod.namespace is None or not applying:
        return True
    return any(
        rule_allows(rule, peers_key, peer, port, protocol, policy["metadata"]["namespace"])
        for policy in applying
        for rule in policy["spec"].get(key, [])
    )


def reachable(policies: list[Manifest], source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP") -> bool:
    return direction_allows(policies, source, target, port, protocol, "Egress") and direction_allows(
        policies, target, source, port, protocol, "Ingress"
    )


def app_pod(manifests: tuple[Manifest, ...], kind: str, name: str) -> Endpoint:
    manifest = find(manifests, kind, name)
    if kind == "Cluster":  # CloudNativePG's pods: its inherited labels and the cluster's own
        return Endpoint(APP_NAMESPACE, {**manifest["spec"]["inheritedMetadata"]["labels"], "cnpg.io/cluster": name})
    return Endpoint(APP_NAMESPACE, manifest["spec"]["template"]["metadata"]["labels"])


def model_server() -> Endpoint:
    common = yaml.safe_load((MODEL_TIER / "values" / "common.yaml").read_text())
    return Endpoint("llm", {**common["servingEngineSpec"]["labels"], "app.kubernetes.io/component": "serving-engine"})


# What runs PostgreSQL in each overlay: a StatefulSet on the single node, CloudNativePG's Cluster otherwise.
DATABASES = {"single-node": ("StatefulSet", "postgres"), "cluster": ("Cluster", "assistant")}


def network_policies(manifests: tuple[Manifest, ...]) -> list[Manifest]:
    """The overlay's NetworkPolicies and the model tier's."""
    return [m for m in (*manifests, *rendered(MODEL_TIER)) if m["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_network_policies_open_only_the_paths_the_processes_use(name: str) -> None:
    manifests = overlay(name)
    policies = network_policies(manifests)
    web, postgres = app_pod(manifests, "Deployment", "web"), app_pod(manifests, *DATABASES[name])
    default_worker, search_worker = (app_pod(manifests, "Deployment", w) for w in ("worker-default", "worker-search"))
    beat, imagine = app_pod(manifests, "Deployment", "beat"), app_pod(manifests, "Deployment", "imagine")
    searxng = app_pod(manifests, "Deployment", "searxng")
    broker, channels = (app_pod(manifests, "StatefulSet", r) for r in ("redis-broker", "redis-channels"))
    engine = model_server()
    weights = app_pod(rendered(MODEL_TIER), "Job", "model-weights")
    weights = Endpoint("llm", weights.labels)

    allowed = [
        (INGRESS_CONTROLLER, web, 8000), (web, ROUTER, 8000), (default_worker, ROUTER, 8000), (web, channels, 6379),
        (web, postgres, 5432), (beat, broker, 6379), (imagine, postgres, 5432), (web, INTERNET, 443),
        (search_worker, searxng, 8080), (search_worker, INTERNET, 80), (searxng, INTERNET, 443),
        (ROUTER, engine, 8000), (engine, engine, 6379), (weights, INTERNET, 443),
    ]  # fmt: skip
    denied = [
        (INTERNET, web, 8000), (web, engine, 8000), (web, INTERNET, 80), (beat, INTERNET, 443),
        (imagine, ROUTER, 8000), (search_worker, ROUTER, 8000), (search_worker, METADATA_SERVICE, 80),
        (web, searxng, 8080), (engine, INTERNET, 443), (engine, channels, 6379), (engine, ROUTER, 8000),
        (ROUTER, INTERNET, 80), (INTERNET, engine, 8000), (web, METADATA_SERVICE, 443),
    ]  # fmt: skip
    assert [path for path in allowed if not reachable(policies, *path)] == []
    assert [path for path in denied if reachable(policies, *path)] == []
    assert all(reachable(policies, pod, DNS, 53, "UDP") for pod in (web, engine, searxng, weights))


@pytest.mark.parametrize("worker", ["worker-documents", "worker-media"])
@pytest.mark.parametrize("name", OVERLAYS)
def test_documents_and_media_workers_reach_only_redis_and_postgres(name: str, worker: str) -> None:
    """Their models are in the image and uploads wait in PostgreSQL: they need nothing else."""
    manifests = overlay(name)
    policies = network_policies(manifests)
    pod = app_pod(manifests, "Deployment", worker)
    broker = app_pod(manifests, "StatefulSet", "redis-broker")
    postgres = app_pod(manifests, *DATABASES[name])
    searxng = app_pod(manifests, "Deployment", "searxng")

    assert reachable(policies, pod, broker, 6379)
    assert reachable(policies, pod, postgres, 5432)
    assert reachable(policies, pod, DNS, 53, "UDP")
    elsewhere = [(ROUTER, 8000), (INTERNET, 443), (INTERNET, 80), (METADATA_SERVICE, 80), (searxng, 8080)]
    assert [path for path in elsewhere if reachable(policies, pod, *path)] == []


# --- The content guard on CPU (components/cpu-guard) ---------------------------------------------------


def test_the_cpu_guard_is_composes_service_on_the_app_image_behind_the_guard_url() -> None:
    manifests = overlay(CPU_GUARD_OVERLAY)
    guard = pod_spec(find(manifests, "Deployment", "cpu-guard"))["containers"][0]
    web = web_container(find(manifests, "Deployment", "web"))
    service = find(manifests, "Service", "cpu-guard")

    assert guard["command"] == compose()["services"]["cpu-guard"]["command"]
    assert guard["image"] == web["image"]
    assert (
        app_config(manifests)["SAFETY_GUARD_BASE_URL"] == f"http://cpu-guard:{service['spec']['ports'][0]['port']}/v1"
    )
    assert (
        service["spec"]["selector"].items()
        <= find(manifests, "Deployment", "cpu-guard")["spec"]["selector"]["matchLabels"].items()
    )


def test_the_cpu_guard_overlay_changes_nothing_else_of_single_node() -> None:
    component = {
        (m["kind"], m["metadata"]["name"]) for m in overlay(CPU_GUARD_OVERLAY) if "cpu-guard" in str(m["metadata"])
    }
    with_guard = [m for m in overlay(CPU_GUARD_OVERLAY) if (m["kind"], m["metadata"]["name"]) not in component]
    config = find(with_guard, "ConfigMap", "assistant-config")
    config["data"] = {
        **config["data"],
        "SAFETY_GUARD_BASE_URL": app_config(overlay("single-node"))["SAFETY_GUARD_BASE_URL"],
    }
    assert config["data"].pop("SAFETY_GUARD_JUDGES_ANSWERS") == "false"

    assert component == {
        ("Deployment", "cpu-guard"), ("Service", "cpu-guard"), ("PodDisruptionBudget", "cpu-guard"),
        ("NetworkPolicy", "app-to-cpu-guard"), ("NetworkPolicy", "cpu-guard-ingress"),
    }  # fmt: skip
    assert with_guard == list(overlay("single-node"))


def test_only_the_processes_that_check_turns_reach_the_cpu_guard() -> None:
    manifests = overlay(CPU_GUARD_OVERLAY)
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    guard = app_pod(manifests, "Deployment", "cpu-guard")
    web, default_worker, search_worker, imagine, documents, media = (
        app_pod(manifests, "Deployment", name)
        for name in ("web", "worker-default", "worker-search", "imagine", "worker-documents", "worker-media")
    )

    assert reachable(policies, web, guard, 8000)
    assert reachable(policies, default_worker, guard, 8000)
    assert reachable(policies, guard, DNS, 53, "UDP")
    denied = [(imagine, guard, 8000), (search_worker, guard, 8000), (documents, guard, 8000), (media, guard, 8000)]
    denied += [(INTERNET, guard, 8000), (guard, INTERNET, 443)]
    assert [path for path in denied if reachable(policies, *path)] == []


# --- The voice servers (components/voice) ----------------------------------------------------------------


def test_the_speech_server_is_composes_service_behind_the_speech_url() -> None:
    manifests = overlay(VOICE_OVERLAY)
    deployment = find(manifests, "Deployment", "speech")
    server = pod_spec(deployment)["containers"][0]
    service = find(manifests, "Service", "speech")
    compose_speech = compose()["services"]["speech"]
    [compose_health] = [word for word in compose_speech["healthcheck"]["test"] if word.startswith("http://")]

    assert server["image"] == compose_speech["image"]
    assert compose_health.endswith(server["readinessProbe"]["httpGet"]["path"])
    assert app_config(manifests)["MEDIA_SPEECH_BASE_URL"] == f"http://speech:{service['spec']['ports'][0]['port']}/v1"
    assert service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()
    assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_voice_overlay_changes_nothing_else_of_single_node() -> None:
    component = {("Deployment", "speech"), ("Service", "speech")}
    component |= {("NetworkPolicy", "media-to-voice-servers"), ("NetworkPolicy", "speech-ingress")}
    with_voice = [
        m for m in copy.deepcopy(overlay(VOICE_OVERLAY)) if (m["kind"], m["metadata"]["name"]) not in component
    ]
    config = find(with_voice, "ConfigMap", "assistant-config")
    added = config["data"].keys() - app_config(overlay("single-node")).keys()
    config["data"] = {key: value for key, value in config["data"].items() if key not in added}

    assert added == {
        "MEDIA_TRANSCRIPTION_BASE_URL",
        "MEDIA_SPEECH_BASE_URL",
        "MEDIA_SPEECH_MODEL",
        "MEDIA_SPEECH_VOICE",
    }
    assert with_voice == list(overlay("single-node"))


def test_only_the_media_worker_reaches_the_voice_servers() -> None:
    manifests = overlay(VOICE_OVERLAY)
    policies = network_policies(manifests)
    speech = app_pod(manifests, "Deployment", "speech")
    media, web, default_worker, documents, imagine = (
        app_pod(manifests, "Deployment", name)
        for name in ("worker-media", "web", "worker-default", "worker-documents", "imagine")
    )

    assert reachable(policies, media, speech, 8880)
    assert reachable(policies, media, ROUTER, 8000)  # Whisper, behind the model router
    assert reachable(policies, speech, DNS, 53, "UDP")
    denied = [(web, speech, 8880), (default_worker, speech, 8880), (documents, speech, 8880), (imagine, speech, 8880)]
    denied += [(documents, ROUTER, 8000), (INTERNET, speech, 8880), (speech, INTERNET, 443), (media, INTERNET, 443)]
    assert [path for path in denied if reachable(policies, *path)] == []
