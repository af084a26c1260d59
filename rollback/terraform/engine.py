"""The one boundary to a Terraform or OpenTofu binary: every call to the engine goes through here.

Only the engine's machine-readable interfaces are used: ``version -json``, ``init -json``, the ``-json``
streaming output of ``plan`` and ``apply`` (one JSON message a line), ``plan -out`` with ``show -json
PLANFILE``, ``show -json`` of the state and ``state pull``. Never ``state push``: pushing an old state
rewinds the record, not the infrastructure.

Every run gets ``CHECKPOINT_DISABLE=1`` (no version check calls home), ``TF_IN_AUTOMATION=1`` and
``TF_INPUT=0``; a workspace other than ``default`` is selected with ``TF_WORKSPACE`` (nothing is written to
the working directory to select it). Failures are translated here: a held state lock becomes
:class:`StateLocked` (a guard's refusal, exit 3, naming the holder), a ``prevent_destroy`` hit becomes
:class:`DestroyPrevented` (exit 3), anything else :class:`~rollback.errors.OperationFailed` with the
engine's first error, and a missing binary :class:`~rollback.errors.EngineUnavailable`. Callers never
see a ``subprocess`` error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, EngineUnavailable, OperationFailed, Refused

ENGINE_NAMES = ("tofu", "terraform")
ENGINE_ENV = {"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
# Where the tests (and anyone who ran scripts/build_terraform.sh) point at a binary not on PATH.
ENGINE_ENV_VAR = "INFRA_ROLLBACK_TF_ENGINE"
INSTALL_HINT = ("no `tofu` or `terraform` on PATH: install OpenTofu (https://opentofu.org/docs/intro/install/) "
                "or Terraform (https://developer.hashicorp.com/terraform/install), or name the binary with "
                f"--engine PATH or {ENGINE_ENV_VAR}")
#: How long an engine asked to stop (Ctrl-C, SIGTERM) gets to write its state and release the lock.
STOP_GRACE_SECONDS = 120


# ----------------------------------------------------------------------------------------------
# What the engine says


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic of a ``-json`` run (``type: diagnostic``)."""

    severity: str            # error | warning
    summary: str
    detail: str = ""
    address: str = ""        # the resource instance it is about, when the engine says

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Diagnostic:
        return cls(severity=str(doc.get("severity") or ""), summary=str(doc.get("summary") or ""),
                   detail=str(doc.get("detail") or ""), address=str(doc.get("address") or ""))

    def one_line(self) -> str:
        first = next((line.strip() for line in self.detail.splitlines() if line.strip()), "")
        text = f"{self.summary}: {first}" if first else self.summary
        return f"{text} ({self.address})" if self.address else text


@dataclass(frozen=True)
class LockInfo:
    """Who holds a state lock (Terraform's lock info: ID, Operation, Who, Version, Created, Path)."""

    id: str = ""
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    path: str = ""
    info: str = ""

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LockInfo:
        return cls(id=str(doc.get("ID") or ""), operation=str(doc.get("Operation") or ""),
                   who=str(doc.get("Who") or ""), version=str(doc.get("Version") or ""),
                   created=str(doc.get("Created") or ""), path=str(doc.get("Path") or ""),
                   info=str(doc.get("Info") or ""))

    @classmethod
    def from_text(cls, text: str) -> LockInfo:
        """The ``Lock Info:`` block of the engine's "Error acquiring the state lock" diagnostic."""
        fields: dict[str, str] = {}
        in_block = False
        for line in text.splitlines():
            if line.strip() == "Lock Info:":
                in_block = True
                continue
            if in_block:
                m = re.match(r"^\s+(\w+):\s*(.*)$", line)
                if not m:
                    break
                fields[m.group(1)] = m.group(2).strip()
        return cls.from_json(fields)

    def holder(self) -> str:
        """``alice@ci-runner (apply, since 2026-12-02 13:00:00 +0000 UTC, lock 1111-2222)``."""
        what = self.operation.removeprefix("OperationType").lower() or "an operation"
        parts = [what]
        if self.created:
            parts.append(f"since {self.created}")
        if self.id:
            parts.append(f"lock {self.id}")
        return f"{self.who or 'someone'} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "operation": self.operation, "who": self.who, "version": self.version,
                "created": self.created, "path": self.path}


class StateLocked(Refused):
    """The workspace's state is locked by someone else: refuse, naming the holder."""

    def __init__(self, lock: LockInfo, *, where: str) -> None:
        super().__init__(f"state {where} is locked by {lock.holder()}: wait for that run to finish, or "
                         f"`force-unlock {lock.id or 'LOCK_ID'}` if it died",
                         reasons=[f"state lock held by {lock.holder()}"])
        self.lock = lock


class DestroyPrevented(Refused):
    """The plan would destroy a resource whose configuration has ``lifecycle { prevent_destroy = true }``."""

    def __init__(self, addresses: Sequence[str], diagnostics: Sequence[Diagnostic]) -> None:
        names = ", ".join(addresses) or "a resource"
        super().__init__(f"the plan would destroy {names}, which has lifecycle.prevent_destroy set",
                         reasons=[f"would destroy {a} (lifecycle.prevent_destroy)" for a in addresses]
                         or [d.one_line() for d in diagnostics])
        self.addresses = tuple(addresses)


@dataclass(frozen=True)
class Run:
    """The outcome of one ``-json`` streaming run (plan or apply)."""

    command: str
    exit_code: int
    diagnostics: tuple[Diagnostic, ...] = ()
    changes: dict[str, int] = field(default_factory=dict)   # the change_summary: add, change, remove, import
    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


# ----------------------------------------------------------------------------------------------
# Finding the engine


def find_engine(preferred: str | None = None, *, environ: Mapping[str, str] | None = None,
                timeout: float = 1800) -> Engine:
    """The engine named by ``preferred`` (a name on PATH or a path), else ``$INFRA_ROLLBACK_TF_ENGINE``,
    else ``tofu`` or ``terraform`` from PATH, in that order."""
    env = os.environ if environ is None else environ
    wanted = preferred or env.get(ENGINE_ENV_VAR) or ""
    if wanted:
        path = shutil.which(wanted, path=env.get("PATH")) if os.sep not in wanted else (
            wanted if os.access(wanted, os.X_OK) else None)
        if path is None:
            origin = "--engine" if preferred else ENGINE_ENV_VAR
            raise EngineUnavailable(f"{origin} {wanted}: not an executable, nor a name on PATH (tofu, terraform, or "
                                    f"a path to one)")
        return Engine(path, timeout=timeout)
    for name in ENGINE_NAMES:
        path = shutil.which(name, path=env.get("PATH"))
        if path:
            return Engine(path, timeout=timeout)
    raise EngineUnavailable(INSTALL_HINT)


# ----------------------------------------------------------------------------------------------
# The engine


class Engine:
    """A ``tofu`` or ``terraform`` binary. Stateless: every method names the working directory."""

    def __init__(self, binary: str, *, env: Mapping[str, str] | None = None, timeout: float = 1800) -> None:
        self.binary = binary
        self.extra_env = dict(env or {})
        self.timeout = timeout
        self._version: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Engine({self.binary!r})"

    @property
    def name(self) -> str:
        """``tofu`` or ``terraform`` (what the binary is, for messages and records)."""
        base = Path(self.binary).name
        return "tofu" if "tofu" in base else "terraform" if "terraform" in base else base

    # -- plumbing -----------------------------------------------------------------------------
    def environment(self, workspace: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(ENGINE_ENV)
        env.pop("TF_WORKSPACE", None)
        if workspace and workspace != "default":
            env["TF_WORKSPACE"] = workspace
        if extra:
            env.update(extra)
        return env

    def _run(self, args: Sequence[str], *, cwd: Path, workspace: str | None = None,
             extra_env: Mapping[str, str] | None = None,
             on_line: Callable[[str], None] | None = None) -> tuple[int, str, str]:
        cmd = [self.binary, *args]
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=self.environment(workspace, extra_env),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    text=True, encoding="utf-8", errors="replace",
                                    start_new_session=True)   # a terminal's Ctrl-C reaches us; we forward one
        except FileNotFoundError as exc:
            raise EngineUnavailable(f"engine {self.binary} not found") from exc
        except NotADirectoryError as exc:
            raise BadInput(f"working directory {cwd} does not exist") from exc
        except OSError as exc:
            raise EngineUnavailable(f"cannot run {self.binary}: {exc.strerror or exc}") from exc
        out_lines: list[str] = []
        import threading

        err_chunks: list[str] = []
        reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read() if proc.stderr else ""),
                                  daemon=True)
        reader.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out_lines.append(line)
                if on_line is not None:
                    on_line(line)
            proc.wait(timeout=self.timeout)
        except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the engine stops as after its own Ctrl-C (state written)
            self._stop(proc)
            raise
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise OperationFailed(f"{self.name} {args[0]} in {cwd} did not finish within {self.timeout:.0f} s") from exc
        reader.join(timeout=10)
        return proc.returncode, "".join(out_lines), "".join(err_chunks)

    @staticmethod
    def _stop(proc: subprocess.Popen[str]) -> None:
        """Ask a running engine to stop gracefully (SIGINT: it finishes the operations in flight, writes the
        state and releases the lock) and wait for it; kill it only if it does not end in time."""
        import signal

        if proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    @staticmethod
    def _messages(stdout: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in stdout.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def _stream(self, command: str, args: Sequence[str], *, cwd: Path, workspace: str | None,
                on_event: Callable[[dict[str, Any]], None] | None = None,
                ok_codes: Iterable[int] = (0,)) -> Run:
        def on_line(line: str) -> None:
            if on_event is None or not line.startswith("{"):
                return
            try:
                doc = json.loads(line)
            except ValueError:
                return
            if isinstance(doc, dict):
                on_event(doc)

        code, stdout, stderr = self._run([command, *args], cwd=cwd, workspace=workspace, on_line=on_line)
        messages = self._messages(stdout)
        diags = tuple(Diagnostic.from_json(m["diagnostic"]) for m in messages
                      if m.get("type") == "diagnostic" and isinstance(m.get("diagnostic"), dict))
        changes: dict[str, int] = {}
        for m in messages:
            if m.get("type") == "change_summary" and isinstance(m.get("changes"), dict):
                changes = {k: int(v) for k, v in m["changes"].items() if isinstance(v, int)}
        run = Run(command=command, exit_code=code, diagnostics=diags, changes=changes, messages=tuple(messages))
        if code not in ok_codes:
            self._raise(run, cwd=cwd, stderr=stderr)
        return run

    def _raise(self, run: Run, *, cwd: Path, stderr: str) -> None:
        for d in run.errors:
            if d.summary.startswith("Error acquiring the state lock"):
                raise StateLocked(LockInfo.from_text(d.detail), where=f"of {cwd}")
            if d.summary.startswith("Saved plan is stale"):
                raise Refused("the state changed since the plan was made (another apply landed): nothing was "
                              "applied; preview again", reasons=["the state changed since the plan was made"])
        # Terraform: "Instance cannot be destroyed"; OpenTofu: "Resource instance cannot be destroyed".
        prevented = [d for d in run.errors if d.summary.endswith("nstance cannot be destroyed")]
        if prevented:
            addresses = []
            for d in prevented:
                m = re.search(r"Resource (?:instance )?(\S+) has (?:lifecycle\.)?prevent_destroy", d.detail)
                addresses.append(d.address or (m.group(1) if m else ""))
            raise DestroyPrevented([a for a in addresses if a], prevented)
        first = run.errors[0].one_line() if run.errors else _last_line(stderr) or f"exit code {run.exit_code}"
        more = f" (and {len(run.errors) - 1} more error(s))" if len(run.errors) > 1 else ""
        raise OperationFailed(f"{self.name} {run.command} failed in {cwd}: {first}{more}")

    def _json(self, args: Sequence[str], *, cwd: Path, workspace: str | None, what: str) -> Any:
        code, stdout, stderr = self._run(args, cwd=cwd, workspace=workspace)
        if code != 0:
            raise OperationFailed(f"{self.name} {what} failed in {cwd}: {_last_line(stderr) or f'exit code {code}'}")
        try:
            return json.loads(stdout)
        except ValueError as exc:
            raise OperationFailed(f"{self.name} {what} in {cwd} did not print JSON") from exc

    # -- the commands -------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        """``version -json``: ``{"terraform_version": "1.12.6", "platform": ..., ...}``."""
        if self._version is None:
            doc = self._json(["version", "-json"], cwd=Path.cwd(), workspace=None, what="version")
            self._version = doc if isinstance(doc, dict) else {}
        return self._version

    def init(self, cwd: Path, *, backend_config: Sequence[str | Path] = (), reconfigure: bool = False,
             workspace: str | None = None) -> Run:
        """``init -json``: backend and providers (``backend_config``: files or ``key=value`` items)."""
        args = ["-input=false", "-json"]
        if reconfigure:
            args.append("-reconfigure")
        args += [f"-backend-config={item}" for item in backend_config]
        return self._stream("init", args, cwd=cwd, workspace=workspace)

    def plan(self, cwd: Path, *, out: Path | None = None, var_files: Sequence[Path] = (),
             variables: Mapping[str, str] | None = None, detailed_exitcode: bool = False,
             workspace: str | None = None, lock_timeout: str = "0s", refresh_only: bool = False,
             on_event: Callable[[dict[str, Any]], None] | None = None) -> Run:
        """``plan -json``; with ``detailed_exitcode`` the exit code says 0 no changes, 2 changes."""
        args = ["-input=false", "-json", f"-lock-timeout={lock_timeout}"]
        if out is not None:
            args.append(f"-out={out}")
        if detailed_exitcode:
            args.append("-detailed-exitcode")
        if refresh_only:
            args.append("-refresh-only")
        args += [f"-var-file={f}" for f in var_files]
        args += [f"-var={k}={v}" for k, v in (variables or {}).items()]
        return self._stream("plan", args, cwd=cwd, workspace=workspace, on_event=on_event,
                            ok_codes=(0, 2) if detailed_exitcode else (0,))

    def show_plan(self, cwd: Path, planfile: Path, *, workspace: str | None = None) -> dict[str, Any]:
        """``show -json PLANFILE``: the plan's JSON representation (it holds sensitive values in clear:
        keep it in memory, never write it out)."""
        doc = self._json(["show", "-json", str(planfile)], cwd=cwd, workspace=workspace, what="show (plan)")
        if not isinstance(doc, dict):
            raise OperationFailed(f"{self.name} show -json {planfile}: not a plan document")
        return doc

    def show_state(self, cwd: Path, *, workspace: str | None = None) -> dict[str, Any]:
        """``show -json``: the current state's JSON representation."""
        doc = self._json(["show", "-json"], cwd=cwd, workspace=workspace, what="show (state)")
        return doc if isinstance(doc, dict) else {}

    def apply(self, cwd: Path, planfile: Path, *, workspace: str | None = None, lock_timeout: str = "0s",
              on_event: Callable[[dict[str, Any]], None] | None = None) -> Run:
        """``apply -json PLANFILE``: exactly the saved plan, nothing re-planned."""
        args = ["-input=false", "-json", f"-lock-timeout={lock_timeout}", str(planfile)]
        return self._stream("apply", args, cwd=cwd, workspace=workspace, on_event=on_event)

    def state_pull(self, cwd: Path, *, workspace: str | None = None) -> bytes:
        """``state pull``: the raw current state, as the backend holds it (b"" for an empty workspace)."""
        code, stdout, stderr = self._run(["state", "pull"], cwd=cwd, workspace=workspace)
        if code != 0:
            raise OperationFailed(f"{self.name} state pull failed in {cwd}: {_last_line(stderr) or f'exit code {code}'}")
        return stdout.encode()

    def workspace_new(self, cwd: Path, name: str) -> None:
        """``workspace new NAME`` (deploys into a workspace that does not exist yet)."""
        code, _, stderr = self._run(["workspace", "new", "-lock-timeout=0s", name], cwd=cwd)
        if code != 0 and "already exists" not in stderr:
            raise OperationFailed(f"{self.name} workspace new {name} failed in {cwd}: {_last_line(stderr)}")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _last_line(text: str) -> str:
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("╷╵│─")]
    meaningful = [line.lstrip("│ ").strip() for line in lines]
    errors = [line for line in meaningful if line.startswith("Error:")]
    return (errors[0] if errors else meaningful[-1] if meaningful else "")


__all__ = [
    "DestroyPrevented", "Diagnostic", "ENGINE_ENV", "ENGINE_ENV_VAR", "Engine", "INSTALL_HINT", "LockInfo",
    "Run", "STOP_GRACE_SECONDS", "StateLocked", "find_engine",
]
