"""The full rehearsal against the SDK's own floor, each in a process of its own.

Run: ``python -m bench.rehearsal ours CHECKPOINT`` or ``python -m bench.rehearsal sdk CHECKPOINT``; prints
one JSON line: ``seconds`` (the timed part), ``kb_per_resource`` (peak memory above what the process
held before the timed part, per resource) and ``resources``.

- ``ours``: plan the replay of the checkpoint and rehearse it in full under the mocks (plan, register,
  check), as before an apply;
- ``sdk``: the SDK's floor: the same resources registered as ``pulumi.CustomResource`` objects with the
  same inputs (secrets as ``Output.secret``) and dependencies, under the stock ``MockMonitor`` and a
  ``Mocks`` that answers with the inputs, as the SDK's own tests do. Preparing those inputs (decrypting,
  decoding) happens before the clock starts.

The passphrase key is derived before the clock starts on both sides.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.data import PASSPHRASE, PROJECT, STACK  # noqa: E402


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _load(path: Path) -> tuple[Any, Any]:
    from rollback.state.codec import parse_deployment
    from rollback.state.secrets import SecretBox

    target = parse_deployment(path.read_bytes(), source=str(path))
    box = SecretBox(target.secrets_provider, source=str(path), passphrase=lambda: PASSPHRASE)
    box.check()
    return target, box


def ours(path: Path) -> dict[str, Any]:
    import pulumi  # noqa: F401 - import cost is not registration cost (both sides import it first)

    from rollback.replay import build_replay_program, rehearse

    target, box = _load(path)
    gc.collect()
    before = _rss_kb()
    t = time.perf_counter()
    plan = build_replay_program(target, secrets=box, current=target)
    result = rehearse(plan, target, secrets=box, project=PROJECT, stack=STACK)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not result.ok:
        raise SystemExit(f"the rehearsal failed: {result.mismatches[:3]}")
    return {"seconds": seconds, "kb_per_resource": (peak - before) / max(1, result.resources),
            "resources": result.resources}


def sdk(path: Path) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor, Mocks

    from rollback.replay._common import is_default_provider, recorded_inputs
    from rollback.replay.mocks import run_under_mocks
    from rollback.state.values import Secret

    target, box = _load(path)

    def prepare(value: Any) -> Any:
        if isinstance(value, Secret):
            return ("secret", prepare(box.reveal(value)))
        if isinstance(value, dict):
            return {k: prepare(v) for k, v in value.items()}
        if isinstance(value, list):
            return [prepare(v) for v in value]
        return value

    def materialize(value: Any) -> Any:
        if isinstance(value, tuple):
            return pulumi.Output.secret(materialize(value[1]))
        if isinstance(value, dict):
            return {k: materialize(v) for k, v in value.items()}
        if isinstance(value, list):
            return [materialize(v) for v in value]
        return value

    members = [r for r in target.live_resources() if not r.is_stack and not is_default_provider(r)]
    prepared = [(r, prepare(recorded_inputs(r))) for r in members]

    class AnswerWithInputs(Mocks):
        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", args.inputs

        def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            return {}, []

    def program() -> None:
        objects: dict[str, Any] = {}
        for r, inputs in prepared:
            opts = pulumi.ResourceOptions(depends_on=[objects[u] for u in r.dependencies if u in objects] or None)
            objects[r.urn] = pulumi.CustomResource(r.type, r.name, materialize(inputs), opts)

    gc.collect()
    before = _rss_kb()
    t = time.perf_counter()
    run = run_under_mocks(program, project=PROJECT, stack=STACK, monitor=MockMonitor(AnswerWithInputs()),
                          timeout=3600)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if run.error is not None:
        raise SystemExit(f"the SDK floor failed: {run.error!r}")
    return {"seconds": seconds, "kb_per_resource": (peak - before) / max(1, len(members)),
            "resources": len(members)}


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    out = ours(path) if mode == "ours" else sdk(path)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
