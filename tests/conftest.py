"""Suite-wide rules for the tests that need a real engine built from Go modules.

Marker ``engine``: the Pulumi engine, built by ``scripts/build_engine.sh``. Marker ``terraform``: OpenTofu and
the hashicorp/aws provider mirror, built by ``scripts/build_terraform.sh``. Both are cached outside the work
tree. When the selected tests need one and it is missing, it is built here, before the first test runs, so the
README's one test command runs those tests too. On a machine with Go they never skip: a failed build fails
them, with the build's last lines. Only where there is no Go at all do they skip, with one line saying why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.engine.engine_home import ROOT, build_engine, engine_bin, have_go

_ENGINE: dict[str, object] = {"bin": None, "error": None}
_TERRAFORM: dict[str, object] = {"error": None}


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)


def _build_terraform() -> str | None:
    """Run scripts/build_terraform.sh (cached); None when it worked, else the command and its last lines."""
    cmd = ["bash", str(ROOT / "scripts" / "build_terraform.sh")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    return f"`{' '.join(cmd)}` exited {proc.returncode}; last lines:\n" + "\n".join(tail)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needing = [item for item in items if "engine" in item.keywords]
    if needing:
        found = engine_bin()
        if found is None and have_go():
            _say(config, "building the Pulumi engine from Go modules (scripts/build_engine.sh; cached afterwards) ...")
            found, error = build_engine()
            _ENGINE["error"] = error or None
        _ENGINE["bin"] = found
        if found is None and not have_go():
            skip = pytest.mark.skip(reason="the real Pulumi engine is not built and there is no Go on PATH to build "
                                           "it (scripts/build_engine.sh needs Go 1.26)")
            for item in needing:
                item.add_marker(skip)
    tf_needing = [item for item in items if "terraform" in item.keywords]
    if tf_needing:
        from tests.terraform.conftest import engine_available

        if not engine_available() and have_go():
            _say(config, "building OpenTofu and the hashicorp/aws mirror (scripts/build_terraform.sh; cached "
                         "afterwards) ...")
            _TERRAFORM["error"] = _build_terraform()
        if not engine_available():
            if have_go():
                fail = pytest.mark.usefixtures("terraform_build_failed")
                for item in tf_needing:
                    item.add_marker(fail)
            else:
                skip = pytest.mark.skip(reason="OpenTofu is not built and there is no Go on PATH to build it "
                                               "(scripts/build_terraform.sh needs Go 1.26)")
                for item in tf_needing:
                    item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_ambient_pulumi(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `pulumi` of the machine's own on PATH must not change what a test sees (a preview asks the engine when
    there is one): tests that want the engine use the one built for them (tests/engine), through its folder."""
    keep = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and not os.access(os.path.join(p, "pulumi"), os.X_OK)]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts with an empty cache of history rows (rollback/actions/rowcache.py), its own."""
    monkeypatch.setenv("INFRA_ROLLBACK_CACHE_DIR", str(tmp_path / "infra-rollback-cache"))
    monkeypatch.delenv("INFRA_ROLLBACK_NO_CACHE", raising=False)


@pytest.fixture()
def terraform_build_failed() -> None:
    pytest.fail(f"OpenTofu could not be built: {_TERRAFORM['error'] or 'not found after the build'}")


@pytest.fixture(scope="session")
def engine_bin_dir() -> Path:
    """The folder of the real engine's binaries (fails, never skips, when Go is here but the build failed)."""
    found = _ENGINE["bin"]
    if found is None:
        pytest.fail(f"the real Pulumi engine could not be built: {_ENGINE['error'] or 'not found'}")
    assert isinstance(found, Path)
    return found
