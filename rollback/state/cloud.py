"""Pulumi Cloud (and self-hosted Pulumi Service) backends, read through the Pulumi CLI.

:class:`CloudBackend` implements :class:`~rollback.state.backend.Backend`, so the history, target
resolution, preview, diff and mark code runs unchanged on Pulumi Cloud. Every Pulumi CLI command goes
through ``pulumi.automation``:
``LocalWorkspace`` for tags, ``whoami`` and ``org get-default``, and the Automation API's own command
runner (``PulumiCommand.run``) for ``stack history --json`` and ``stack export [--version N]
--show-secrets``, which the Automation API has no method for. Never a hand-written subprocess.

How Cloud maps onto the backend protocol:

- Versions are Cloud's own update versions (from 1). ``history`` costs one ``stack history``
  call (page 1, ``--page-size`` always given): the newest entry's ``version`` says how many there
  are. An entry's metadata is read when asked for, fetching only the page that holds it.
- Checkpoints are ``stack export --version N --show-secrets`` envelopes (secrets come back as
  plaintext secret values, which :class:`~rollback.state.values.Secret` holds and never prints).
  One export per checkpoint a decision needs. The current state is ``stack export --show-secrets``;
  on Cloud every state change (update, refresh, destroy, import, state edits) is a new version, so
  the newest version's checkpoint *is* the current state and is never exported twice.
- Locks: Cloud has none to read. An update in progress shows as the newest version's
  ``in-progress`` result (reported like a lock) and, at apply time, as a ``ConcurrentUpdateError``.
- Marks are stack tags; audit records go to the records location the user chose
  (``INFRA_ROLLBACK_RECORDS``: a ``file://`` directory or ``s3://`` prefix), else a summary tag
  (:mod:`rollback.state.cloud_tags`).
- Stack config secrets: ``stack history --json`` never shows their ciphertext (and we never ask for
  plaintext), so a secret config key appears in a version's config as ``{"secure": "[secret]"}``
  (:data:`UNREVEALED`), a placeholder that fails loudly if anything tries to decrypt it.

Tests inject a recorded CLI: ``CloudBackend(url, command=fake)`` or, around a whole CLI run,
``with use_pulumi_command(fake): ...`` (a documented seam, like httpx's ``MockTransport``). A fake
needs ``PulumiCommand``'s ``run(args, cwd, additional_env, on_output=None, on_error=None)`` and
``version``. ``pulumi.automation`` is imported only when a Cloud backend is actually read.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import shutil
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from rollback.errors import BadInput, EngineUnavailable, StackNotFound, StateError
from rollback.models import StackRef
from rollback.safetext import one_line
from rollback.state import names
from rollback.state.backend import RECORDS_DIR, FolderSideStore, HistoryEntry, Lock, Part
from rollback.state.cloud_tags import CloudSideStore
from rollback.state.store import Store

__all__ = ["CloudBackend", "PulumiRunner", "use_pulumi_command", "DEFAULT_PAGE_SIZE", "UNREVEALED"]

DEFAULT_PAGE_SIZE = 20
UNREVEALED = "[secret]"

T = TypeVar("T")


class PulumiRunner(Protocol):
    """What infra-rollback needs of ``pulumi.automation.PulumiCommand`` (a test double offers the same)."""

    version: Any

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str],
            on_output: Callable[[str], Any] | None = None,
            on_error: Callable[[str], Any] | None = None) -> Any: ...


_OVERRIDE: contextvars.ContextVar[PulumiRunner | None] = contextvars.ContextVar(
    "infra_rollback_pulumi_command", default=None)


@contextlib.contextmanager
def use_pulumi_command(command: PulumiRunner) -> Iterator[None]:
    """Inside this block, every :class:`CloudBackend` opened without an explicit ``command`` runs its
    Pulumi commands through ``command`` instead of the ``pulumi`` on PATH (for tests of the whole CLI)."""
    token = _OVERRIDE.set(command)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


@dataclass
class _Listing:
    """What one ``stack history`` listing told us: the newest version and the entries read so far."""

    newest: int
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    pages: set[int] = field(default_factory=set)


class CloudBackend:
    """A Pulumi Cloud / Pulumi Service backend, read through the Pulumi CLI (see the module docstring)."""

    cheap_checkpoints = False     # each checkpoint is a `pulumi stack export --version N`
    concurrent_reads = False   # one CLI workspace, and listings it pages through as it goes

    def __init__(self, url: str, *, command: PulumiRunner | None = None, records: Store | None = None,
                 records_url: str | None = None, project_dir: Path | None = None,
                 page_size: int = DEFAULT_PAGE_SIZE, origin: str = "--backend",
                 warn: Callable[[str], None] | None = None) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.url = url
        self.origin = origin
        self.records = records
        self.records_url = records_url
        self.project_dir = project_dir
        self.page_size = page_size
        self._command = command
        self._warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self._warned: set[str] = set()
        self._ws: Any = None
        self._default_org: str | None = None
        self._orgs: dict[StackRef, str] = {}
        self._listings: dict[str, _Listing] = {}
        self._current: dict[str, bytes] = {}
        self._tags: dict[str, dict[str, str]] = {}

    # -- the CLI, through pulumi.automation ----------------------------------------------------
    def where(self) -> str:
        """``Pulumi Cloud backend URL (from ORIGIN)`` for messages; says so when it is only the default."""
        if self.origin == "default":
            return (f"Pulumi Cloud backend {self.url} (the default: no --backend, PULUMI_BACKEND_URL, "
                    f"backend.url in Pulumi.yaml or `pulumi login`)")
        return f"Pulumi Cloud backend {self.url} (from {self.origin})"

    def _no_cli_message(self) -> str:
        from rollback.engine import INSTALL_HINT

        hint = INSTALL_HINT.partition("; `--preview` works without it")[0]
        return f"{hint}; the {self.where()} is read through it, even for --preview; file:// and s3:// backends work without it"

    def _workspace(self) -> Any:
        if self._ws is None:
            command = self._command or _OVERRIDE.get()
            if command is None:
                from rollback.engine import cli_available

                if not cli_available():
                    raise EngineUnavailable(self._no_cli_message())
            from pulumi import automation as auto

            if command is None:
                try:
                    command = auto.PulumiCommand()
                except FileNotFoundError as exc:
                    raise EngineUnavailable(self._no_cli_message()) from exc
                except Exception as exc:  # InvalidVersionError, a CLI that cannot print its version
                    raise EngineUnavailable(f"the Pulumi CLI on PATH cannot be used for {self.url}: "
                                            f"{_first_line(str(exc))}") from exc
            work_dir = tempfile.mkdtemp(prefix="infra-rollback-cloud-")
            weakref.finalize(self, shutil.rmtree, work_dir, True)
            runner: Any = command
            self._ws = auto.LocalWorkspace(
                work_dir=work_dir, pulumi_command=runner,
                env_vars={"PULUMI_BACKEND_URL": self.url, "PULUMI_SKIP_UPDATE_CHECK": "true"})
        return self._ws

    def _call(self, what: str, fq: str | None, fn: Callable[[], T], *, error: type[BadInput] = BadInput) -> T:
        """Run ``fn`` (one CLI command); translate what can go wrong into our errors, stdout never included."""
        from pulumi.automation import errors as auto_errors

        try:
            return fn()
        except FileNotFoundError as exc:
            raise EngineUnavailable(self._no_cli_message()) from exc
        except auto_errors.StackNotFoundError as exc:
            raise StackNotFound(f"stack '{fq}' not found in the {self.where()}") from exc
        except auto_errors.CommandError as exc:
            raise error(f"{self.where()}: `pulumi {what}` failed: {_stderr_line(exc)}") from exc

    def _run(self, what: str, fq: str, args: list[str], *, error: type[BadInput] = BadInput) -> str:
        ws = self._workspace()
        result = self._call(what, fq, lambda: ws.pulumi_command.run(list(args), ws.work_dir, dict(ws.env_vars)),
                            error=error)
        return str(result.stdout)

    # -- stacks -------------------------------------------------------------------------------
    def default_org(self) -> str:
        """The organization a stack name without one belongs to: ``pulumi org get-default``, else the user."""
        if self._default_org is None:
            ws = self._workspace()
            try:
                org = str(self._call("org get-default", None, ws.org_get_default)).strip()
            except BadInput:
                org = ""  # an older CLI without `org get-default`: fall back to the user
            if not org or " " in org:  # "No Default Org Specified"
                org = str(self._call("whoami", None, ws.who_am_i).user).strip()
            if not org:
                raise BadInput(f"backend {self.url}: `pulumi whoami` named no user: pass org/project/stack")
            if not names.is_name(org):   # it becomes part of our records' keys
                raise BadInput(f"backend {self.url}: the default organization '{one_line(org, limit=60)}' is not a "
                               f"usable name: pass org/project/stack")
            self._default_org = org
        return self._default_org

    def _default_project(self) -> str | None:
        if self.project_dir is None:
            return None
        from rollback.project import read_project_file

        doc = read_project_file(self.project_dir) or {}
        name = doc.get("name")
        if not name:
            return None
        return names.check_project(str(name), origin=f"{self.project_dir / 'Pulumi.yaml'}")

    def resolve_stack(self, name: str, project: str | None = None) -> StackRef:
        """``org/project/stack``, ``project/stack`` (not the pulumi CLI's org/stack), or ``stack`` (project from
        ``--project`` or the Pulumi.yaml in ``--cwd``; org from ``pulumi org get-default`` / ``whoami``).
        Makes no request for a fully qualified name; a missing stack is reported by its first read."""
        parts = name.split("/")
        if len(parts) > 3:
            raise BadInput(f"'{one_line(name, limit=120)}' is not a stack name (use stack, project/stack or "
                           f"org/project/stack)")
        org: str | None = None
        if len(parts) == 3:
            org, proj, stack = parts
            names.check_cloud_organization(org, origin="the stack argument")
            names.check_project(proj, origin="the stack argument")
        elif len(parts) == 2:
            proj, stack = parts
            names.check_project(proj, origin="the stack argument")
        else:
            stack = parts[0]
            if project is not None:
                names.check_project(project, origin="--project")
            found = project or self._default_project()
            if not found:
                where = f" in {self.project_dir}" if self.project_dir else ""
                raise BadInput(f"stack '{name}' in the {self.where()}: which project? Name it (project/{name} or "
                               f"org/project/{name}), pass --project, or run where the project's Pulumi.yaml is "
                               f"(none found{where})")
            proj = found
        names.check_stack(stack)
        ref = StackRef(proj, stack)
        self._orgs[ref] = org or self.default_org()
        return ref

    def qualified_name(self, ref: StackRef) -> str:
        """``org/project/stack``, as the Pulumi CLI and the Automation API want it."""
        org = self._orgs.get(ref) or self.default_org()
        return f"{org}/{ref.project}/{ref.name}"

    def org_of(self, ref: StackRef) -> str:
        return self._orgs.get(ref) or self.default_org()

    # -- history ------------------------------------------------------------------------------
    def _history_page(self, fq: str, page: int) -> list[dict[str, Any]]:
        out = self._run("stack history", fq, ["stack", "history", "--json", "--page-size", str(self.page_size),
                                                "--page", str(page), "--stack", fq])
        try:
            doc = json.loads(out) if out.strip() else []
        except ValueError as exc:
            raise StateError(f"backend {self.url}: `pulumi stack history --json` for {fq} printed no JSON") from exc
        if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
            raise StateError(f"backend {self.url}: `pulumi stack history --json` for {fq} is not a list of updates")
        return doc

    def _version_of(self, entry: Mapping[str, Any], fq: str) -> int:
        v = entry.get("version")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise StateError(f"backend {self.url}: `pulumi stack history --json` for {fq} gives no version numbers "
                             f"(an old Pulumi CLI?): upgrade the Pulumi CLI")
        return v

    def history(self, ref: StackRef) -> list[HistoryEntry]:
        """Versions 1..newest (one ``stack history`` call: page 1). A fresh listing each call."""
        fq = self.qualified_name(ref)
        self._current.pop(fq, None)
        entries = self._history_page(fq, 1)
        if not entries:
            self._listings[fq] = _Listing(0, pages={1})
            return []
        listing = _Listing(max(self._version_of(e, fq) for e in entries), pages={1})
        for e in entries:
            listing.entries[self._version_of(e, fq)] = e
        self._listings[fq] = listing
        return [HistoryEntry(n, has_info=True, has_checkpoint=True) for n in range(1, listing.newest + 1)]

    def _listing(self, fq: str) -> _Listing:
        listing = self._listings.get(fq)
        if listing is None:
            org, project, stack = fq.split("/")
            self._orgs.setdefault(StackRef(project, stack), org)
            self.history(StackRef(project, stack))
            listing = self._listings[fq]
        return listing

    def _entry(self, fq: str, n: int) -> dict[str, Any] | None:
        """History entry ``n``, fetching only the page that holds it (pages are newest first)."""
        listing = self._listing(fq)
        if n in listing.entries:
            return listing.entries[n]
        page = (listing.newest - n) // self.page_size + 1
        for _ in range(4):  # new updates since the listing shift the pages: look at the neighbours
            if page < 1 or page in listing.pages:
                break
            entries = self._history_page(fq, page)
            listing.pages.add(page)
            versions = [self._version_of(e, fq) for e in entries]
            listing.entries.update(zip(versions, entries))
            if n in listing.entries or not entries:
                break
            page = page + 1 if min(versions) > n else page - 1
        return listing.entries.get(n)

    def update_info(self, ref: StackRef, entry: HistoryEntry) -> dict[str, Any]:
        """History entry ``n`` as a DIY UpdateInfo (``startTime``/``endTime`` in unix seconds)."""
        return self._update_info(self.qualified_name(ref), entry.id)

    def _update_info(self, fq: str, n: int) -> dict[str, Any]:
        entry = self._entry(fq, n)
        if entry is None:
            return {"kind": "unknown", "result": "", "message": "(not in the Pulumi Cloud history)", "version": n}
        config: dict[str, Any] = {}
        for key, value in (entry.get("config") or {}).items():
            if not isinstance(value, dict):
                config[str(key)] = value
            elif value.get("secret"):
                config[str(key)] = {"secure": UNREVEALED}
            elif "objectValue" in value:
                config[str(key)] = value["objectValue"]
            else:
                config[str(key)] = value.get("value", "")
        env = entry.get("environment") or {}
        return {
            "kind": str(entry.get("kind") or ""),
            "result": str(entry.get("result") or ""),
            "startTime": _unix(entry.get("startTime")),
            "endTime": _unix(entry.get("endTime")),
            "message": str(entry.get("message") or ""),
            "environment": {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
            "config": config,
            "resourceChanges": dict(entry.get("resourceChanges") or {}),
            "version": n,
        }

    # -- checkpoints --------------------------------------------------------------------------
    def _export(self, fq: str, version: int | None) -> bytes:
        args = ["stack", "export", "--show-secrets", "--stack", fq]
        if version is not None:
            args += ["--version", str(version)]
        what = "stack export" + (f" --version {version}" if version is not None else "")
        return self._run(what, fq, args, error=StateError).encode("utf-8")

    def _current_bytes(self, fq: str) -> bytes:
        if fq not in self._current:
            self._current[fq] = self._export(fq, None)
        return self._current[fq]

    def read_current_tail(self, ref: StackRef, size: int) -> tuple[bytes, bool] | None:
        return None   # an export is the whole state

    def is_current(self, ref: StackRef, entry: HistoryEntry) -> bool | None:
        return None   # the service keeps no digests this client can list

    def read_current(self, ref: StackRef) -> bytes:
        return self._current_bytes(self.qualified_name(ref))

    def read_checkpoint(self, ref: StackRef, entry: HistoryEntry) -> bytes:
        fq = self.qualified_name(ref)
        # The newest version's checkpoint is the current state on Cloud: export it once.
        if entry.id == self._listing(fq).newest:
            return self._current_bytes(fq)
        return self._export(fq, entry.id)

    def describe(self, ref: StackRef, entry: HistoryEntry | None = None, *, part: Part = "checkpoint") -> str:
        fq = self.qualified_name(ref)
        if entry is None:
            return f"{self.url} stack {fq} (current state, `pulumi stack export`)"
        if part == "checkpoint":
            return f"{self.url} stack {fq} v{entry.id} (`pulumi stack export --version {entry.id}`)"
        return f"{self.url} stack {fq} v{entry.id} (`pulumi stack history`)"

    # -- locks --------------------------------------------------------------------------------
    def locks(self, ref: StackRef) -> list[Lock]:
        """Cloud keeps no lock files: the newest version ``in-progress`` (as of the last listing) is reported
        as a lock; one that starts later surfaces at apply time as a ConcurrentUpdateError."""
        fq = self.qualified_name(ref)
        listing = self._listing(fq)
        entry = listing.entries.get(listing.newest)
        if not entry or entry.get("result") != "in-progress":
            return []
        raw_env = entry.get("environment")
        env: dict[str, Any] = raw_env if isinstance(raw_env, dict) else {}
        who = env.get("git.author") or env.get("git.committer") or "someone"
        started = _unix(entry.get("startTime"))
        since = (_dt.datetime.fromtimestamp(started, _dt.timezone.utc).isoformat().replace("+00:00", "Z")
                 if started is not None else "?")
        return [Lock(username=str(who), hostname=urlsplit(self.url).netloc or self.url,
                     pid=f"update v{listing.newest}", timestamp=since,
                     where=f"{self.url} stack {fq} v{listing.newest}, an update in progress (Pulumi Cloud has no "
                           f"lock files)")]

    # -- our own marks and records --------------------------------------------------------------
    def records_prefix(self, ref: StackRef) -> str:
        return f"{RECORDS_DIR}/{self.org_of(ref)}/{ref.project}/{ref.name}"

    def tags(self, fq: str, *, fresh: bool = False) -> dict[str, str]:
        """The stack's tags (listed once per command; ``fresh``: listed again now)."""
        if fresh or fq not in self._tags:
            ws = self._workspace()
            found = self._call("stack tag ls", fq, lambda: ws.list_tags(fq))
            self._tags[fq] = {str(k): str(v) for k, v in dict(found or {}).items()}
        return self._tags[fq]

    def set_tag(self, fq: str, name: str, value: str) -> None:
        ws = self._workspace()
        arg = " " + value if value.startswith("-") else value  # never read as a flag by the CLI
        self._call("stack tag set", fq, lambda: ws.set_tag(fq, name, arg))
        self.tags(fq)[name] = value

    def remove_tag(self, fq: str, name: str) -> None:
        ws = self._workspace()
        self._call("stack tag rm", fq, lambda: ws.remove_tag(fq, name))
        self.tags(fq).pop(name, None)

    def warn_once(self, key: str, line: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn(line)

    def side_store(self, ref: StackRef) -> CloudSideStore:
        """Marks in stack tags; records in the records location, else a summary tag."""
        folder = FolderSideStore(self.records, self.records_prefix(ref)) if self.records is not None else None
        return CloudSideStore(self, self.qualified_name(ref), folder)


# -- helpers ------------------------------------------------------------------------------------
def _unix(value: Any) -> int | None:
    """The CLI's ``2025-10-09T10:00:00.000Z`` (RFC 3339, UTC) -> unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return int(t.timestamp())


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return "unknown error"


def _stderr_line(exc: BaseException) -> str:
    """The first error line of a failed command's stderr. Its stdout (an export's plaintext) is never used."""
    text = str(exc)
    i = text.rfind("\n stderr: ")
    stderr = text[i + len("\n stderr: "):] if i >= 0 else ""
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith("error:"):
            return s[len("error:"):].strip()[:300]
    return _first_line(stderr) if stderr.strip() else "the command failed without a message"
