"""Which backend a command reads: the URL and where it came from (opening it is :mod:`rollback.state.open`).

Backend URL precedence: ``--backend``, then ``PULUMI_BACKEND_URL``, then ``backend.url`` of the
``Pulumi.yaml`` in ``--cwd``, then Pulumi's own default (the backend the CLI is logged in to,
from ``~/.pulumi/credentials.json``, else Pulumi Cloud).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rollback.project import read_project_file

CLOUD_URL = "https://api.pulumi.com"


@dataclass(frozen=True)
class BackendChoice:
    url: str
    origin: str   # "--backend", "PULUMI_BACKEND_URL", "<path>/Pulumi.yaml", "pulumi login", "default"


def choose_backend(flag: str | None, cwd: Path, environ: Mapping[str, str] | None = None) -> BackendChoice:
    env = os.environ if environ is None else environ
    if flag:
        return BackendChoice(flag, "--backend")
    if env.get("PULUMI_BACKEND_URL"):
        return BackendChoice(env["PULUMI_BACKEND_URL"], "PULUMI_BACKEND_URL")
    project = read_project_file(cwd)
    if project:
        backend = project.get("backend")
        if isinstance(backend, dict) and backend.get("url"):
            return BackendChoice(str(backend["url"]), str(cwd / "Pulumi.yaml"))
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        current = None
    if current:
        return BackendChoice(str(current), "pulumi login")
    return BackendChoice(CLOUD_URL, "default")
