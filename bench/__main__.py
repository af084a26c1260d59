"""``python -m bench``: every performance goal of issue 13 (and issue 10's memory line), as ratios.

Each goal compares two whole commands run in turn (A B A B ..., after a warm-up of each): the ratio is
taken pair by pair and printed as its median and minimum over the runs; the goal applies to the median.
Absolute times on a shared machine mean little and are printed only beside the ratios. Request counts
(S3, through a counting moto server in a process of its own) are exact.

No ``pulumi`` CLI is on the commands' PATH: the benchmarks measure infra-rollback's own work, not the
engine's preview. The data is generated with the state writer (``bench/data.py``) into ``--data``
(default: a temporary directory, removed at the end; a kept directory is reused on the next run).

Run from the project root: ``python -m bench`` (``--runs N``, ``--only NAME,...``, ``--data DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402
from bench.runner import Pairs, command, pairs, reported, run  # noqa: E402

GOALS = ("startup", "preview", "no-rehearse", "noops", "history-length", "s3", "rehearsal", "memory")


# -- the commands -------------------------------------------------------------------------------------
def cli_command() -> list[str]:
    """``infra-rollback`` as installed beside this interpreter, else ``python -m rollback``."""
    script = Path(sys.executable).parent / "infra-rollback"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rollback"]


def clean_path() -> str:
    """PATH without any directory holding a ``pulumi`` executable (we measure our work, not the engine's)."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not os.access(os.path.join(d, "pulumi"), os.X_OK)]
    return os.pathsep.join(keep)


@dataclass
class Bench:
    work: Path                # empty working directory (no Pulumi.yaml)
    data: Path
    runs: int
    warmup: int
    env: dict[str, str]
    cli: list[str]
    lines: list[str]

    def preview(self, root: Path | str, *extra: str) -> list[str]:
        backend = root if isinstance(root, str) else f"file://{root}"
        return [*self.cli, data.STACK, "--to", "previous", "--preview", "--backend", backend,
                "--cwd", str(self.work), *extra]

    def floor(self, root: Path, noops: int = 0) -> list[str]:
        current, target = data.checkpoint_paths(root, noops=noops)
        return [sys.executable, str(ROOT / "bench" / "floor.py"), str(current), str(target), data.PASSPHRASE]

    def backend(self, resources: int, *, history: int = 10, changed: int = 10, noops: int = 0) -> Path:
        root = self.data / f"r{resources}-h{history}-c{changed}-n{noops}"
        if not (root / "complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            t = time.perf_counter()
            data.build_backend(root, resources=resources, history=history, changed=changed, noops=noops)
            (root / "complete").write_text("")
            print(f"  (generated {root.name}: {data.size_mb(root):.0f} MB in {time.perf_counter() - t:.0f} s)",
                  flush=True)
        return root

    def pairs(self, a: list[str], b: list[str], *, check_b: bool = True, env_b: dict[str, str] | None = None,
              runs: int | None = None) -> Pairs:
        return pairs(command(a, env=self.env, cwd=self.work), command(b, env=env_b or self.env, cwd=self.work,
                                                                       check=check_b),
                     runs=runs or self.runs, warmup=self.warmup)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def check(self, cmd: list[str]) -> dict[str, Any]:
        """Run a command once with --json and return what it said (it must succeed)."""
        r = run([*cmd, "--json"], env=self.env, cwd=self.work, keep_output=True)
        return json.loads(r.output)


def _fmt(stats: tuple[float, float, float]) -> str:
    lo, med, _hi = stats
    return f"{med:.2f}x (min {lo:.2f}x)"


def ratio_line(b: Bench, name: str, p: Pairs, goal: float | None, *, memory: bool = False, note: str = "") -> None:
    stats = p.peak_ratio() if memory else p.time_ratio()
    verdict = "" if goal is None else ("  ok" if stats[1] <= goal else "  MISSED")
    goal_text = "" if goal is None else f" goal <= {goal:g}x"
    if memory:
        ma, mb = p.median_peak_mb()
        detail = f"[{ma:.0f} MB / {mb:.0f} MB peak]"
    else:
        wa, wb = p.median_wall()
        detail = f"[{wa:.2f} s / {wb:.2f} s]"
    b.say(f"{name:<58} {_fmt(stats):<22}{goal_text:<12}{verdict:<8} {detail}{'  ' + note if note else ''}")


# -- the goals ----------------------------------------------------------------------------------------
def goal_startup(b: Bench) -> None:
    b.say("# start-up")
    bare = [sys.executable, "-c", "pass"]
    ratio_line(b, "--version / python -c pass", b.pairs([*b.cli, "--version"], bare), 3)
    ratio_line(b, "--help / python -c pass", b.pairs([*b.cli, "--help"], bare), 3)
    empty = b.data / "empty-backend"
    (empty / ".pulumi").mkdir(parents=True, exist_ok=True)
    (empty / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    fixed = [*b.cli, "history", data.STACK, "--backend", f"file://{empty}", "--cwd", str(b.work)]
    p = pairs(command(fixed, env=b.env, cwd=b.work, check=False), command(bare, env=b.env, cwd=b.work),
              runs=b.runs, warmup=b.warmup)
    wa, wb = p.median_wall()
    verdict = "ok" if wa - wb <= 0.25 else "MISSED"
    b.say(f"{'fixed cost of a command before its work (history, no stack)':<58} {wa - wb:.3f} s above python -c pass "
          f"(goal <= 0.25 s) {verdict}  [{wa:.2f} s / {wb:.2f} s; ratio {_fmt(p.time_ratio())}]")
    small = b.backend(100, history=3)
    for label, args in (("--help", ["--help"]), ("--version", ["--version"]),
                        ("history", ["history", data.STACK, "--backend", f"file://{small}"]),
                        ("preview --no-rehearse", ["prod", "--to", "previous", "--preview", "--no-rehearse",
                                                   "--backend", f"file://{small}"]),
                        ("preview", ["prod", "--to", "previous", "--preview", "--backend", f"file://{small}"])):
        r = run([sys.executable, "-m", "bench.modules", *args, "--cwd", str(b.work)]
                if label not in ("--help", "--version") else [sys.executable, "-m", "bench.modules", *args],
                env=b.env, cwd=ROOT, keep_output=True)
        b.say(f"  modules imported by {label}: {', '.join(json.loads(r.output)) or 'none of the watched ones'}")


def _describe(doc: dict[str, Any]) -> str:
    rehearsal = doc.get("rehearsal") or {}
    what = ""
    if rehearsal:
        scope = rehearsal.get("scope", "full")
        what = f", rehearsal {scope}: {rehearsal.get('resources')} resources, ok={rehearsal.get('ok')}"
    return f"v{doc['from_version']} -> v{doc['to_version']}, {len(doc['changes'])} changes{what}"


def goal_preview(b: Bench) -> None:
    b.say("# --preview as users run it (default rehearsal), 5,000 resources, a release changed 10")
    root = b.backend(5000)
    b.say(f"  ({_describe(b.check(b.preview(root)))})")
    ratio_line(b, "preview / floor (5,000 resources)", b.pairs(b.preview(root), b.floor(root)), 3)


def goal_no_rehearse(b: Bench) -> None:
    b.say("# --preview --no-rehearse against the floor (json-load both checkpoints + derive the key once)")
    for n in (5000, 20000):
        root = b.backend(n)
        p = b.pairs(b.preview(root, "--no-rehearse"), b.floor(root))
        ratio_line(b, f"preview --no-rehearse / floor ({n:,} resources)", p, 2)
        if n == 20000:
            ratio_line(b, "  peak memory, preview --no-rehearse / floor (20,000)", p, 2, memory=True)


def goal_noops(b: Bench) -> None:
    b.say("# no-op updates between current and target (110 entries each; 5,000 resources)")
    with_noops = b.backend(5000, history=110, noops=100)
    without = b.backend(5000, history=110, noops=0)
    b.say(f"  ({_describe(b.check(b.preview(with_noops, '--no-rehearse')))})")
    p = b.pairs(b.preview(with_noops, "--no-rehearse"), b.preview(without, "--no-rehearse"))
    ratio_line(b, "preview --no-rehearse, 100 no-ops / 0 no-ops: time", p, 1.2)
    ratio_line(b, "preview --no-rehearse, 100 no-ops / 0 no-ops: peak memory", p, 1.2, memory=True)


def goal_history_length(b: Bench) -> None:
    b.say("# history length (5,000 resources)")
    long, short = b.backend(5000, history=1000), b.backend(5000, history=10)
    p = b.pairs(b.preview(long, "--no-rehearse"), b.preview(short, "--no-rehearse"))
    ratio_line(b, "preview --no-rehearse, 1,000 / 10 entries (file)", p, 1.1)


@contextmanager
def s3_server() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.s3server"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _count(endpoint: str, *, reset: bool = True) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/__bench__/count{'?reset=1' if reset else ''}") as resp:
        return dict(json.loads(resp.read()))


def _requests(b: Bench, endpoint: str, cmd: list[str]) -> dict[str, Any]:
    _count(endpoint)
    run(cmd, env=b.env, cwd=b.work)
    return _count(endpoint)


def _upload(endpoint: str, env: dict[str, str], bucket: str, prefix: str, root: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "complete"):
        key = path.relative_to(root).as_posix()
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=path.read_bytes())


def _history_all_flag(b: Bench) -> list[str]:
    """``--all`` where the history command has it (before the default limit, no flag showed everything)."""
    r = run([*b.cli, "history", "--help"], env=b.env, cwd=b.work, keep_output=True)
    return ["--all"] if "--all" in r.output else []


def goal_s3(b: Bench) -> None:
    b.say("# S3 (moto server in a process of its own; requests counted by the server)")
    long, short = b.backend(5000, history=1000), b.backend(5000, history=10)
    with s3_server() as endpoint:
        env = dict(b.env, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        t = time.perf_counter()
        _upload(endpoint, env, "bench", "h1000", long)
        _upload(endpoint, env, "bench", "h10", short)
        print(f"  (uploaded in {time.perf_counter() - t:.0f} s)", flush=True)
        s3 = Bench(work=b.work, data=b.data, runs=b.runs, warmup=b.warmup, env=env, cli=b.cli, lines=b.lines)
        pl, ps = s3.preview("s3://bench/h1000", "--no-rehearse"), s3.preview("s3://bench/h10", "--no-rehearse")
        rl, rs = _requests(s3, endpoint, pl), _requests(s3, endpoint, ps)
        pp = s3.pairs(pl, ps)
        ratio_line(s3, "preview --no-rehearse, 1,000 / 10 entries (S3)", pp, 1.1,
                   note=f"requests {rl['requests']} / {rs['requests']} {rl['by']} / {rs['by']}")
        _listing_floor(s3, env, pp)
        history = [*b.cli, "history", data.STACK, "--backend", "s3://bench/h1000", "--cwd", str(b.work)]
        every = [*history, *_history_all_flag(s3)]
        # A machine's first run keeps no rows from an earlier one (rollback/actions/rowcache.py): measured
        # with the cache off; later runs with it, filled by the run before.
        first = dict(env, INFRA_ROLLBACK_NO_CACHE="1")
        cold = Bench(work=b.work, data=b.data, runs=b.runs, warmup=b.warmup, env=first, cli=b.cli, lines=b.lines)
        hr = _requests(cold, endpoint, history)
        verdict = "ok" if hr["requests"] <= 30 else "MISSED"
        s3.say(f"{'history on S3, 1,000 entries: requests (a first run)':<58} {hr['requests']:<22} goal <= 30   "
               f"{verdict:<8} {hr['by']}")
        run(history, env=env, cwd=b.work)
        hw = _requests(s3, endpoint, history)
        s3.say(f"{'  the same, a later run (rows kept)':<58} {hw['requests']:<22} {'':<21} {hw['by']}")
        listing = [sys.executable, "-m", "bench.s3list", "bench", f"h1000/.pulumi/history/{data.PROJECT}/{data.STACK}/"]
        run(every, env=env, cwd=b.work)
        ha = _requests(s3, endpoint, every)
        p = pairs(command(every, env=env, cwd=b.work), command(listing, env=env, cwd=ROOT),
                  runs=b.runs, warmup=b.warmup)
        ratio_line(s3, "history --all / listing alone (S3, 1,000 entries)", p, 3,
                   note=f"later runs (rows kept); requests {ha['requests']} {ha['by']}")
        hc = _requests(cold, endpoint, every)
        p = pairs(command(every, env=first, cwd=b.work), command(listing, env=env, cwd=ROOT),
                  runs=b.runs, warmup=b.warmup)
        ratio_line(s3, "history --all / listing alone, a first run (no rows kept)", p, 3,
                   note=f"requests {hc['requests']} {hc['by']}; moto's own CPU {hc['cpu']:.2f} s")
        # The floor of a first --all: listing and reading every update info with bare boto3, nothing else.
        bare = [sys.executable, "-m", "bench.s3read", "bench", f"h1000/.pulumi/history/{data.PROJECT}/{data.STACK}/"]
        ratio_line(s3, "  first --all / bare boto3 listing + reading every entry", pairs(
            command(every, env=first, cwd=b.work), command(bare, env=env, cwd=ROOT), runs=b.runs, warmup=b.warmup),
            None)
        ratio_line(s3, "  bare boto3 listing + reading every entry / listing", pairs(
            command(bare, env=env, cwd=ROOT), command(listing, env=env, cwd=ROOT), runs=b.runs, warmup=b.warmup), None,
            note="(the floor itself, against --all's goal of 3x)")


def _listing_floor(b: Bench, env: dict[str, str], preview: Pairs) -> None:
    """What the longer listing alone costs (bare boto3, every page), and the ratio a preview that did nothing
    else more at 1,000 entries would have: (the 10-entry preview + that difference) / the 10-entry preview."""
    prefix = f".pulumi/history/{data.PROJECT}/{data.STACK}/"
    long = [sys.executable, "-m", "bench.s3list", "bench", f"h1000/{prefix}"]
    short = [sys.executable, "-m", "bench.s3list", "bench", f"h10/{prefix}"]
    p = pairs(command(long, env=env, cwd=ROOT), command(short, env=env, cwd=ROOT), runs=b.runs, warmup=b.warmup)
    (la, ls), (_, ps) = p.median_wall(), preview.median_wall()
    extra = la - ls
    b.say(f"{'  listing alone, 1,000 / 10 entries (S3): the difference':<58} {extra:.3f} s "
          f"[{la:.2f} s / {ls:.2f} s]; a preview doing nothing else more: {(ps + extra) / ps:.2f}x")


def goal_rehearsal(b: Bench, resources: int) -> None:
    b.say(f"# the full rehearsal against the SDK's floor ({resources:,} resources, in process)")
    root = b.backend(resources, history=3)
    current, _target = data.checkpoint_paths(root)
    ours = [sys.executable, "-m", "bench.rehearsal", "ours", str(current)]
    sdk = [sys.executable, "-m", "bench.rehearsal", "sdk", str(current)]
    p = pairs(reported(ours, env=b.env, cwd=ROOT), reported(sdk, env=b.env, cwd=ROOT), runs=b.runs,
              warmup=b.warmup)
    ratio_line(b, "full rehearsal / SDK registering CustomResources (mocks)", p, 1.0)
    per = sorted(json.loads(r.output.strip().splitlines()[-1])["kb_per_resource"] for r in p.a)
    sdk_per = sorted(json.loads(r.output.strip().splitlines()[-1])["kb_per_resource"] for r in p.b)
    med, sdk_med = per[len(per) // 2], sdk_per[len(sdk_per) // 2]
    verdict = "ok" if med <= 20 else "MISSED"
    b.say(f"{'full rehearsal: memory per resource':<58} {med:.1f} KB (min {per[0]:.1f}) goal <= 20 KB "
          f"{verdict:<8} [SDK floor {sdk_med:.1f} KB]")


def goal_memory(b: Bench) -> None:
    b.say("# peak memory")
    root = b.backend(20000)
    p = b.pairs(b.preview(root), b.floor(root), runs=max(3, b.runs // 2))
    ratio_line(b, "peak memory, preview / floor (20,000 resources)", p, 2, memory=True)
    ratio_line(b, "  time, preview / floor (20,000 resources)", p, None)
    small, big = b.backend(5000, history=3), b.backend(50000, history=3)
    for n, root in ((5000, small), (50000, big)):
        history = [*b.cli, "history", data.STACK, "--backend", f"file://{root}", "--cwd", str(b.work)]
        bare = [sys.executable, "-c", "pass"]
        ph = b.pairs(history, bare, runs=max(3, b.runs // 2))
        ha, _ = ph.median_peak_mb()
        b.say(f"  history peak memory ({n:,} resources, {data.size_mb(root) / 3:.0f} MB checkpoints): {ha:.0f} MB")
        pp = b.pairs(b.preview(root, "--no-rehearse"), b.floor(root), runs=max(3, b.runs // 2))
        ratio_line(b, f"  peak memory, preview --no-rehearse / floor ({n:,})", pp, 2, memory=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="counted pairs per goal (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted pairs first (default 1)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(GOALS)}")
    parser.add_argument("--data", type=Path, help="where the generated backends are kept (and reused)")
    parser.add_argument("--rehearsal-resources", type=int, default=2000)
    args = parser.parse_args()
    only = [g for g in args.only.split(",") if g] or list(GOALS)
    unknown = set(only) - set(GOALS)
    if unknown:
        parser.error(f"unknown goal(s): {', '.join(sorted(unknown))}")
    keep = args.data is not None
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="bench-data-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-work-") as work, tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env = {"PATH": clean_path(), "HOME": home, "PULUMI_HOME": home, "NO_COLOR": "1", "TERM": "dumb",
               "PULUMI_CONFIG_PASSPHRASE": data.PASSPHRASE, "PULUMI_SKIP_UPDATE_CHECK": "true",
               "LANG": os.environ.get("LANG", "C.UTF-8")}
        b = Bench(work=Path(work), data=data_dir, runs=args.runs, warmup=args.warmup, env=env, cli=cli_command(),
                  lines=[])
        print(f"python -m bench: {args.runs} counted pairs per goal; ratio = median (min) of A/B pair by pair; "
              f"[A / B medians]", flush=True)
        steps: dict[str, Callable[[], None]] = {
            "startup": lambda: goal_startup(b), "preview": lambda: goal_preview(b),
            "no-rehearse": lambda: goal_no_rehearse(b), "noops": lambda: goal_noops(b),
            "history-length": lambda: goal_history_length(b), "s3": lambda: goal_s3(b),
            "rehearsal": lambda: goal_rehearsal(b, args.rehearsal_resources), "memory": lambda: goal_memory(b),
        }
        try:
            for name in GOALS:
                if name in only:
                    steps[name]()
        finally:
            if not keep:
                shutil.rmtree(data_dir, ignore_errors=True)
    print("\nsummary:")
    for line in b.lines:
        if not line.startswith("#"):
            print(line)


if __name__ == "__main__":
    main()
