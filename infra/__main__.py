"""Pulumi program of the omniserve bot: validate config, create the bot on each platform, export.

Pulumi runs this file with ``runpy.run_path("infra", run_name="__main__")``; tests import
:func:`main` and run it under ``pulumi.runtime.set_mocks``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run by Pulumi as a directory: make ``infra`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from infra.config import BotConfig, load_config  # noqa: E402
from infra.ecs_bot import EcsBot  # noqa: E402
from infra.kubernetes_bot import KubernetesBot  # noqa: E402

RESOURCE_NAME = "omniserve"


def main(config: BotConfig | None = None) -> dict[str, pulumi.ComponentResource]:
    """Create the bot on the configured platforms and export its outputs.

    Returns the components by platform (``"kubernetes"``, ``"ecs"``).
    """
    config = config or load_config()
    components: dict[str, pulumi.ComponentResource] = {}
    pulumi.export("image", config.image)
    pulumi.export("platforms", list(config.platforms))

    if config.kubernetes:
        bot = KubernetesBot(RESOURCE_NAME, config)
        components["kubernetes"] = bot
        pulumi.export("kubernetesNamespace", config.namespace)
        pulumi.export("kubernetesDeployment", bot.deployment_name)

    if config.ecs:
        ecs_bot = EcsBot(RESOURCE_NAME, config)
        components["ecs"] = ecs_bot
        pulumi.export("ecsCluster", ecs_bot.cluster_name)
        pulumi.export("ecsService", ecs_bot.service_name)
        pulumi.export("taskDefinitionArn", ecs_bot.task_definition_arn)
        pulumi.export("ecrRepositoryUrl", ecs_bot.repository.repository_url)

    return components


if __name__ == "__main__":
    main()
