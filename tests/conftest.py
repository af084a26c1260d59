"""Suite-wide rules: tests that need a real Pulumi CLI run only where one is on PATH."""

from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("pulumi"):
        return
    skip = pytest.mark.skip(reason="needs the Pulumi CLI (`pulumi` on PATH); none here: "
                                   "install it from https://www.pulumi.com/docs/install/ to run")
    for item in items:
        if "pulumi_cli" in item.keywords:
            item.add_marker(skip)
