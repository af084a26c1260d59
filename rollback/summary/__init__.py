"""What a person reads first: per container, what the rollback changes in the running workloads.

:func:`workload_summary` looks at the containers of Kubernetes pod templates (Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, Pod), ECS task definitions
(their ``containerDefinitions`` JSON string) and services, Cloud Run services and Docker containers,
and reports image, memory and CPU limits and requests, environment variables and replica counts
before (now) and after (the target). :func:`rollback.render.summary.workload_lines` turns that into
lines such as::

    Deployment omniserve, container "bot": image ghcr.io/omniserve/bot:1.5.0 -> ghcr.io/omniserve/bot:1.4.0
    Deployment omniserve, container "bot": env SENTIMENT_MODEL removed (was "distilroberta-urgent")
    Deployment omniserve: replicas 5 -> 3

Secrets: anything that was inside a secret shows as ``[secret]`` (a changed secret says
"changed"); a secret that cannot be revealed (no passphrase) is named in a note. Values from a
Kubernetes Secret or an SSM/Secrets Manager ARN are references, shown as such; their contents are
never read.
"""

from __future__ import annotations

from rollback.summary.compare import workload_summary
from rollback.summary.model import EnvChange, FieldChange, WorkloadChange, workloads_to_dicts

__all__ = ["EnvChange", "FieldChange", "WorkloadChange", "workload_summary", "workloads_to_dicts"]
