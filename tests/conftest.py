"""Suite-wide rules for the tests that need the real Pulumi engine (marker ``engine``).

The engine is built from Go modules by ``scripts/build_engine.sh`` (cached). When the selected tests need it
and it is missing, it is built here, before the first test runs, so the README's one test command runs the
real-engine tests too. On a machine with Go those tests never skip: a failed build fails them, with the
build's last lines. Only where there is no Go at all do they skip, with one line saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.engine_home import build_engine, engine_bin, have_go

_ENGINE: dict[str, object] = {"bin": None, "error": None}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needing = [item for item in items if "engine" in item.keywords]
    if not needing:
        return
    found = engine_bin()
    if found is None and have_go():
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("building the Pulumi engine from Go modules (scripts/build_engine.sh; cached "
                                "afterwards) ...")
        found, error = build_engine()
        _ENGINE["error"] = error or None
    _ENGINE["bin"] = found
    if found is None and not have_go():
        skip = pytest.mark.skip(reason="the real Pulumi engine is not built and there is no Go on PATH to build it "
                                       "(scripts/build_engine.sh needs Go 1.26)")
        for item in needing:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def engine_bin_dir() -> Path:
    """The folder of the real engine's binaries (fails, never skips, when Go is here but the build failed)."""
    found = _ENGINE["bin"]
    if found is None:
        pytest.fail(f"the real Pulumi engine could not be built: {_ENGINE['error'] or 'not found'}")
    assert isinstance(found, Path)
    return found
