"""`infra-rollback show STACK VERSION`: what one version ran (like ``helm get values --revision``).

Its history entry (kind, result, message, git, mark), its workloads and containers (image, limits, env)
read from its checkpoint, its recorded stack config and its stack outputs. Nothing is decrypted: secure
config values and secret outputs show as ``[secret]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context
from rollback.actions.history import version_to_dict
from rollback.state.values import SECRET_TEXT, to_display


def _config_value(value: Any) -> Any:
    """A recorded config value for a person: ``{"secure": ...}`` anywhere inside it is ``[secret]``."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_TEXT
        return {k: _config_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_config_value(v) for v in value]
    return value


@dataclass
class Show:
    ctx: Context

    def run(self, stack: str, version: str) -> dict[str, Any]:
        from rollback.summary.inventory import inventory

        history = self.ctx.history(stack)
        number = history.number_of(version)
        v = history.version(number)
        warnings: list[str] = []
        workloads: list[dict[str, Any]] = []
        outputs: dict[str, Any] = {}
        if v.has_checkpoint:
            dep = history.checkpoint(number)
            workloads = inventory(dep)
            root = dep.root_stack()
            if root is not None:
                outputs = {k: to_display(val) for k, val in root.outputs.items() if not k.startswith("__")}
        else:
            warnings.append(f"v{number} has no checkpoint file: its workloads and outputs are unknown")
        return {"stack": history.ref.name, "project": history.ref.project or None,
                "current": number == history.current_version(), "version": version_to_dict(v),
                "workloads": workloads, "config": {k: _config_value(val) for k, val in sorted(v.config.items())},
                "outputs": outputs, "warnings": warnings}
