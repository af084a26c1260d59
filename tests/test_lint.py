"""The code stays lint-clean by the project's own ruff settings (pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.paths import ROOT


def test_ruff_is_clean() -> None:
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (it is in the `test` extra: pip install -e '.[test]')")
    done = subprocess.run([exe, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
