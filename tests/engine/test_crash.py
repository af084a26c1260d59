"""Real engine: a held lock, then `kill -9` of the engine mid-update, then a rerun.

While another update runs, the rollback is refused naming the lock's holder. After the engine is killed, the
lock and the pending operation it left make the rollback refuse again, naming both, with the backend byte for
byte as it was. After the documented recovery (`pulumi cancel`, `pulumi refresh --clear-pending-creates`) the
rollback goes through and converges.

Run as a module, this file is the team's deploy that gets killed: ``python -m tests.engine.test_crash URL LOG``.

Real engine only: what is tested is how a real `pulumi` process leaves a DIY backend when killed or stopped
(lock files, pending operations, its own SIGINT handling). The double's side of locks and pending operations is
tests/test_apply.py (refused naming the holder and the way out, the backend byte for byte as it was).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.logged import Logged, read_log
from tests.engine.world import EngineWorld

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]
PROJECT = "story"


def release(log: str, value: object):
    def program() -> None:
        Logged("worker", log=log, value=value)
        Logged("queue", log=log, value="q")
    return program


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _engine_pid(pid: int) -> int | None:
    """The `pulumi` CLI process under the deploy's Python process."""
    for child in _children(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "pulumi":
                return child
        except OSError:
            continue
    return None


def _wait(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_lock_kill_9_pending_operations_then_recovery(tmp_path: Path, engine_bin_dir: Path) -> None:
    world = EngineWorld(tmp_path, engine_bin_dir, project=PROJECT)
    (world.cwd / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    log = str(tmp_path / "provider.log")
    world.up(release(log, 1), message="v1")
    world.up(release(log, 2), message="v2")

    deploy = subprocess.Popen([sys.executable, "-m", "tests.engine.test_crash", world.url, log], env=world.env,
                              cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: any(c["op"] == "update-started" for c in read_log(log)), "the slow update to start")
        locks = world.backend / ".pulumi" / "locks"
        assert any(locks.rglob("*.json")), "a running update holds a lock file"

        before = world.snapshot()
        held = world.cli("prod", "--to", "1", "--yes", "--no-verify")
        assert held.returncode == 3, held.stderr
        assert "stack is locked by" in held.stderr and "pulumi cancel" in held.stderr
        assert world.snapshot() == before

        engine = _engine_pid(deploy.pid)
        assert engine is not None, "the deploy's pulumi process"
        os.kill(engine, signal.SIGKILL)
        deploy.wait(timeout=120)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()

    pending = world.state().get("pending_operations") or []
    assert pending and pending[0]["type"] == "updating"
    before = world.snapshot()
    crashed = world.cli("prod", "--to", "1", "--yes", "--no-verify")
    assert crashed.returncode == 3, crashed.stderr
    assert "pending operation" in crashed.stderr and "stack is locked by" in crashed.stderr
    assert "pulumi refresh --clear-pending-creates" in crashed.stderr
    assert world.snapshot() == before
    assert len(crashed.stderr.strip().splitlines()) == 1

    # The documented recovery, as a person runs it.
    qualified = f"organization/{PROJECT}/prod"
    world.pulumi("cancel", "--yes", "--stack", qualified)
    world.pulumi("refresh", "--yes", "--clear-pending-creates", "--stack", qualified)
    assert not world.state().get("pending_operations")

    done = world.cli("prod", "--to", "1", "--yes", "--no-verify")
    assert done.returncode == 0, done.stderr
    assert set(world.preview(release(log, 1))) == {"same"}


if __name__ == "__main__":
    from pulumi import automation as auto

    url, log_path = sys.argv[1], sys.argv[2]
    workspace = Path(log_path).parent / "killed-deploy-workspace"   # not the Automation API's own temporary folder
    workspace.mkdir(exist_ok=True)
    settings = auto.ProjectSettings(name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=url))
    stack = auto.select_stack(stack_name=f"organization/{PROJECT}/prod", project_name=PROJECT,
                              program=release(log_path, "sleep:90"),
                              opts=auto.LocalWorkspaceOptions(project_settings=settings,
                                                              env_vars={"PULUMI_BACKEND_URL": url},
                                                              work_dir=str(workspace)))
    stack.up(message="v3: a deploy that will be killed")


def test_sigterm_mid_apply_stops_the_engine_gracefully(tmp_path: Path, engine_bin_dir: Path) -> None:
    """A CI job cancelled mid-rollback (SIGTERM): one line, exit 130, the engine asked to stop after the step in
    flight (so the lock is released and nothing is pending), and the audit record says it was interrupted."""
    world = EngineWorld(tmp_path, engine_bin_dir, project=PROJECT)
    log = str(tmp_path / "provider.log")
    world.up(release(log, "sleep:8"), message="v1: its update takes a while")
    world.up(release(log, 2), message="v2")
    rollback = subprocess.Popen(
        [sys.executable, "-m", "rollback", "prod", "--to", "1", "--yes", "--no-verify", "--json",
         "--backend", world.url, "--cwd", str(world.cwd)],
        env=world.env, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        _wait(lambda: sum(c["op"] == "update-started" for c in read_log(log)) >= 1, "the rollback's slow update")
        rollback.send_signal(signal.SIGTERM)
        out, err = rollback.communicate(timeout=180)
    finally:
        if rollback.poll() is None:
            rollback.kill()
    assert rollback.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted (SIGTERM)" in err and "pulumi cancel" in err
    doc = json.loads(out)
    assert doc["outcome"] == "interrupted" and doc["record"]["outcome"] == "interrupted"
    assert not list((world.backend / ".pulumi" / "locks").rglob("*.json"))      # the engine released its lock
    assert not world.state().get("pending_operations")
