"""The omniserve bot on Kubernetes: ConfigMap, Secret, Deployment, Service (+ sentiment model ConfigMap)."""

from __future__ import annotations

import hashlib
import json

import pulumi
from pulumi_kubernetes.apps.v1 import (
    Deployment,
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
)
from pulumi_kubernetes.core.v1 import (
    ConfigMap,
    ConfigMapEnvSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    HTTPGetActionArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    Secret,
    SecretKeySelectorArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

from .config import BotConfig

TYPE = "omniserve:bot:KubernetesBot"
CONTAINER_NAME = "bot"
API_TOKEN_KEY = "API_TOKEN"
SENTIMENT_MODEL_ENV = "SENTIMENT_MODEL_CONFIG"
SERVICE_PORT = 80
CONFIG_HASH_ANNOTATION = "omniserve.dev/config-hash"


def _config_hash(config: BotConfig) -> str:
    """Hash of the non-secret config the pods read, so a config change rolls the pods."""
    payload = json.dumps({"env": dict(config.env), "sentimentModel": config.sentiment_model}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _http_probe(config: BotConfig, *, initial_delay: int, period: int) -> ProbeArgs:
    return ProbeArgs(
        http_get=HTTPGetActionArgs(path=config.health_path, port=config.port),
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        timeout_seconds=3,
        failure_threshold=3,
    )


class KubernetesBot(pulumi.ComponentResource):
    """The bot as a Kubernetes Deployment behind a ClusterIP Service.

    Children (logical name = Kubernetes ``metadata.name``): ConfigMap ``<name>-config`` (env),
    Secret ``<name>-secrets`` (``API_TOKEN``), Deployment ``<name>``, Service ``<name>`` and,
    when ``sentimentModel`` is set, ConfigMap ``<name>-sentiment-model``.
    The namespace must exist already.
    """

    config_map: ConfigMap
    secret: Secret
    sentiment_model_config_map: ConfigMap | None
    deployment: Deployment
    service: Service

    def __init__(self, name: str, config: BotConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name = name
        self._config = config
        self.labels = {"app": name}
        child = pulumi.ResourceOptions(parent=self)

        self.config_map = ConfigMap(
            f"{name}-config",
            metadata=self._metadata(f"{name}-config"),
            data=dict(config.env),
            opts=child,
        )
        self.secret = Secret(
            f"{name}-secrets",
            metadata=self._metadata(f"{name}-secrets"),
            type="Opaque",
            string_data={API_TOKEN_KEY: pulumi.Output.secret(config.api_token)},
            opts=child,
        )
        self.sentiment_model_config_map = None
        if config.sentiment_model is not None:
            self.sentiment_model_config_map = ConfigMap(
                f"{name}-sentiment-model",
                metadata=self._metadata(f"{name}-sentiment-model"),
                data={"model": config.sentiment_model},
                opts=child,
            )
        # The pods read the ConfigMaps and the Secret by name: create those first.
        needs = [self.config_map, self.secret]
        if self.sentiment_model_config_map is not None:
            needs.append(self.sentiment_model_config_map)
        self.deployment = Deployment(
            name,
            metadata=self._metadata(name),
            spec=self._deployment_spec(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs),
        )
        self.service = Service(
            name,
            metadata=self._metadata(name),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=self.labels,
                ports=[ServicePortArgs(name="http", port=SERVICE_PORT, target_port=config.port, protocol="TCP")],
            ),
            opts=child,
        )

        self.namespace = config.namespace
        self.deployment_name = self.deployment.metadata.apply(lambda m: m.name)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "deployment": self.deployment_name,
                "service": self.service.metadata.apply(lambda m: m.name),
                "image": config.image,
            }
        )

    def _metadata(self, resource_name: str) -> ObjectMetaArgs:
        """Fixed name (so health gates and humans can find it), namespace and the app label."""
        return ObjectMetaArgs(name=resource_name, namespace=self._config.namespace, labels=self.labels)

    def _container(self) -> ContainerArgs:
        config = self._config
        env = [
            EnvVarArgs(
                name=API_TOKEN_KEY,
                value_from=EnvVarSourceArgs(
                    secret_key_ref=SecretKeySelectorArgs(name=f"{self._name}-secrets", key=API_TOKEN_KEY)
                ),
            )
        ]
        if self.sentiment_model_config_map is not None:
            env.append(EnvVarArgs(name=SENTIMENT_MODEL_ENV, value=f"{self._name}-sentiment-model"))
        return ContainerArgs(
            name=CONTAINER_NAME,
            image=config.image,
            ports=[ContainerPortArgs(name="http", container_port=config.port, protocol="TCP")],
            env_from=[EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=f"{self._name}-config"))],
            env=env,
            resources=ResourceRequirementsArgs(
                requests={"cpu": config.cpu_request, "memory": config.memory_request},
                limits={"cpu": config.cpu, "memory": config.memory},
            ),
            liveness_probe=_http_probe(config, initial_delay=15, period=10),
            readiness_probe=_http_probe(config, initial_delay=5, period=5),
        )

    def _deployment_spec(self) -> DeploymentSpecArgs:
        return DeploymentSpecArgs(
            replicas=self._config.replicas,
            selector=LabelSelectorArgs(match_labels=self.labels),
            strategy=DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            progress_deadline_seconds=300,
            template=PodTemplateSpecArgs(
                metadata=ObjectMetaArgs(
                    labels=self.labels,
                    annotations={CONFIG_HASH_ANNOTATION: _config_hash(self._config)},
                ),
                spec=PodSpecArgs(containers=[self._container()]),
            ),
        )
