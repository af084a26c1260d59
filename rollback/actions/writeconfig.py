"""`infra-rollback write-config STACK [--to TARGET]`: a version's recorded config into the stack config file.

After a rollback the stack runs the target's config, but git still holds the bad release's
``Pulumi.<stack>.yaml``: the next deploy would bring it back. This writes the recorded config of a version
(default ``current``: the version the stack runs now, which after a rollback is the target's config) into
that file, whether or not a rollback just happened, so that the revert can be committed. Secure values are
copied as recorded (never decrypted); see :mod:`rollback.writeconfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollback.actions.context import Context


@dataclass
class WriteConfig:
    ctx: Context
    dry_run: bool = False

    def run(self, stack: str, target: str = "current") -> dict[str, Any]:
        from rollback.writeconfig import write_version_config

        history = self.ctx.history(stack)
        number = history.number_of(target)
        version = history.version(number)
        result = write_version_config(self.ctx.cwd, history.ref.name, version, history.checkpoint(number),
                                      dry_run=self.dry_run)
        return {"stack": history.ref.name, "project": history.ref.project or None, "version": number,
                **result.to_dict(), "dry_run": self.dry_run, "lines": result.lines()}
