"""A Terraform workspace's versions: its stored states, numbered from 1 (oldest), with their provenance.

Each stored state (an S3 object version, a snapshot kept by ``deploy``, the current file) is a version,
described by the engine-neutral :class:`~rollback.models.Version`: ``environment`` carries
``git.head``/``git.dirty`` from the provenance record and ``terraform.serial``, ``terraform.lineage``,
``terraform.version`` from the state; ``config`` the recorded variables (secret ones as ``[secret]``).
Listing reads the backend's listing only; a state is read when a version is asked for.

What the state alone shows is recognised: a state with tainted instances is a ``failed`` update; a state
whose resources are identical to the version before it is a ``refresh`` (or an apply that changed
nothing); a different lineage starts again (``kind`` ``new-lineage``); a state without resources that no
deploy made is ``empty``. The empty state that ``workspace new`` writes on S3 before anything was applied
is not a version (as ``pulumi stack init`` makes none): the first apply is v1. What provenance adds wins
over that (a deploy records its own result and kind).

Marks (good/bad) and the audit records use the same files as for Pulumi stacks
(:class:`rollback.history.Marks`, :class:`rollback.records.Records`), in the backend's store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rollback.errors import RollbackError, TargetError, VersionNotFound
from rollback.history import Resolution, Skipped, did_you_mean, version_number
from rollback.models import Deployment, Mark, StackRef, Version
from rollback.records import Marks
from rollback.safetext import one_line
from rollback.terraform.backends import Backend, StateObject
from rollback.terraform.provenance import Provenance, ProvenanceStore
from rollback.terraform.state import TfState, parse_state, same_resources, to_deployment


@dataclass(frozen=True)
class GitTarget:
    """``--to git:REF`` for a version infra-rollback did not make: the commit alone, no recorded variables."""

    ref: str


class TfHistory:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.ref = StackRef(project="terraform", name=backend.workspace)
        self.objects: list[StateObject] = backend.state_objects()
        self.provenance = ProvenanceStore(backend.store, backend.records_prefix(self.ref))
        self.marks = Marks(backend, self.ref)   # type: ignore[arg-type]  # side_store is all Marks uses
        self._states: dict[int, TfState] = {}
        self._bytes: dict[int, bytes] = {}
        self._versions: dict[int, Version] = {}
        self._drop_creation_state()

    def _drop_creation_state(self) -> None:
        """The oldest state, when it is the empty one ``workspace new`` wrote (no resources, no provenance),
        is not a version of its own."""
        if len(self.objects) < 1 or self.objects[0].size > _EMPTY_STATE_SIZE:
            return
        first = self.state(1)
        if first.empty and not first.outputs and self.provenance.get(first.lineage, first.serial) is None:
            self.objects = self.objects[1:]
            self._states = {}
            self._bytes = {}

    @property
    def count(self) -> int:
        return len(self.objects)

    def missing(self) -> str:
        """Why the workspace has no version (it may not exist), and which workspaces of its backend do."""
        where = self.backend.describe()
        try:
            exists = self.backend.exists()
        except RollbackError:
            exists = True
        what = "has no state versions" if exists else "does not exist"
        try:
            others = [w for w in self.backend.workspaces() if w != self.backend.workspace]
        except RollbackError:
            others = []
        hint = f"; workspaces with state: {', '.join(others[:10])}" if others else ""
        return f"workspace '{self.backend.workspace}' ({where}) {what}{hint}"

    def _check(self, number: int) -> None:
        if not 1 <= number <= len(self.objects):
            where = self.backend.describe()
            if not self.objects:
                raise VersionNotFound(self.missing())
            raise VersionNotFound(f"workspace '{self.backend.workspace}' ({where}) has no version {number} "
                                  f"(versions 1 to {len(self.objects)})")

    # -- states -------------------------------------------------------------------------------
    def state_bytes(self, number: int) -> bytes:
        self._check(number)
        if number not in self._bytes:
            self._bytes[number] = self.backend.read_state(self.objects[number - 1])
        return self._bytes[number]

    def state(self, number: int) -> TfState:
        if number not in self._states:
            obj = self.objects[number - 1] if 1 <= number <= len(self.objects) else None
            source = f"{self.backend.describe()} v{number}" + (f" ({obj.key})" if obj and obj.key else "")
            self._states[number] = parse_state(self.state_bytes(number), source=source)
        return self._states[number]

    def current_version(self) -> int | None:
        """The version that is the state now (the latest object)."""
        for n in range(len(self.objects), 0, -1):
            if self.objects[n - 1].latest:
                return n
        return len(self.objects) or None

    def keys(self) -> set[str]:
        """Every version's key (what marks and audit records name it by), read from the listing."""
        return {o.key or self.version(n).key for n, o in enumerate(self.objects, start=1)}

    def provenance_of(self, number: int) -> Provenance | None:
        st = self.state(number)
        return self.provenance.get(st.lineage, st.serial)

    # -- versions -----------------------------------------------------------------------------
    def version(self, number: int) -> Version:
        self._check(number)
        if number not in self._versions:
            self._versions[number] = self._load(number)
        return self._versions[number]

    def _load(self, number: int) -> Version:
        obj = self.objects[number - 1]
        st = self.state(number)
        prov = self.provenance.get(st.lineage, st.serial)
        kind, result = "update", "succeeded"
        if st.tainted:
            result = "failed"
        if number > 1:
            prev = self.state(number - 1)
            if prev.lineage != st.lineage:
                kind = "new-lineage"
            elif same_resources(prev, st):
                kind = "refresh"
        if st.empty and prov is None:
            kind = "empty"      # `workspace new` on S3 writes an empty state; so does a destroy of everything
        if prov is not None:
            kind = prov.kind if prov.kind in ("update", "rollback") else kind
            result = prov.result or result
        env: dict[str, str] = {"terraform.serial": str(st.serial), "terraform.lineage": st.lineage,
                               "terraform.version": st.terraform_version}
        if prov is not None and prov.commit:
            env["git.head"] = prov.commit
            env["git.dirty"] = "true" if prov.dirty else "false"
            if prov.branch:
                env["git.branch"] = prov.branch
        if prov is not None and prov.actor.get("user"):
            env["actor"] = str(prov.actor["user"])
        mark, reason = self.marks.get(obj.key or f"current-{st.lineage}-{st.serial}")   # type: ignore[arg-type]
        end = int(obj.time.timestamp()) if obj.time else None
        start = _unix(prov.started_at) if prov is not None else None
        return Version(number=number, kind=kind, result=result, start_time=start or end, end_time=end,
                       message=prov.message if prov else "", environment=env,
                       config=prov.display_variables() if prov else {},
                       resource_changes=dict(prov.changes) if prov else {}, has_checkpoint=True,
                       key=obj.key or f"current-{st.lineage}-{st.serial}", mark=mark, mark_reason=reason)

    def newest_first(self) -> Iterator[Version]:
        """Lazily: a target found near the top reads only the states it needs, however long the history."""
        for n in range(len(self.objects), 0, -1):
            yield self.version(n)

    def mark(self, number: int, mark: Mark, *, reason: str, by: str, at: str) -> None:
        v = self.version(number)
        self.marks.set(v.key, mark, version=number, reason=reason, by=by, at=at)   # type: ignore[arg-type]
        self._versions.pop(number, None)

    def deployment(self, number: int) -> Deployment:
        """Version ``number`` as an engine-neutral :class:`Deployment` (health expectations, ``show``)."""
        return to_deployment(self.state(number))

    def number_of(self, spec: str, *, targets: bool = True) -> int:
        """The version ``spec`` names: ``current``, ``N``, ``vN``; with ``targets`` also ``previous``,
        ``last-good`` and ``git:REF`` of a version (as ``--to`` reads them)."""
        text = spec.strip()
        if text.lower() == "current":
            number = self.current_version()
            if number is None:
                raise VersionNotFound(self.missing())
            return number
        n = version_number(text)
        if n is not None:
            return self.version(n).number
        if not targets:
            raise VersionNotFound(f"'{one_line(spec, limit=60)}' is not a version number"
                                  f"{did_you_mean(text, ('current',))} (use N, vN or current)")
        resolved = self.resolve(text)
        if isinstance(resolved, GitTarget):
            raise TargetError(f"git:{resolved.ref} names no version of workspace '{self.backend.workspace}' "
                              f"(no deploy recorded that commit)")
        return resolved.target.number

    # -- targets ------------------------------------------------------------------------------
    def resolve(self, target: str) -> Resolution | GitTarget:
        """``previous``, ``N``/``vN``, ``last-good`` or ``git:REF`` (a commit, with or without a version)."""
        spec = target.strip()
        if spec.startswith("git:"):
            ref = spec[4:]
            if not ref:
                raise TargetError("git: needs a commit (git:REF)")
            for v in self.newest_first():
                if v.git_head and v.succeeded and v.kind in ("update", "rollback") and _same_commit(v.git_head, ref):
                    return Resolution(v, ())
            return GitTarget(ref)
        if not self.objects:
            raise VersionNotFound(f"{self.missing()}: nothing to roll back to")
        if spec == "previous":
            return self._previous()
        if spec == "last-good":
            for v in self.newest_first():
                if v.mark is Mark.GOOD:
                    return Resolution(v, ())
            raise TargetError(f"workspace '{self.backend.workspace}': no version is marked good")
        number = version_number(spec)
        if number is not None:
            v = self.version(number)
            warnings = []
            if not v.succeeded:
                warnings.append(f"{v.label} is a {v.result} {v.kind}: its state is the partial one it left")
            if v.mark is Mark.BAD:
                warnings.append(f"{v.label} is marked bad" + (f": {v.mark_reason}" if v.mark_reason else ""))
            return Resolution(v, (), tuple(warnings))
        hint = did_you_mean(spec, ("previous", "last-good"))
        raise TargetError(f"unknown target '{one_line(target, limit=60)}'{hint} (use previous, N, vN, last-good or "
                          f"git:REF)")

    def skip_reason(self, v: Version, current: int | None) -> str | None:
        if v.number == current:
            return "current"
        if not v.git_head:
            return "no provenance record (not made by infra-rollback deploy): use --to git:REF"
        if v.kind not in ("update", "rollback"):
            return f"a {v.kind}"
        if not v.succeeded:
            return f"{v.result or 'unfinished'} {v.kind}"
        if v.mark is Mark.BAD:
            return "marked bad" + (f": {v.mark_reason}" if v.mark_reason else "")
        return None

    def same_as_current(self, number: int, current: int | None) -> bool:
        if current is None:
            return False
        a, b = self.provenance_of(number), self.provenance_of(current)
        if a is not None and b is not None and a.commit == b.commit and a.subdir == b.subdir \
                and a.variables == b.variables and not _has_secrets(a) and not _has_secrets(b):
            return True
        return same_resources(self.state(number), self.state(current))

    def _previous(self) -> Resolution:
        current = self.current_version()
        skipped: list[Skipped] = []
        for v in self.newest_first():
            reason = self.skip_reason(v, current)
            if reason is None and self.same_as_current(v.number, current):
                reason = "same as current"
            if reason is None:
                return Resolution(v, tuple(s for s in skipped if s.reason != "current"))
            skipped.append(Skipped(v.number, reason))
        raise TargetError(f"workspace '{self.backend.workspace}': no earlier succeeded version with a provenance "
                          f"record differs from the current state ({len(skipped)} versions examined); "
                          f"use --to git:REF")


_EMPTY_STATE_SIZE = 320   # bytes: an empty state is about 170, one with a resource far more


def _unix(iso_text: str) -> int | None:
    import datetime as _dt

    try:
        return int(_dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()) if iso_text else None
    except ValueError:
        return None


def _same_commit(head: str, ref: str) -> bool:
    return head.lower().startswith(ref.lower()) and len(ref) >= 4


def _has_secrets(p: Provenance) -> bool:
    return any(isinstance(v, dict) and "secure" in v for v in p.variables.values())


__all__ = ["GitTarget", "TfHistory"]
