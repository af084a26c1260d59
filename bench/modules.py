"""Which heavy modules a command imports: ``python -m bench.modules ARG ...`` runs ``infra-rollback ARG ...``
in this interpreter (its output thrown away) and prints the heavy top-level packages it loaded as JSON."""

from __future__ import annotations

import contextlib
import io
import json
import sys

HEAVY = ("pulumi", "grpc", "boto3", "botocore", "kubernetes", "pydantic", "rich", "markdown_it", "typer", "click")


def main() -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            try:
                from rollback.entry import main as cli  # the console script's entry point
            except ImportError:   # before rollback/entry.py existed
                from rollback.cli import main as cli

            cli(sys.argv[1:])
        except SystemExit:
            pass
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    print(json.dumps(loaded))


if __name__ == "__main__":
    main()
