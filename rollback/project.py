"""The Pulumi project in ``--cwd``: its ``Pulumi.yaml`` (name, ``backend.url``, ``stackConfigDir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rollback.errors import BadInput


def read_project_file(cwd: Path) -> dict[str, Any] | None:
    """The ``Pulumi.yaml`` (or ``.yml``) in ``cwd`` as a mapping, or None when there is none."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        path = cwd / name
        if path.is_file():
            import yaml

            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise BadInput(f"{path}: not UTF-8 text") from exc
            except (OSError, yaml.YAMLError, ValueError) as exc:   # ValueError: an integer of 4300+ digits
                raise BadInput(f"{path}: not readable as YAML ({exc.__class__.__name__})") from exc
            return doc if isinstance(doc, dict) else {}
    return None


def find_project_dir(start: Path) -> Path | None:
    """The nearest directory holding a ``Pulumi.yaml`` (or ``.yml``), from ``start`` upward, as git and
    pulumi look for theirs; None when there is none up to the file system's root."""
    try:
        here = start.resolve()
    except OSError:
        return None
    for directory in (here, *here.parents):
        try:
            if (directory / "Pulumi.yaml").is_file() or (directory / "Pulumi.yml").is_file():
                return directory
        except OSError:
            return None
    return None
