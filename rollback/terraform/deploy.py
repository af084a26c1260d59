"""A guarded apply of the working directory's configuration that records its provenance.

The steps: :meth:`TfDeploy.check` (git state: a dirty tree refuses unless ``allow_dirty``, no repository
refuses: a version without a commit cannot be rolled back to; the workspace must exist; the state lock),
:meth:`TfDeploy.planned` (``plan -out`` with the given variables and variable files, ``show -json`` of that
plan), :meth:`TfDeploy.apply` (``apply`` of the saved plan, then the new state's serial and lineage from
``state pull``, and the provenance record keyed by them; a local backend also keeps a snapshot of the state,
as it has no history of its own). A failed apply is recorded too, with ``result: failed``, against the
partial state it left.

What is recorded is every root variable's value as the plan used it (``-var``, ``-var-file``,
``terraform.tfvars``, ``TF_VAR_*``, defaults), read from the saved plan: a rollback passes exactly those
again. Sensitive ones (declared ``sensitive = true``, or named in ``secret_variables``) are sealed
(:mod:`rollback.terraform.provenance`), never recorded in clear.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, OperationFailed, Refused, RollbackError
from rollback.records import actor, iso, utc_now
from rollback.terraform.engine import Engine, StateLocked
from rollback.terraform.plan import TfPlan, plan_variables, read_plan
from rollback.terraform.provenance import Provenance, ProvenanceStore, passphrase_from_env, seal_variables
from rollback.terraform.state import TfState, parse_state
from rollback.terraform.workspace import GitState, Workspace, write_var_file


@dataclass(frozen=True)
class DeployResult:
    provenance: Provenance
    plan: TfPlan
    changes: dict[str, int]        # what the engine reports it did (add, change, remove)
    version: int | None            # the workspace's version number after the deploy
    version_key: str | None = None
    state: TfState | None = None


@dataclass
class DeployPlan:
    """A saved plan of the working directory, and the variable values it used (in memory only)."""

    plan: TfPlan
    planfile: Path
    values: dict[str, Any] = field(repr=False)
    started_at: str = ""


@dataclass
class TfDeploy:
    workspace: Workspace
    engine: Engine
    variables: Mapping[str, Any] = field(default_factory=dict)
    var_files: Sequence[Path] = ()
    secret_variables: Iterable[str] = ()       # sensitive besides those the configuration declares
    message: str = ""
    allow_dirty: bool = False
    passphrase: str | None = None
    environ: Mapping[str, str] | None = None
    confirm: Callable[[TfPlan], bool] | None = None

    def check(self) -> GitState:
        """Git state, the workspace and the lock; changes nothing."""
        ws = self.workspace
        git = ws.git()
        if git.head is None:
            raise BadInput(f"{ws.workdir} is not in a git repository: a deploy records the commit it applied")
        if git.dirty and not self.allow_dirty:
            raise Refused(f"{ws.workdir} has uncommitted changes: commit them (a rollback re-applies a commit), "
                          f"or pass --allow-dirty")
        if not ws.backend.exists():
            raise BadInput(f"workspace '{ws.name}' does not exist in {ws.backend.describe()}: create it with "
                           f"`{self.engine.name} workspace new {ws.name}`")
        lock = ws.backend.lock()
        if lock is not None:
            raise StateLocked(lock, where=ws.backend.describe())
        return git

    @contextlib.contextmanager
    def planned(self) -> Iterator[DeployPlan]:
        """``plan -out`` in a private temporary folder (removed afterwards: the plan holds secrets in clear)."""
        ws = self.workspace
        started = iso(utc_now()) or ""
        tmp = Path(tempfile.mkdtemp(prefix="infra-rollback-tf-"))
        try:
            files = [write_var_file(tmp, self.variables)] if self.variables else []
            planfile = tmp / "deploy.tfplan"
            self.engine.plan(ws.workdir, out=planfile, var_files=[*self.var_files, *files], workspace=ws.name)
            doc = self.engine.show_plan(ws.workdir, planfile, workspace=ws.name)
            yield DeployPlan(plan=read_plan(doc), planfile=planfile, values=plan_variables(doc), started_at=started)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def apply(self, dp: DeployPlan, git: GitState) -> DeployResult:
        """Apply the saved plan and record its provenance; a failed apply is recorded, then raised."""
        ws = self.workspace
        failure: RollbackError | None = None
        # What the version changed, in the engine-neutral words (the plan's actions: create, update, replace,
        # delete), as a rollback's version records it; what the engine reports (add, change, remove) beside it.
        changes = {op: n for op, n in dp.plan.counts().items() if n}
        try:
            engine_changes = self.engine.apply(ws.workdir, dp.planfile, workspace=ws.name).changes
        except OperationFailed as exc:
            failure, engine_changes = exc, {}
        raw = self.engine.state_pull(ws.workdir, workspace=ws.name)
        state = parse_state(raw, source=ws.backend.describe())
        passphrase = self.passphrase if self.passphrase is not None else passphrase_from_env(self.environ)
        secret = set(self.secret_variables) | set(dp.plan.sensitive_variables)
        sealed, salt = seal_variables(dp.values, secret, passphrase=passphrase)
        record = Provenance(
            lineage=state.lineage, serial=state.serial, commit=git.head, subdir=ws.subdir, dirty=git.dirty,
            branch=git.branch, workspace=ws.name, variables=sealed, secrets_salt=salt, kind="update",
            result="failed" if failure is not None else "succeeded", engine=self.engine.name,
            engine_version=str(self.engine.version().get("terraform_version") or ""), started_at=dp.started_at,
            finished_at=iso(utc_now()) or "", changes=changes, message=self.message, actor=actor(self.environ))
        store = ProvenanceStore(ws.backend.store, ws.backend.records_prefix())
        # An apply that changed nothing wrote no new state: the record of that state stays as it was.
        if failure is not None or dp.plan.effective or store.get(state.lineage, state.serial) is None:
            ws.backend.keep_snapshot(raw, serial=state.serial, lineage=state.lineage)
            store.save(record)
        if failure is not None:
            raise failure
        history = ws.history()
        version = history.current_version()
        return DeployResult(provenance=record, plan=dp.plan, changes=engine_changes, version=version,
                            version_key=history.version(version).key if version else None, state=state)

    def run(self) -> DeployResult:
        """check -> plan -> confirm -> apply, in one call (``confirm`` None: no question asked)."""
        git = self.check()
        with self.planned() as dp:
            if self.confirm is not None and not self.confirm(dp.plan):
                raise Refused("deploy not confirmed: nothing was changed")
            return self.apply(dp, git)


__all__ = ["DeployPlan", "DeployResult", "TfDeploy"]
