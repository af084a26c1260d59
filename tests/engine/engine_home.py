"""Where the real Pulumi engine for the tests lives, and the environment it runs in.

``scripts/build_engine.sh`` builds the CLI, the Python helpers and the Kubernetes provider from Go modules into
a cache folder (``--print-dir`` names it). ``INFRA_ROLLBACK_ENGINE_BIN`` points at another folder holding the
same binaries. The engine never downloads anything while the tests run: plugins are found on PATH, automatic
plugin acquisition is off, and ``PULUMI_HOME`` is the test's own temp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build_engine.sh"
PULUMI_VERSION = "v3.274.1"
KUBERNETES_VERSION = "4.25.0"
BINARIES = ("pulumi", "pulumi-resource-pulumi-python", "pulumi-language-python-exec", "pulumi-resource-kubernetes")
BUILD_LOG = Path(os.environ.get("TMPDIR", "/tmp")) / "infra-rollback-engine-build.log"


def engine_bin() -> Path | None:
    """The folder holding a complete engine at the pinned versions, or None."""
    explicit = os.environ.get("INFRA_ROLLBACK_ENGINE_BIN")
    if explicit:
        folder = Path(explicit)
    else:
        try:
            folder = Path(subprocess.run(["bash", str(BUILD_SCRIPT), "--print-dir"], check=True,
                                         capture_output=True, text=True).stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            return None
    if not all(os.access(folder / b, os.X_OK) for b in BINARIES):
        return None
    try:
        version = subprocess.run([str(folder / "pulumi"), "version"], capture_output=True, text=True,
                                 timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return folder if version == PULUMI_VERSION else None


def build_engine() -> tuple[Path | None, str]:
    """Run the build script (cached); returns (folder, '') or (None, the command and its last lines)."""
    cmd = ["bash", str(BUILD_SCRIPT)]
    with open(BUILD_LOG, "w") as log:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    if proc.returncode == 0:
        folder = engine_bin()
        if folder is not None:
            return folder, ""
    tail = BUILD_LOG.read_text(errors="replace").strip().splitlines()[-15:]
    return None, f"`{' '.join(cmd)}` exited {proc.returncode}; last lines:\n" + "\n".join(tail)


def have_go() -> bool:
    return shutil.which("go") is not None


def engine_environ(bin_dir: Path, home: Path, *, passphrase: str | None = None) -> dict[str, str]:
    """The environment a real-engine test runs the CLI (and the Automation API) in."""
    env = dict(os.environ)
    env.update({
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "PULUMI_HOME": str(home),
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        "PULUMI_PYTHON_CMD": sys.executable,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        "NO_COLOR": "1",
    })
    env.pop("PULUMI_BACKEND_URL", None)
    env.pop("PULUMI_ACCESS_TOKEN", None)
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env
