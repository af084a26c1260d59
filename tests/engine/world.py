"""A fresh DIY file backend driven by the real Pulumi engine, and the real ``infra-rollback`` CLI beside it.

    world = EngineWorld(tmp_path, engine_bin_dir, project="story")
    world.up(program_v1, message="v1")                 # the Automation API, as a team's CI would
    result = world.cli("prod", "--to", "previous", "--yes", "--no-verify")
    assert result.returncode == 0, result.stderr

Every update runs with the passphrase secrets provider, ``PULUMI_HOME`` in the temp folder and no plugin
downloads. ``cli`` runs ``python -m rollback`` in a subprocess with the same environment, so what is tested is
the command a person or CI runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.engine.engine_home import ROOT, engine_environ

PASSPHRASE = "real-engine-passphrase"


class BackendView:
    """A world's folders (``tmp/backend``, a DIY file backend; ``tmp/project``, the CLI's ``--cwd``) and what is
    in its backend (``stack_file()``): the current state and every file."""

    def __init__(self, tmp: Path, *, project: str, stack: str) -> None:
        self.tmp = tmp
        self.project = project
        self.stack = stack
        self.backend = tmp / "backend"
        self.backend.mkdir(parents=True, exist_ok=True)
        self.cwd = tmp / "project"
        self.cwd.mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        return f"file://{self.backend}"

    def stack_file(self) -> Path:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        from rollback.state.codec import decompress

        raw = json.loads(decompress(self.stack_file().read_bytes(), source=str(self.stack_file())))
        return raw["checkpoint"]["latest"]

    def resources(self) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.state().get("resources") or [] if not r.get("delete")}

    def snapshot(self) -> dict[str, str]:
        """Every file under the backend with its sha256: 'byte for byte as it was'."""
        return {str(p.relative_to(self.backend)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.backend.rglob("*")) if p.is_file()}


class EngineWorld(BackendView):
    def __init__(self, tmp: Path, bin_dir: Path, *, project: str = "story", stack: str = "prod",
                 legacy: bool = False, gzip: bool = False) -> None:
        super().__init__(tmp, project=project, stack=stack)
        self.home = tmp / "pulumi-home"
        self.env = engine_environ(bin_dir, self.home, passphrase=PASSPHRASE)
        self.tmpdir = tmp / "tmpdir"   # the CLI's temporary folder: what a run leaves behind shows up here
        self.tmpdir.mkdir(exist_ok=True)
        self.env["TMPDIR"] = str(self.tmpdir)
        if legacy:
            self.env["PULUMI_DIY_BACKEND_LEGACY_LAYOUT"] = "true"
            self.env["PULUMI_DIY_BACKEND_IGNORE_DEPRECATION_ERROR"] = "true"
        if gzip:
            self.env["PULUMI_DIY_BACKEND_GZIP"] = "true"
        self.legacy = legacy

    # -- the engine, as the team's own deploys drive it ----------------------------------------------
    @contextmanager
    def environ(self) -> Iterator[None]:
        """The engine's environment in this process too (the Automation API reads os.environ)."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({k: v for k, v in self.env.items() if k != "TMPDIR"})   # tempfile keeps its first answer
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def stack_obj(self, program: Callable[[], None], *, stack: str | None = None) -> Any:
        from pulumi import automation as auto

        name = stack or self.stack
        qualified = name if self.legacy else f"organization/{self.project}/{name}"
        settings = auto.ProjectSettings(name=self.project, runtime="python",
                                        backend=auto.ProjectBackend(url=self.url))
        work = self.tmp / "harness-workspace"   # not the Automation API's own temporary folder, never removed
        work.mkdir(exist_ok=True)
        opts = auto.LocalWorkspaceOptions(project_settings=settings, env_vars={"PULUMI_BACKEND_URL": self.url},
                                          work_dir=str(work))
        return auto.create_or_select_stack(stack_name=qualified, project_name=self.project, program=program,
                                           opts=opts)

    def up(self, program: Callable[[], None], *, message: str = "", stack: str | None = None,
           config: dict[str, Any] | None = None) -> dict[str, int]:
        with self.environ():
            st = self.stack_obj(program, stack=stack)
            for key, value in (config or {}).items():
                from pulumi import automation as auto

                if isinstance(value, tuple):   # ("secret", "value")
                    st.set_config(key, auto.ConfigValue(value[1], secret=True))
                else:
                    st.set_config(key, auto.ConfigValue(str(value)))
            result = st.up(message=message)
        return {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}

    def preview(self, program: Callable[[], None], *, stack: str | None = None) -> dict[str, int]:
        """The engine's own preview of ``program`` against the stack now (op -> count)."""
        with self.environ():
            result = self.stack_obj(program, stack=stack).preview(diff=True)
        return {str(getattr(k, "value", k)): int(v) for k, v in (result.change_summary or {}).items()}

    def pulumi(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The pulumi CLI itself (for what a person does by hand: recovery after a crash, say)."""
        env = dict(self.env, PULUMI_BACKEND_URL=self.url)
        return subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.cwd, env=env, text=True,
                              capture_output=True, check=check, timeout=timeout)

    # -- our CLI -----------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = [sys.executable, "-m", "rollback", *args, "--backend", self.url, "--cwd", str(self.cwd)]
        return subprocess.run(full, cwd=ROOT, env={**self.env, **(env or {})}, text=True, capture_output=True,
                              timeout=timeout)

    def cli_json(self, *args: str) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stack_file(self) -> Path:
        base = self.backend / ".pulumi" / "stacks"
        folder = base if self.legacy else base / self.project
        found = sorted(folder.glob(f"{self.stack}.json*"))
        assert found, f"no stack file for {self.stack} under {folder}"
        return found[0]
