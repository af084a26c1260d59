"""Re-applying a checkpoint through the Pulumi engine: the replay program and its rehearsal.

* :func:`build_replay_program` plans the replay of a target checkpoint (pure data, no pulumi import);
  :func:`inline_program` makes it the Automation API inline program.
* :func:`rehearse` runs that program under the SDK's mock runtime and checks it against the target;
  :func:`changed_scope` picks what a preview rehearses (what changed, and what comes with it).
* :class:`LiveRef`: an input the replay sends as a live reference to a dependency's output (e.g. an
  ECS service's ``taskDefinition`` follows the re-registered task definition's ``arn``).

Importing this package does not import pulumi.
"""

from __future__ import annotations

from rollback.replay.plan import build_replay_program
from rollback.replay.program import inline_program
from rollback.replay.rehearsal import RehearsalResult, rehearse
from rollback.replay.scope import changed_scope
from rollback.replay.types import LiveRef, ProviderVersion, ReplayPlan, ReplayStep

__all__ = [
    "LiveRef",
    "ProviderVersion",
    "RehearsalResult",
    "ReplayPlan",
    "ReplayStep",
    "build_replay_program",
    "changed_scope",
    "inline_program",
    "rehearse",
]
