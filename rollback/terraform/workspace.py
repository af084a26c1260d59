"""A Terraform working directory and workspace, its git repository, and temporary checkouts of old commits.

:class:`Workspace` is what every Terraform action starts from: the (initialised) working directory, the
selected workspace, its backend (:mod:`rollback.terraform.backends`) and where it sits in its git
repository. :func:`checkout` puts a commit into a temporary ``git worktree`` and writes an override file
there that points the configuration at the same backend as the working directory, whatever backend block
that commit had (a ``*_override.tf.json`` file replaces the backend block; nothing else is overridden).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollback.errors import BadInput, TargetError
from rollback.terraform.backends import Backend, open_backend, read_backend_settings, selected_workspace

OVERRIDE_FILE = "zz_infra_rollback_backend_override.tf.json"


@dataclass(frozen=True)
class GitState:
    head: str | None
    dirty: bool
    branch: str | None = None


def _git(args: list[str], cwd: Path, *, timeout: float = 60) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BadInput(f"git {args[0]} in {cwd}: {exc}") from exc
    if proc.returncode != 0:
        raise BadInput(f"git {' '.join(args[:2])} in {cwd}: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
    return proc.stdout.strip()


def git_state(cwd: Path) -> GitState:
    """The commit and cleanliness of ``cwd``'s repository (HEAD None outside a repository)."""
    try:
        head = _git(["rev-parse", "HEAD"], cwd)
    except BadInput:
        return GitState(None, False)
    dirty = bool(_git(["status", "--porcelain", "--untracked-files=no", "--", "."], cwd))
    try:
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    except BadInput:
        branch = None
    return GitState(head, dirty, None if branch == "HEAD" else branch)


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")


def check_workspace_name(name: str) -> None:
    """A workspace name as Terraform allows it (URL-safe characters, no path separator)."""
    if not name or len(name) > 90 or name in (".", "..") or not set(name) <= _NAME_CHARS:
        from rollback.safetext import one_line

        raise BadInput(f"'{one_line(name, limit=60)}' is not a Terraform workspace name (letters, digits, "
                       f"'-', '_', '.', '~'; STACK names the workspace, e.g. prod or default)")


@dataclass
class Workspace:
    workdir: Path
    name: str
    backend: Backend
    settings: tuple[str, dict[str, Any]]
    repo_root: Path | None
    subdir: str

    @classmethod
    def open(cls, workdir: Path, *, workspace: str | None = None,
             environ: Mapping[str, str] | None = None) -> Workspace:
        env = os.environ if environ is None else environ
        workdir = workdir.resolve()
        if not workdir.is_dir():
            raise BadInput(f"working directory {workdir} does not exist")
        settings = read_backend_settings(workdir)
        name = workspace or selected_workspace(workdir, env)
        check_workspace_name(name)
        backend = open_backend(workdir, workspace=name, settings=settings)
        try:
            root: Path | None = Path(_git(["rev-parse", "--show-toplevel"], workdir)).resolve()
        except BadInput:
            root = None
        subdir = str(workdir.relative_to(root)) if root is not None else ""
        return cls(workdir=workdir, name=name, backend=backend, settings=settings, repo_root=root,
                   subdir="" if subdir == "." else subdir)

    def history(self) -> Any:
        from rollback.terraform.history import TfHistory

        return TfHistory(self.backend)

    def git(self) -> GitState:
        return git_state(self.workdir)

    def resolve_commit(self, ref: str) -> str:
        if self.repo_root is None:
            raise TargetError(f"{self.workdir} is not in a git repository: git:{ref} cannot be resolved")
        try:
            return _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], self.repo_root)
        except BadInput as exc:
            raise TargetError(f"git:{ref}: no such commit in {self.repo_root}") from exc

    def backend_override(self) -> dict[str, Any]:
        """The override document that points a configuration at this working directory's backend."""
        kind, config = self.settings
        config = dict(config)
        if kind == "local":
            backend = self.backend
            state_path = getattr(backend, "state_path", self.workdir / "terraform.tfstate")
            if self.name == "default":
                config["path"] = str(state_path)
            ws_dir = Path(str(config.get("workspace_dir") or "terraform.tfstate.d"))
            config["workspace_dir"] = str(ws_dir if ws_dir.is_absolute() else self.workdir / ws_dir)
        return {"terraform": {"backend": {kind: config}}}


@contextlib.contextmanager
def checkout(ws: Workspace, commit: str) -> Iterator[tuple[Path, Path]]:
    """``(private temp folder, working directory inside a worktree of commit)``; both removed on exit.

    The temp folder (mode 0700) also receives the variables file and the plan file: both hold secrets
    in clear, and neither is left behind."""
    if ws.repo_root is None:
        raise TargetError(f"{ws.workdir} is not in a git repository: a rollback checks out the target's commit")
    try:
        _git(["cat-file", "-e", f"{commit}^{{commit}}"], ws.repo_root)
    except BadInput as exc:
        raise TargetError(f"commit {commit[:12]} is not in {ws.repo_root}: fetch it (git fetch) and retry") from exc
    tmp = Path(tempfile.mkdtemp(prefix="infra-rollback-tf-"))
    tree = tmp / "src"
    added = False
    try:
        _git(["worktree", "add", "--detach", "--quiet", str(tree), commit], ws.repo_root, timeout=300)
        added = True
        workdir = tree / ws.subdir if ws.subdir else tree
        if not workdir.is_dir():
            raise TargetError(f"commit {commit[:12]} has no {ws.subdir or 'working directory'}")
        override = workdir / OVERRIDE_FILE
        override.write_text(json.dumps(ws.backend_override(), indent=2))
        os.chmod(override, 0o600)
        yield tmp, workdir
    finally:
        if added:
            with contextlib.suppress(BadInput):
                _git(["worktree", "remove", "--force", str(tree)], ws.repo_root)
        shutil.rmtree(tmp, ignore_errors=True)
        if added:
            with contextlib.suppress(BadInput):
                _git(["worktree", "prune"], ws.repo_root)


def write_var_file(folder: Path, values: Mapping[str, Any]) -> Path:
    """A ``.tfvars.json`` file readable by its owner only (it may hold secrets in clear)."""
    path = folder / "infra-rollback.tfvars.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(dict(values), fh)
    return path


__all__ = ["GitState", "OVERRIDE_FILE", "Workspace", "check_workspace_name", "checkout", "git_state", "write_var_file"]
