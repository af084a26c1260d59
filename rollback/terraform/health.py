"""Where a Terraform working directory declares its health gates: ``infra-rollback.health.yaml``.

A Pulumi stack keeps its gates in its stack config (``infra-rollback:health``); a Terraform working
directory keeps the same declaration in a file beside its ``*.tf`` files, versioned with them, so that a
rollback runs the gates of the commit it goes back to (read from that commit's checkout), and ``verify``
and ``deploy`` the gates of the working directory::

    # infra-rollback.health.yaml (or infra-rollback.health.<workspace>.yaml, which wins for that workspace)
    timeout: 300
    interval: 5
    gates:
      - kind: ecs-service
        cluster: bot
        service: bot
      - kind: cloudwatch-alarms
        alarms: [bot-errors]

The file holds the value of ``infra-rollback:health`` (the gates and their settings, as docs/design.md
describes them), or a mapping with that one key. AWS gates ask in the gate's ``region:``, else
``AWS_REGION``. A header value of an ``http`` gate cannot be ``{secure: ...}`` here (there is no stack
secrets provider to open it): use a plain value, or keep such a gate in a Pulumi stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollback.errors import BadInput
from rollback.health.spec import CONFIG_KEY

HEALTH_FILE = "infra-rollback.health.yaml"


def health_file_names(workspace: str) -> tuple[str, ...]:
    """The files looked for, in order: the workspace's own, then the shared one."""
    return (f"infra-rollback.health.{workspace}.yaml", HEALTH_FILE)


@dataclass(frozen=True)
class HealthFile:
    source: str                  # how messages name it: the path, or the path at a commit
    config: dict[str, Any]       # a stack config mapping: {"infra-rollback:health": ...}


def find_health_file(folder: Path, workspace: str, *, label: str = "") -> HealthFile | None:
    """The health declaration for ``workspace`` in ``folder`` (None: none declared). ``label`` names the folder
    in messages (``at commit 1a2b3c4``)."""
    for name in health_file_names(workspace):
        path = folder / name
        if path.is_file():
            return read_health_file(path, source=f"{name} {label}".strip() if label else str(path))
    return None


def read_health_file(path: Path, *, source: str) -> HealthFile:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{source}: cannot read ({exc.strerror or exc})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"{source}: not YAML ({str(exc).splitlines()[0]})") from exc
    if isinstance(doc, dict) and set(doc) == {CONFIG_KEY}:
        doc = doc[CONFIG_KEY]
    if not isinstance(doc, dict):
        raise BadInput(f"{source}: expected a mapping with gates (timeout, interval, gates)")
    return HealthFile(source=source, config={CONFIG_KEY: doc})


__all__ = ["HEALTH_FILE", "HealthFile", "find_health_file", "health_file_names", "read_health_file"]
