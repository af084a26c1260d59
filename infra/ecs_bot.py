"""The omniserve bot on AWS ECS Fargate: cluster, task definition, service, token parameter, alarms."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi_aws import cloudwatch, ecr, ecs, iam, ssm

from .config import BotConfig

TYPE = "omniserve:bot:EcsBot"
CONTAINER_NAME = "bot"
API_TOKEN_KEY = "API_TOKEN"
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
#: Namespace of the custom metrics the bot publishes (``Errors`` with a ``Stack`` dimension).
BOT_METRIC_NAMESPACE = "Omniserve"


def assume_role_policy() -> str:
    """Trust policy that lets ECS tasks assume the execution role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def read_parameter_policy(parameter_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Policy that lets the execution role read the token parameter (to inject it as a secret)."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [parameter_arn]}],
        }
    )


def container_definition(config: BotConfig, api_token_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The one container of the task, as ECS wants it (``environment`` sorted by name)."""
    return {
        "name": CONTAINER_NAME,
        "image": config.image,
        "essential": True,
        "cpu": config.ecs_cpu_units,
        "memory": config.ecs_memory_mib,
        "memoryReservation": config.ecs_memory_reservation_mib,
        "portMappings": [{"containerPort": config.port, "hostPort": config.port, "protocol": "tcp"}],
        "environment": [{"name": name, "value": value} for name, value in sorted(config.env.items())],
        "secrets": [{"name": API_TOKEN_KEY, "valueFrom": api_token_arn}],
        "healthCheck": {
            "command": ["CMD-SHELL", f"curl -f {config.health_url} || exit 1"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 15,
        },
    }


def container_definitions(config: BotConfig, api_token_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """``containerDefinitions``: a JSON *string* holding a list of one container."""
    return pulumi.Output.json_dumps([container_definition(config, api_token_arn)])


class EcsBot(pulumi.ComponentResource):
    """The bot as an ECS Fargate service.

    Children: Cluster ``<name>``, Repository ``<name>``, Role ``<name>-execution`` (+ its policy
    attachment ``<name>-execution`` and inline policy ``<name>-execution-ssm``), Parameter
    ``<name>-api-token``, TaskDefinition ``<name>``, Service ``<name>``, MetricAlarms
    ``<name>-errors`` and ``<name>-unhealthy-targets``.
    """

    def __init__(self, name: str, config: BotConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        self._config = config
        child = pulumi.ResourceOptions(parent=self)
        stack = config.stack

        self.cluster = ecs.Cluster(
            name,
            name=config.ecs_cluster,
            settings=[ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=child,
        )
        self.repository = ecr.Repository(
            name,
            name=f"{name}-{stack}",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            opts=child,
        )
        self.execution_role = iam.Role(
            f"{name}-execution",
            assume_role_policy=assume_role_policy(),
            description=f"ECS task execution role of {name} ({stack})",
            opts=child,
        )
        self.execution_policy = iam.RolePolicyAttachment(
            f"{name}-execution",
            role=self.execution_role.name,
            policy_arn=EXECUTION_POLICY_ARN,
            opts=child,
        )
        self.api_token_parameter = ssm.Parameter(
            f"{name}-api-token",
            name=f"/{name}/{stack}/api-token",
            type="SecureString",
            value=pulumi.Output.secret(config.api_token),
            description=f"API token of {name} ({stack})",
            opts=child,
        )
        self.execution_ssm_policy = iam.RolePolicy(
            f"{name}-execution-ssm",
            role=self.execution_role.name,
            policy=read_parameter_policy(self.api_token_parameter.arn),
            opts=child,
        )

        task_cpu, task_memory = config.fargate_task_size
        self.task_definition = ecs.TaskDefinition(
            name,
            family=name,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(task_cpu),
            memory=str(task_memory),
            execution_role_arn=self.execution_role.arn,
            container_definitions=container_definitions(config, self.api_token_parameter.arn),
            opts=child,
        )
        self.service = ecs.Service(
            name,
            name=name,
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=config.replicas,
            launch_type="FARGATE",
            deployment_circuit_breaker=ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            network_configuration=ecs.ServiceNetworkConfigurationArgs(
                subnets=list(config.subnets),
                assign_public_ip=False,
            ),
            # Tasks can only start once the execution role may pull the image and read the token.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.execution_policy, self.execution_ssm_policy]),
        )
        self.error_alarm = self._error_alarm(name)
        self.unhealthy_targets_alarm = self._unhealthy_targets_alarm(name)

        self.cluster_name = self.cluster.name
        self.service_name = self.service.name
        self.task_definition_arn = self.task_definition.arn
        self.register_outputs(
            {
                "cluster": self.cluster_name,
                "service": self.service_name,
                "taskDefinitionArn": self.task_definition_arn,
                "repositoryUrl": self.repository.repository_url,
                "alarms": [self.error_alarm.name, self.unhealthy_targets_alarm.name],
            }
        )

    def _error_alarm(self, name: str) -> cloudwatch.MetricAlarm:
        """ALARM when the bot reports more than 5 errors a minute, 3 minutes running."""
        stack = self._config.stack
        return cloudwatch.MetricAlarm(
            f"{name}-errors",
            name=f"{name}-{stack}-errors",
            alarm_description=f"{name} ({stack}) reports errors (custom metric {BOT_METRIC_NAMESPACE}/Errors)",
            namespace=BOT_METRIC_NAMESPACE,
            metric_name="Errors",
            dimensions={"Stack": stack},
            statistic="Sum",
            period=60,
            evaluation_periods=3,
            threshold=5,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _unhealthy_targets_alarm(self, name: str) -> cloudwatch.MetricAlarm:
        """ALARM when fewer tasks run than desired (Container Insights), 3 minutes running."""
        stack = self._config.stack
        return cloudwatch.MetricAlarm(
            f"{name}-unhealthy-targets",
            name=f"{name}-{stack}-unhealthy-targets",
            alarm_description=f"{name} ({stack}) runs fewer healthy tasks than the {self._config.replicas} desired",
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions={"ClusterName": self.cluster.name, "ServiceName": self.service.name},
            statistic="Minimum",
            period=60,
            evaluation_periods=3,
            threshold=self._config.replicas,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            opts=pulumi.ResourceOptions(parent=self),
        )
