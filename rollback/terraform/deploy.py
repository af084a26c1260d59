"""A guarded apply of the working directory's configuration that records its provenance.

The story: git state (a dirty tree refuses unless ``allow_dirty``; no repository refuses: a version
without a commit cannot be rolled back to), the state lock, ``plan -out`` with the given variables,
``show -json`` of that plan (which variables are sensitive), ``apply`` of the saved plan, then the new
state's serial and lineage from ``state pull``, and the provenance record keyed by them (a local backend
also keeps a snapshot of the state, as it has no history of its own). A failed apply is recorded too,
with ``result: failed``, against the partial state it left.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, OperationFailed, Refused, RollbackError
from rollback.records import actor, iso, utc_now
from rollback.terraform.engine import Engine, StateLocked
from rollback.terraform.plan import TfPlan, read_plan
from rollback.terraform.provenance import Provenance, ProvenanceStore, passphrase_from_env, seal_variables
from rollback.terraform.state import parse_state
from rollback.terraform.workspace import Workspace, write_var_file


@dataclass(frozen=True)
class DeployResult:
    provenance: Provenance
    plan: TfPlan
    changes: dict[str, int]
    version: int | None            # the workspace's version number after the deploy


@dataclass
class TfDeploy:
    workspace: Workspace
    engine: Engine
    variables: Mapping[str, Any] = field(default_factory=dict)
    secret_variables: Iterable[str] = ()       # sensitive besides those the configuration declares
    message: str = ""
    allow_dirty: bool = False
    passphrase: str | None = None
    environ: Mapping[str, str] | None = None
    confirm: Callable[[TfPlan], bool] | None = None

    def run(self) -> DeployResult:
        ws = self.workspace
        git = ws.git()
        if git.head is None:
            raise BadInput(f"{ws.workdir} is not in a git repository: a deploy records the commit it applied")
        if git.dirty and not self.allow_dirty:
            raise Refused(f"{ws.workdir} has uncommitted changes: commit them (a rollback re-applies a commit), "
                          f"or pass --allow-dirty")
        lock = ws.backend.lock()
        if lock is not None:
            raise StateLocked(lock, where=ws.backend.describe())
        passphrase = self.passphrase if self.passphrase is not None else passphrase_from_env(self.environ)
        started = iso(utc_now()) or ""
        tmp = Path(tempfile.mkdtemp(prefix="infra-rollback-tf-"))
        try:
            var_file = write_var_file(tmp, self.variables)
            planfile = tmp / "deploy.tfplan"
            self.engine.plan(ws.workdir, out=planfile, var_files=[var_file], workspace=ws.name)
            plan = read_plan(self.engine.show_plan(ws.workdir, planfile, workspace=ws.name))
            if self.confirm is not None and not self.confirm(plan):
                raise Refused("deploy not confirmed: nothing was changed")
            failure: RollbackError | None = None
            try:
                run = self.engine.apply(ws.workdir, planfile, workspace=ws.name)
                changes = run.changes
            except OperationFailed as exc:
                failure, changes = exc, {}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        raw = self.engine.state_pull(ws.workdir, workspace=ws.name)
        state = parse_state(raw, source=ws.backend.describe())
        secret = set(self.secret_variables) | set(plan.sensitive_variables)
        sealed, salt = seal_variables(dict(self.variables), secret, passphrase=passphrase)
        record = Provenance(
            lineage=state.lineage, serial=state.serial, commit=git.head, subdir=ws.subdir, dirty=git.dirty,
            branch=git.branch, workspace=ws.name, variables=sealed, secrets_salt=salt, kind="update",
            result="failed" if failure is not None else "succeeded", engine=self.engine.name,
            engine_version=str(self.engine.version().get("terraform_version") or ""), started_at=started,
            finished_at=iso(utc_now()) or "", changes=changes, message=self.message, actor=actor(self.environ))
        store = ProvenanceStore(ws.backend.store, ws.backend.records_prefix())
        # An apply that changed nothing wrote no new state: the record of that state stays as it was.
        if failure is not None or plan.effective or store.get(state.lineage, state.serial) is None:
            ws.backend.keep_snapshot(raw, serial=state.serial, lineage=state.lineage)
            store.save(record)
        if failure is not None:
            raise failure
        history = ws.history()
        return DeployResult(provenance=record, plan=plan, changes=changes, version=history.current_version())


__all__ = ["DeployResult", "TfDeploy"]
