"""The omniserve Pulumi program (infra/) under Pulumi's mock runtime, and its config validation.

Each program run gets a fresh runtime: ``reset_options`` (drops the previous root stack), the
stack's config through ``set_all_config`` (strings, as the CLI passes them, ``omniserve:apiToken``
decrypted with the documented passphrase and listed as secret), then ``set_mocks`` with a
recording monitor. Runs are cached per stack (module scope) because the assertions only read them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
from pulumi.runtime.mocks import MockMonitor  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from infra import __main__ as program  # noqa: E402  (imports pulumi_aws once for the session)
from infra.config import (  # noqa: E402
    BotConfig,
    ConfigError,
    config_from_mapping,
    cpu_millicores,
    ecs_cpu_units,
    fargate_task_size,
    memory_mib,
    parse_image,
)

PROJECT = "omniserve"
STACKS = ("staging", "prod")
PASSPHRASE = "omniserve-example"  # documented in the stack files
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"

K8S_COMPONENT = "omniserve:bot:KubernetesBot"
ECS_COMPONENT = "omniserve:bot:EcsBot"
EXPECTED_CHILDREN = {
    K8S_COMPONENT: {
        ("kubernetes:core/v1:ConfigMap", "omniserve-config"),
        ("kubernetes:core/v1:Secret", "omniserve-secrets"),
        ("kubernetes:apps/v1:Deployment", "omniserve"),
        ("kubernetes:core/v1:Service", "omniserve"),
    },
    ECS_COMPONENT: {
        ("aws:ecs/cluster:Cluster", "omniserve"),
        ("aws:ecr/repository:Repository", "omniserve"),
        ("aws:iam/role:Role", "omniserve-execution"),
        ("aws:ssm/parameter:Parameter", "omniserve-api-token"),
        ("aws:ecs/taskDefinition:TaskDefinition", "omniserve"),
        ("aws:ecs/service:Service", "omniserve"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "omniserve-errors"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "omniserve-unhealthy-targets"),
    },
}


# --------------------------------------------------------------------------- stack files


def _decrypt(key: bytes, text: str) -> bytes:
    version, nonce, ciphertext = text.split(":")
    assert version == "v1"
    assert len(base64.b64decode(nonce)) == 12
    return AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), None)


@cache
def stack_document(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())


@cache
def stack_key(stack: str) -> bytes:
    """The passphrase provider's key for a stack file, checked against its encryptionsalt."""
    match = re.fullmatch(r"v1:([A-Za-z0-9+/=]+):(v1:.+)", stack_document(stack)["encryptionsalt"])
    assert match, "encryptionsalt is not v1:<salt>:v1:<nonce>:<ciphertext>"
    salt = base64.b64decode(match[1])
    assert len(salt) == 8
    key = hashlib.pbkdf2_hmac("sha256", PASSPHRASE.encode(), salt, 1_000_000, 32)
    assert _decrypt(key, match[2]) == b"pulumi"
    return key


@cache
def stack_config(stack: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The stack's config map with secure values decrypted, and the secret keys."""
    values: dict[str, Any] = {}
    secret_keys = []
    for key, value in stack_document(stack)["config"].items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = _decrypt(stack_key(stack), value["secure"]).decode()
            secret_keys.append(key)
        else:
            values[key] = value
    return values, tuple(secret_keys)


def cli_strings(values: dict[str, Any]) -> dict[str, str]:
    """Config values as the Pulumi CLI hands them to a program: strings, structured ones as JSON."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            out[key] = str(value)
        else:
            out[key] = json.dumps(value)
    return out


def api_token(stack: str) -> str:
    return stack_config(stack)[0]["omniserve:apiToken"]


# --------------------------------------------------------------------------- mock runtime


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent_type: str | None


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, add the ids/ARNs/names a provider would compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        outputs = dict(args.inputs)
        if args.typ.startswith("aws:"):
            kind = args.typ.rsplit(":", 1)[-1].lower()
            outputs.setdefault("name", f"{args.name}-generated")
            outputs["arn"] = f"arn:aws:{kind}:us-east-1:123456789012:{args.name}"
            if kind == "repository":
                outputs["repositoryUrl"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{outputs['name']}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class RecordingMonitor(MockMonitor):
    """A mock monitor that also records parents (the Mocks API does not see them)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            parent_type = request.parent.split("::")[2].split("$")[-1] if request.parent else None
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            self.registered.append(Registered(request.type, request.name, inputs, request.custom, parent_type))
        return response


@dataclass
class Run:
    stack: str
    registered: list[Registered]
    components: dict[str, pulumi.ComponentResource]
    exports: dict[str, Any] = field(default_factory=dict)

    def find(self, type_: str, name: str) -> Registered:
        matches = [r for r in self.registered if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"{type_} {name}: {len(matches)} registrations"
        return matches[0]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.registered if r.type == type_]


def run_program(stack: str, values: dict[str, Any], secret_keys: tuple[str, ...] = ("omniserve:apiToken",)) -> Run:
    """Run infra/__main__.py's ``main()`` once under fresh mocks with the given config."""
    pulumi.runtime.settings.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(cli_strings(values), list(secret_keys))
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> None:
        result["components"] = program.main()

    run()
    root = pulumi.runtime.settings.get_root_resource()
    exports = {name: _resolve(value) for name, value in root.outputs.items()}
    return Run(stack, monitor.registered, result["components"], exports)


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    return _sync_await(output.future())


@pytest.fixture(scope="module", autouse=True)
def _leave_a_clean_runtime() -> Iterator[None]:
    """Do not leave this module's mocks and config behind for other test modules."""
    yield
    pulumi.runtime.settings.reset_options()
    pulumi.runtime.set_all_config({}, [])


@pytest.fixture(scope="module", params=STACKS)
def run(request) -> Run:
    values, secret_keys = stack_config(request.param)
    return run_program(request.param, values, secret_keys)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def non_secret_strings(value: Any) -> Iterator[str]:
    """Every string (keys included) of a deserialized value, skipping whatever sits inside a secret."""
    if _is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from non_secret_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from non_secret_strings(item)


# --------------------------------------------------------------------------- stack files


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_is_valid_and_gates_match_the_resources(stack: str) -> None:
    values, secret_keys = stack_config(stack)
    assert secret_keys == ("omniserve:apiToken",)
    assert api_token(stack)
    config = config_from_mapping(values, stack)
    assert values["aws:region"] == "us-east-1"
    assert config.platforms == ("kubernetes", "ecs")
    assert parse_image(config.image).tag not in (None, "latest")
    assert set(config.env) >= {"LOG_LEVEL", "SENTIMENT_THRESHOLD", "TICKET_QUEUE"}

    health = values["infra-rollback:health"]
    assert isinstance(health["timeout"], int) and isinstance(health["interval"], int)
    gates = {gate["kind"]: gate for gate in health["gates"]}
    assert list(gates) == ["kubernetes-rollout", "ecs-service", "http", "cloudwatch-alarms"]
    assert gates["kubernetes-rollout"] == {
        "kind": "kubernetes-rollout", "namespace": "omniserve", "deployment": "omniserve"
    }
    assert gates["ecs-service"]["cluster"] == config.ecs_cluster == f"omniserve-{stack}"
    assert gates["ecs-service"]["service"] == "omniserve"
    assert gates["http"]["url"].startswith("https://")
    assert gates["http"]["thresholds"] == [{"metric": "tags.urgent_escalation_share", "max": 0.2}]
    assert gates["cloudwatch-alarms"]["alarms"] == [f"omniserve-{stack}-errors", f"omniserve-{stack}-unhealthy-targets"]


def test_prod_runs_the_released_image_and_staging_a_newer_one() -> None:
    prod = parse_image(stack_config("prod")[0]["omniserve:image"])
    staging = parse_image(stack_config("staging")[0]["omniserve:image"])
    assert str(prod) == "ghcr.io/omniserve/bot:1.4.0"
    assert prod.name == staging.name and staging.tag != prod.tag


def test_encrypt_script_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("encrypt_stack_secret", ROOT / "scripts" / "encrypt_stack_secret.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (tmp_path / "Pulumi.yaml").write_text("name: omniserve\nruntime: python\n")
    stack_file = tmp_path / "Pulumi.test.yaml"
    stack_file.write_text("# keep me\nconfig:\n  omniserve:replicas: 2\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    assert script.main([str(stack_file), "apiToken", "first"]) == 0
    assert script.main([str(stack_file), "omniserve:apiToken", "s3cr3t"]) == 0
    text = stack_file.read_text()
    assert text.startswith("# keep me\nencryptionsalt: v1:")
    document = yaml.safe_load(text)
    assert document["config"]["omniserve:replicas"] == 2
    salt_match = re.fullmatch(r"v1:([^:]+):(v1:.+)", document["encryptionsalt"])
    key = hashlib.pbkdf2_hmac("sha256", PASSPHRASE.encode(), base64.b64decode(salt_match[1]), 1_000_000, 32)
    assert _decrypt(key, salt_match[2]) == b"pulumi"
    assert _decrypt(key, document["config"]["omniserve:apiToken"]["secure"]) == b"s3cr3t"
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "wrong")
    assert script.main([str(stack_file), "omniserve:apiToken", "x"]) == 2


# --------------------------------------------------------------------------- the program


def test_resources_have_the_contracted_types_names_and_parents(run: Run) -> None:
    components = [(r.type, r.name) for r in run.registered if not r.custom]
    assert sorted(components) == [(ECS_COMPONENT, "omniserve"), (K8S_COMPONENT, "omniserve")]
    for component_type, expected in EXPECTED_CHILDREN.items():
        children = {(r.type, r.name) for r in run.registered if r.parent_type == component_type}
        assert expected <= children, expected - children
    sentiment = ("kubernetes:core/v1:ConfigMap", "omniserve-sentiment-model")
    has_sentiment = "omniserve:sentimentModel" in stack_config(run.stack)[0]
    assert (sentiment in {(r.type, r.name) for r in run.registered}) == has_sentiment
    unparented = [(r.type, r.name) for r in run.registered if r.custom and r.parent_type is None]
    assert unparented == []


def test_deployment_pins_the_image_and_sets_resources_and_probes(run: Run) -> None:
    values = stack_config(run.stack)[0]
    config = config_from_mapping(values, run.stack)
    deployment = run.find("kubernetes:apps/v1:Deployment", "omniserve").inputs
    assert deployment["metadata"]["name"] == "omniserve"
    assert deployment["metadata"]["namespace"] == "omniserve"
    assert deployment["metadata"]["labels"] == {"app": "omniserve"}
    spec = deployment["spec"]
    assert spec["replicas"] == values["omniserve:replicas"]
    assert spec["selector"] == {"matchLabels": {"app": "omniserve"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "omniserve"}
    [container] = spec["template"]["spec"]["containers"]
    assert container["name"] == "bot"
    assert container["image"] == values["omniserve:image"]
    assert ":" in container["image"].rsplit("/", 1)[-1] and not container["image"].endswith(":latest")
    assert container["resources"] == {
        "limits": {"cpu": values["omniserve:cpu"], "memory": values["omniserve:memory"]},
        "requests": {
            "cpu": values.get("omniserve:cpuRequest", values["omniserve:cpu"]),
            "memory": values.get("omniserve:memoryRequest", values["omniserve:memory"]),
        },
    }
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert container["envFrom"] == [{"configMapRef": {"name": "omniserve-config"}}]
    env = {item["name"]: item for item in container["env"]}
    assert env["API_TOKEN"] == {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "omniserve-secrets", "key": "API_TOKEN"}},
    }
    if config.sentiment_model:
        assert env["SENTIMENT_MODEL_CONFIG"]["value"] == "omniserve-sentiment-model"
    else:
        assert "SENTIMENT_MODEL_CONFIG" not in env


def test_env_is_rendered_into_the_config_map_and_the_service_routes_port_80(run: Run) -> None:
    values = stack_config(run.stack)[0]
    config_map = run.find("kubernetes:core/v1:ConfigMap", "omniserve-config").inputs
    assert config_map["metadata"]["name"] == "omniserve-config"
    assert config_map["metadata"]["namespace"] == "omniserve"
    assert config_map["data"] == values["omniserve:env"]
    service = run.find("kubernetes:core/v1:Service", "omniserve").inputs
    assert service["metadata"]["name"] == "omniserve"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"app": "omniserve"}
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 8080)]


def test_the_api_token_stays_secret(run: Run) -> None:
    token = api_token(run.stack)
    secret = run.find("kubernetes:core/v1:Secret", "omniserve-secrets").inputs
    assert secret["metadata"]["name"] == "omniserve-secrets"
    assert _is_secret(secret["stringData"])
    assert secret["stringData"]["value"] == {"API_TOKEN": token}
    parameter = run.find("aws:ssm/parameter:Parameter", "omniserve-api-token").inputs
    assert parameter["type"] == "SecureString"
    assert _is_secret(parameter["value"]) and parameter["value"]["value"] == token
    for registered in run.registered:
        leaked = [s for s in non_secret_strings(registered.inputs) if token in s]
        assert leaked == [], f"{registered.type} {registered.name} has the token in a non-secret input"
    for name, value in run.exports.items():
        assert token not in json.dumps(value, default=str), name
    kubernetes, ecs = run.components["kubernetes"], run.components["ecs"]
    assert _sync_await(kubernetes.secret.string_data.is_secret())
    assert _sync_await(ecs.api_token_parameter.value.is_secret())
    assert not _sync_await(ecs.task_definition.container_definitions.is_secret())


def test_the_leak_check_sees_plain_values_and_skips_secrets() -> None:
    wrapped = {SIG_KEY: SECRET_SIG, "value": {"API_TOKEN": "tok"}}
    assert list(non_secret_strings({"a": ["tok"], "b": wrapped})) == ["a", "tok", "b"]


def test_ecs_container_definitions(run: Run) -> None:
    values = stack_config(run.stack)[0]
    config = config_from_mapping(values, run.stack)
    task = run.find("aws:ecs/taskDefinition:TaskDefinition", "omniserve").inputs
    assert task["family"] == "omniserve"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert task["executionRoleArn"].endswith(":omniserve-execution")
    assert (int(task["cpu"]), int(task["memory"])) == fargate_task_size(config.ecs_cpu_units, config.ecs_memory_mib)
    definitions = json.loads(task["containerDefinitions"])
    assert isinstance(definitions, list) and len(definitions) == 1
    [bot] = definitions
    assert bot["name"] == "bot" and bot["essential"] is True
    assert bot["image"] == values["omniserve:image"]
    assert bot["memory"] == memory_mib(values["omniserve:memory"])
    assert bot["cpu"] == ecs_cpu_units(values["omniserve:cpu"])
    assert bot["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    env = values["omniserve:env"]
    assert bot["environment"] == [{"name": k, "value": env[k]} for k in sorted(env)]
    parameter_arn = "arn:aws:parameter:us-east-1:123456789012:omniserve-api-token"  # the mock's ARN
    assert bot["secrets"] == [{"name": "API_TOKEN", "valueFrom": parameter_arn}]
    assert bot["healthCheck"]["command"] == ["CMD-SHELL", "curl -f http://localhost:8080/healthz || exit 1"]


def test_ecs_service_has_circuit_breaker_with_rollback_and_alarms(run: Run) -> None:
    values = stack_config(run.stack)[0]
    service = run.find("aws:ecs/service:Service", "omniserve").inputs
    assert service["name"] == "omniserve"
    assert service["launchType"] == "FARGATE"
    assert service["desiredCount"] == values["omniserve:replicas"]
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["networkConfiguration"]["subnets"] == []
    assert service["taskDefinition"].endswith(":omniserve")
    cluster = run.find("aws:ecs/cluster:Cluster", "omniserve").inputs
    assert cluster["name"] == f"omniserve-{run.stack}"
    role = run.find("aws:iam/role:Role", "omniserve-execution").inputs
    statement = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    alarms = sorted(r.inputs["name"] for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert alarms == [f"omniserve-{run.stack}-errors", f"omniserve-{run.stack}-unhealthy-targets"]


def test_exports(run: Run) -> None:
    values = stack_config(run.stack)[0]
    assert run.exports["image"] == values["omniserve:image"]
    assert run.exports["kubernetesDeployment"] == "omniserve"
    assert run.exports["ecsService"] == "omniserve"
    assert run.exports["ecsCluster"] == f"omniserve-{run.stack}"
    assert run.exports["taskDefinitionArn"].endswith(":omniserve")


def test_sentiment_model_adds_a_config_map_and_env() -> None:
    values = dict(stack_config("prod")[0], **{"omniserve:sentimentModel": "vader-2"})
    result = run_program("prod", values)
    model = result.find("kubernetes:core/v1:ConfigMap", "omniserve-sentiment-model")
    assert model.parent_type == K8S_COMPONENT
    assert model.inputs["metadata"]["name"] == "omniserve-sentiment-model"
    assert model.inputs["data"] == {"model": "vader-2"}
    deployment = result.find("kubernetes:apps/v1:Deployment", "omniserve").inputs
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "SENTIMENT_MODEL_CONFIG", "value": "omniserve-sentiment-model"} in container["env"]


def test_only_the_configured_platforms_are_created() -> None:
    values = dict(stack_config("prod")[0], **{"omniserve:platforms": ["kubernetes"]})
    result = run_program("prod", values)
    assert not [r for r in result.registered if r.type.startswith("aws:") or r.type == ECS_COMPONENT]
    assert "ecsService" not in result.exports
    result.find("kubernetes:apps/v1:Deployment", "omniserve")


def test_invalid_config_fails_the_program_with_one_line() -> None:
    values = dict(stack_config("prod")[0], **{"omniserve:memory": "512MB"})
    with pytest.raises(ConfigError) as caught:
        run_program("prod", values)
    assert str(caught.value) == 'omniserve:memory: "512MB" is not a Kubernetes quantity (use e.g. 512Mi or 1Gi)'


# --------------------------------------------------------------------------- config validation

GOOD = {
    "image": "ghcr.io/omniserve/bot:1.4.0",
    "memory": "512Mi",
    "cpu": "500m",
    "replicas": 2,
    "env": {"LOG_LEVEL": "info"},
    "apiToken": "t0ken",
    "platforms": ["kubernetes", "ecs"],
}


def _config(**changes: Any) -> BotConfig:
    values = {**GOOD, **changes}
    return config_from_mapping({k: v for k, v in values.items() if v is not None}, "test")


def _refused(message: str, **changes: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(**changes)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, pulumi.RunError)


def test_defaults() -> None:
    config = _config()
    assert config.memory_request == "512Mi" and config.cpu_request == "500m"
    assert (config.namespace, config.port, config.health_path) == ("omniserve", 8080, "/healthz")
    assert config.ecs_cluster == "omniserve-test" and config.subnets == () and config.sentiment_model is None
    assert "t0ken" not in repr(config)


def test_cli_strings_are_accepted() -> None:
    config = config_from_mapping(
        {**cli_strings({f"omniserve:{k}": v for k, v in GOOD.items()}), "aws:region": "us-east-1"}, "test"
    )
    assert config == _config()


def test_latest_is_refused() -> None:
    _refused(
        'omniserve:image: "ghcr.io/omniserve/bot:latest" uses the mutable tag "latest"; pin a version tag or a digest',
        image="ghcr.io/omniserve/bot:latest",
    )


def test_untagged_image_is_refused() -> None:
    _refused(
        'omniserve:image: "ghcr.io/omniserve/bot" has no tag or digest; pin a version '
        "(e.g. ghcr.io/omniserve/bot:1.4.0) or a digest",
        image="ghcr.io/omniserve/bot",
    )
    # a registry port is not a tag
    with pytest.raises(ConfigError, match="has no tag or digest"):
        _config(image="localhost:5000/bot")


@pytest.mark.parametrize(
    "image", ["ghcr.io/Omniserve/bot:1.0", "ghcr.io/omniserve/bot:", "bot:1.0 ", "bot@sha256:abc", ""]
)
def test_malformed_images_are_refused(image: str) -> None:
    pattern = r"^omniserve:image: .* (is not a valid image reference|must be a non-empty string)"
    with pytest.raises(ConfigError, match=pattern):
        _config(image=image)


def test_pinned_images_are_accepted() -> None:
    digest = "sha256:" + "a" * 64
    assert _config(image=f"ghcr.io/omniserve/bot@{digest}").image.endswith(digest)
    assert parse_image("localhost:5000/team/bot:2.0.1-rc.1").tag == "2.0.1-rc.1"
    assert parse_image("bot:1").name == "bot"


def test_512MB_is_refused() -> None:  # noqa: N802
    _refused('omniserve:memory: "512MB" is not a Kubernetes quantity (use e.g. 512Mi or 1Gi)', memory="512MB")


def test_empty_platforms_are_refused() -> None:
    _refused("omniserve:platforms: [] is empty; list at least one of kubernetes, ecs", platforms=[])


def test_other_bad_values_are_refused_with_the_key() -> None:
    _refused('omniserve:platforms: ["gke"] has unknown platform "gke"; use kubernetes and/or ecs', platforms=["gke"])
    _refused('omniserve:cpu: "2 cores" is not a Kubernetes CPU quantity (use e.g. 500m or 1)', cpu="2 cores")
    _refused("omniserve:replicas: 0 must be at least 1", replicas=0)
    _refused('omniserve:env: "LOG-LEVEL" is not a valid env var name (letters, digits, _; not starting with a digit)',
             env={"LOG-LEVEL": "x"})
    _refused("omniserve:env: THRESHOLD is 0.3, not a string; quote it in the stack file", env={"THRESHOLD": 0.3})
    _refused('omniserve:memoryRequest: "1Gi" is more than omniserve:memory "512Mi"; a request cannot exceed its limit',
             memoryRequest="1Gi")
    _refused("omniserve:apiToken: missing (required; set it in stacks/Pulumi.test.yaml)", apiToken=None)
    with pytest.raises(ConfigError, match=r"^omniserve:memory: \"512m\" is a fraction of a byte"):
        _config(memory="512m")
    with pytest.raises(ConfigError, match=r"^omniserve:memroy: unknown key"):
        _config(memroy="1Gi")


def test_unit_conversions() -> None:
    assert memory_mib("512Mi") == 512 and memory_mib("1Gi") == 1024 and memory_mib("1G") == 954
    assert cpu_millicores("500m") == 500 and cpu_millicores("1") == 1000 and cpu_millicores("0.25") == 250
    assert ecs_cpu_units("500m") == 512 and ecs_cpu_units("1") == 1024 and ecs_cpu_units("250m") == 256
    assert fargate_task_size(256, 512) == (256, 512)
    assert fargate_task_size(512, 512) == (512, 1024)
    assert fargate_task_size(512, 1024) == (512, 1024)
    assert fargate_task_size(1024, 9000) == (2048, 9216)
