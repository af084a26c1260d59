"""The `infra-rollback` command line: parse -> action -> render -> exit code; nothing else.

Heavy modules (pulumi, grpc, boto3, kubernetes) are imported by the actions that need them, never
here, so that ``infra-rollback --help`` stays fast. Help is click's plain format (no Rich): flags show
no type, options show what they take (``--to TARGET``).

Every command prints a JSON document with ``--json``, whatever the outcome: its own document, or on an
error ``{"outcome", "error", "exit_code"}`` (plus the stack), so a CI step can always parse stdout.

Longer than our other modules (over 500 lines) because it declares eight commands with their flags and
help, which Typer wants as function signatures; each command is a flag check, one action and one renderer,
and everything with logic lives in the actions, the renderers and :mod:`rollback.workspace_kind`.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rollback import __version__, _typer_light
from rollback.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_REFUSED, BadInput, RollbackError
from rollback.safetext import one_line

EXIT_CODES_HELP = ("Exit codes: 0 done, 1 the operation failed (or the stack is unhealthy), "
                   "2 bad input (unknown stack, version or target; unreadable state; wrong passphrase), "
                   "3 refused by a safety guard (nothing was changed).")


def _untyped_arguments() -> None:
    """Arguments show their name in help (``STACK``), not a type after it (``STACK <str>``): flags already
    show nothing, options what they take (``--to TARGET``)."""
    try:
        from typer.core import TyperArgument
    except ImportError:   # another Typer: its own help, unchanged
        return
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]


_untyped_arguments()
_typer_light.install()   # plain values converted without importing pydantic (see rollback/_typer_light.py)

app = typer.Typer(
    name="infra-rollback",
    help="Roll a Pulumi stack or a Terraform/OpenTofu workspace back to a known-good version, as one unit, then "
         "prove it healthy.\n\n"
         "  infra-rollback prod --to previous --preview\n\n"
         "`infra-rollback STACK` alone previews a rollback to the previous good version and asks before "
         "applying it. In a Terraform working directory (*.tf files, no Pulumi.yaml) STACK is the "
         "workspace.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,   # plain help: Rich and markdown-it are not imported to print it
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    debug = False
    quiet = False
    no_color = False
    json = False          # the running command prints JSON
    printed = False       # ... and has printed its document
    stack: str | None = None


STATE = State()


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"infra-rollback {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback for unexpected errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the final result.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour in the output (also: NO_COLOR set).")] = False,
) -> None:
    STATE.debug = debug or os.environ.get("INFRA_ROLLBACK_DEBUG") == "1"
    STATE.quiet = quiet
    STATE.no_color = no_color
    STATE.json = STATE.printed = False
    STATE.stack = None


# -- common options ----------------------------------------------------------------------------
TARGETS = ("previous", "last-good", "git:")


def complete_target(incomplete: str) -> list[str]:
    """Shell completion after ``--to``: the target words (versions are N or vN)."""
    return [t for t in TARGETS if t.startswith(incomplete)]


def complete_version(incomplete: str) -> list[str]:
    return [t for t in ("current", *TARGETS) if t.startswith(incomplete)]


BackendOpt = Annotated[str | None, typer.Option(
    "--backend", metavar="URL",
    help="Backend URL (file://DIR, s3://BUCKET/PREFIX, https://api.pulumi.com). Default: $PULUMI_BACKEND_URL, "
         "then backend.url in Pulumi.yaml, then the backend `pulumi login` chose.")]
RecordsOpt = Annotated[str | None, typer.Option(
    "--records", envvar="INFRA_ROLLBACK_RECORDS", metavar="URL",
    help="Where audit records go for Pulumi Cloud stacks (file://DIR or s3://BUCKET/PREFIX). DIY backends "
         "keep them beside the state.")]
CwdOpt = Annotated[Path, typer.Option(
    "--cwd", metavar="DIR", help="The project: where to look for Pulumi.yaml (this directory or the nearest above "
                                 "it), or a Terraform working directory (*.tf files).")]
ProjectOpt = Annotated[str | None, typer.Option(
    "--project", metavar="NAME",
    help="Pulumi project, needed only when the backend holds this stack in several projects.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/cli.md), whatever the outcome.")]
MarkdownOpt = Annotated[bool, typer.Option("--markdown", help="Print markdown (for a CI job summary or PR comment).")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Also show each resource and property, the rehearsal, provider plugins and what a "
                            "replay cannot restore.")]
StackArg = Annotated[str, typer.Argument(
    metavar="STACK", help="Stack name: prod, PROJECT/prod or ORG/PROJECT/prod; in a Terraform working directory, the "
                          "workspace (prod, or default).")]
EngineOpt = Annotated[str | None, typer.Option(
    "--engine", metavar="ENGINE",
    help="Terraform working directories: tofu, terraform or a path to one. Default: $INFRA_ROLLBACK_TF_ENGINE, then "
         "tofu, then terraform on PATH.")]


def _context(backend: str | None, cwd: Path, project: str | None, records: str | None = None,
             engine: str | None = None) -> Any:
    """What the command works on, routed by what ``--cwd`` holds (:mod:`rollback.workspace_kind`): a Pulumi
    project's Context, or a Terraform working directory's TfContext. The command then takes the action of
    that kind (:func:`_action`)."""
    from rollback.workspace_kind import Kind, detect

    here = _directory(cwd)
    if detect(here, backend_flag=backend, engine_flag=engine) is Kind.TERRAFORM:
        from rollback.actions.terraform.context import TfContext

        if project:
            raise BadInput("--project is for Pulumi projects: in a Terraform working directory STACK names the "
                           "workspace")
        return TfContext(cwd=here, engine_flag=engine)
    from rollback.actions.context import Context
    from rollback.project import find_project_dir

    return Context(cwd=find_project_dir(here) or here, backend_flag=backend, project=project, records_url=records)


_ACTIONS = {"History": "history", "Show": "show", "Diff": "diff", "MarkVersion": "mark", "WriteConfig": "writeconfig",
            "VerifyStack": "verify", "Deploy": "deploy", "Rollback": "rollback"}


def _action(ctx: Any, name: str) -> Any:
    """The action class ``name`` (History, Rollback, ...) for the kind of project ``ctx`` is: the same class name,
    arguments and result shape for both, in :mod:`rollback.actions` or :mod:`rollback.actions.terraform`."""
    import importlib

    if getattr(ctx, "kind", "pulumi") == "terraform":
        return getattr(importlib.import_module("rollback.actions.terraform"), name)
    return getattr(importlib.import_module(f"rollback.actions.{_ACTIONS[name]}"), name)


def _directory(cwd: Path) -> Path:
    try:
        is_dir = cwd.is_dir()
    except OSError as exc:   # a name too long, no permission
        raise BadInput(f"--cwd {str(cwd)[:200]}: {exc.strerror or exc.__class__.__name__}") from exc
    if not is_dir:
        raise BadInput(f"--cwd {cwd}: no such directory")
    return cwd.resolve()


def _outcome_of(code: int) -> str:
    return {EXIT_REFUSED: "refused", EXIT_BAD_INPUT: "bad-input"}.get(code, "failed")


def _fail(message: str, code: int) -> None:
    """One line on stderr; with --json also the error document on stdout (unless one was printed)."""
    if STATE.json and not STATE.printed:
        from rollback import render

        doc: dict[str, Any] = {"stack": STATE.stack} if STATE.stack else {}
        doc.update(outcome=_outcome_of(code) if code != 130 else "interrupted", error=message, exit_code=code)
        typer.echo(render.to_json(doc))
    typer.echo(f"error: {message}", err=True)


def _run(fn: Callable[[], int | None], *, as_json: bool = False, stack: str | None = None) -> None:
    """Run a command body: RollbackError -> one line on stderr and its exit code; never a traceback."""
    from rollback.interrupts import terminate_as_interrupt

    STATE.json, STATE.printed, STATE.stack = as_json, False, stack
    try:
        with terminate_as_interrupt():
            code = fn() or 0
    except RollbackError as exc:
        if STATE.debug:
            traceback.print_exc()
        _fail(one_line(exc.message), exc.exit_code)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _fail("interrupted", 130)
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if STATE.debug:
            traceback.print_exc()
        _fail(f"internal error ({exc.__class__.__name__}); run with --debug for details", EXIT_FAILED)
        raise typer.Exit(EXIT_FAILED) from None
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    from rollback import render

    typer.echo(render.to_json(data))
    STATE.printed = True


def _opts(**kw: Any) -> Any:
    """Text options for stdout: colour and width from the terminal, --no-color, --quiet."""
    from dataclasses import replace

    from rollback.console import text_options

    opts = text_options(sys.stdout, quiet=STATE.quiet, **kw)
    return replace(opts, color=False) if STATE.no_color else opts


def _echo(text: str) -> None:
    typer.echo(text, color=True)   # colour codes are ours to decide (text_options): click must not strip them


def _reject_conflicts(*conflicts: tuple[bool, str]) -> None:
    """Flags that contradict each other: one line, exit 2, before any work."""
    for present, message in conflicts:
        if present:
            raise BadInput(message)


def _console(*, as_json: bool = False, markdown: bool = False, verbose: bool = False, asks: bool = False) -> Any:
    from rollback.console import Console

    return Console(json=as_json, markdown=markdown, quiet=STATE.quiet, verbose=verbose, asks=asks,
                   color=False if STATE.no_color else None)


def _confirm(yes: bool) -> Any:
    from rollback.console import TerminalConfirm

    return TerminalConfirm(yes=yes)


# -- commands ----------------------------------------------------------------------------------
@app.command("rollback")
def rollback_cmd(
    stack: StackArg,
    to: Annotated[str, typer.Option("--to", metavar="TARGET", autocompletion=complete_target,
                                    help="previous | N | vN | last-good | git:REF")] = "previous",
    preview: Annotated[bool, typer.Option("--preview", help="Only show what would change; change nothing.")] = False,
    as_json: JsonOpt = False,
    markdown: MarkdownOpt = False,
    verbose: VerboseOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for CI).")] = False,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why: goes into the audit record.")] = "",
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                           help="How long to wait for the health gates.")] = 600,
    allow_data_loss: Annotated[bool, typer.Option(
        "--allow-data-loss", help="Allow deleting or replacing data-bearing resources (named in the preview).")] = False,
    restore_provider_versions: Annotated[bool, typer.Option(
        "--restore-provider-versions", help="Restore the target's provider plugin versions (default: keep current).")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the health gates after applying.")] = False,
    write_config: Annotated[bool, typer.Option(
        "--write-config", help="Write the target's config into the stack config file (stacks/Pulumi.<stack>.yaml) so "
                               "the revert can be committed; also when there is nothing to roll back.")] = False,
    no_rehearse: Annotated[bool, typer.Option(
        "--no-rehearse", help="With --preview: skip the rehearsal under mocks (faster on huge stacks). "
                              "A rollback always rehearses.")] = False,
    no_engine_check: Annotated[bool, typer.Option(
        "--no-engine-check", help="With --preview: do not ask the engine for its own plan (a quick look; a "
                                  "rollback always asks).")] = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
    records: RecordsOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Roll STACK back to TARGET (default: previous): preview, confirm, apply as one unit, verify, record.

    Example: infra-rollback prod --to previous --preview
    """

    def body() -> int:
        _reject_conflicts((as_json and markdown, "--json and --markdown cannot be used together"),
                          (no_rehearse and not preview, "--no-rehearse goes with --preview (a rollback always "
                                                        "rehearses)"),
                          (no_engine_check and not preview, "--no-engine-check goes with --preview (a rollback "
                                                            "always asks the engine)"),
                          (preview and write_config, "--write-config writes the stack config file; --preview "
                                                     "changes nothing"))
        ctx = _context(backend, cwd, project, records, engine)
        if preview:
            return _preview(ctx, stack, to, restore_provider_versions=restore_provider_versions,
                            rehearse=not no_rehearse, as_json=as_json, markdown=markdown, verbose=verbose,
                            allow_data_loss=allow_data_loss, engine_check=not no_engine_check)
        return _rollback(ctx, stack, to, yes=yes, as_json=as_json, markdown=markdown, verbose=verbose, reason=reason,
                         timeout=timeout, allow_data_loss=allow_data_loss,
                         restore_provider_versions=restore_provider_versions, verify=not no_verify,
                         write_config=write_config)

    _run(body, as_json=as_json, stack=stack)


def _preview(ctx: Any, stack: str, to: str, *, restore_provider_versions: bool, rehearse: bool, as_json: bool,
             markdown: bool, verbose: bool, allow_data_loss: bool, engine_check: bool) -> int:
    from rollback import render

    action = _action(ctx, "Rollback")(ctx=ctx, restore_provider_versions=restore_provider_versions, allow_data_loss=allow_data_loss,
                      listener=_console(as_json=as_json))
    doc = action.preview(stack, to, rehearse=rehearse, engine_check=engine_check).document
    if as_json:
        _print_json(doc)
    elif markdown:
        typer.echo(render.preview_markdown(doc))
    else:
        _echo(render.preview_text(doc, _opts(verbose=verbose)))
    return 0


def _rollback(ctx: Any, stack: str, to: str, *, yes: bool, as_json: bool, markdown: bool, verbose: bool,
              write_config: bool, **options: Any) -> int:
    from rollback.console import interactive
    from rollback.models import Outcome
    from rollback.render.text import rollback_result, write_config_text

    console = _console(as_json=as_json, markdown=markdown, verbose=verbose, asks=not yes and interactive())
    outcome = _action(ctx, "Rollback")(ctx=ctx, confirm=_confirm(yes), listener=console, write_config=write_config,
                       **options).run(stack, to)
    doc = outcome.to_dict()
    config_line = None
    if write_config and outcome.outcome is Outcome.NOTHING_TO_DO:
        # Nothing to roll back (maybe a rollback ran without --write-config): the file still needs the revert.
        from rollback.actions.writeconfig import WriteConfig

        written = WriteConfig(ctx=ctx).run(stack, f"v{outcome.prepared.to_version}")
        doc["config"] = written
        config_line = write_config_text(written)
    if as_json:
        _print_json(doc)
    line = rollback_result(doc)
    if line:
        console.result(line)
    if config_line:
        console.result(config_line)
    outcome.raise_for_error()
    return 0


@app.command("history")
def history_cmd(
    stack: StackArg,
    as_json: JsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, metavar="N", help="Show at most N versions (default 10).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Show every version.")] = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
) -> None:
    """List STACK's versions, newest first: when, kind, result, who, git, image, changes, mark, rollbacks.

    A history entry that cannot be read is skipped with a warning. Example: infra-rollback history prod --limit 10
    """

    def body() -> int:
        from rollback import render
        from rollback.actions.history import DEFAULT_LIMIT

        _reject_conflicts((all_ and limit is not None, "--all and --limit cannot be used together"))
        shown = None if all_ else (limit or DEFAULT_LIMIT)
        ctx = _context(backend, cwd, project)
        data = _action(ctx, "History")(ctx=ctx, limit=shown,
                       listener=_console(as_json=as_json)).run(stack)
        if as_json:
            _print_json(data)
        else:
            _echo(render.history_text(data, _opts()))
        return 0

    _run(body, as_json=as_json, stack=stack)


@app.command("show")
def show_cmd(
    stack: StackArg,
    version: Annotated[str, typer.Argument(metavar="VERSION", autocompletion=complete_version,
                                           help="N, vN, current, previous, last-good or git:REF.")] = "current",
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
) -> None:
    """Show what one version of STACK ran: its workloads (images, limits, env), config and outputs.

    Secrets show as [secret]. Example: infra-rollback show prod v2
    """

    def body() -> int:
        from rollback import render

        ctx = _context(backend, cwd, project)
        data = _action(ctx, "Show")(ctx=ctx).run(stack, version)
        if as_json:
            _print_json(data)
        else:
            _echo(render.show_text(data, _opts()))
        return 0

    _run(body, as_json=as_json, stack=stack)


@app.command("diff")
def diff_cmd(
    stack: StackArg,
    from_: Annotated[str, typer.Option("--from", metavar="VERSION", autocompletion=complete_version,
                                       help="A version (N, vN, a target) or current.")],
    to: Annotated[str, typer.Option("--to", metavar="VERSION", autocompletion=complete_version,
                                    help="A version (N, vN, a target) or current.")],
    as_json: JsonOpt = False,
    markdown: MarkdownOpt = False,
    verbose: VerboseOpt = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
) -> None:
    """Show what differs between two versions of STACK (images, memory, env, every input).

    Example: infra-rollback diff prod --from 2 --to current
    """

    def body() -> int:
        from rollback import render

        _reject_conflicts((as_json and markdown, "--json and --markdown cannot be used together"))
        ctx = _context(backend, cwd, project)
        data = _action(ctx, "Diff")(ctx=ctx).run(stack, from_, to)
        if as_json:
            _print_json(data)
        elif markdown:
            typer.echo(render.preview_markdown(data))
        else:
            _echo(render.preview_text(data, _opts(verbose=verbose, mode="diff")))
        return 0

    _run(body, as_json=as_json, stack=stack)


@app.command("mark")
def mark_cmd(
    stack: StackArg,
    version: Annotated[str, typer.Argument(metavar="VERSION", autocompletion=complete_version,
                                           help="The version to mark: N, vN or current.")],
    good: Annotated[bool, typer.Option("--good", help="Mark the version good.")] = False,
    bad: Annotated[bool, typer.Option("--bad", help="Mark the version bad: --to previous will never pick it.")] = False,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why.")] = "",
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
    records: RecordsOpt = None,
) -> None:
    """Mark a version of STACK good or bad (shared through the backend).

    Example: infra-rollback mark prod 5 --bad --reason "tags every ticket urgent"
    """

    def body() -> int:
        from rollback import render

        _reject_conflicts((good == bad, "give exactly one of --good or --bad"))
        ctx = _context(backend, cwd, project, records)
        data = _action(ctx, "MarkVersion")(ctx=ctx).run(stack, version, "good" if good else "bad", reason)
        if as_json:
            _print_json(data)
        else:
            typer.echo(render.mark_text(data))
        return 0

    _run(body, as_json=as_json, stack=stack)


@app.command("write-config")
def write_config_cmd(
    stack: StackArg,
    to: Annotated[str, typer.Option("--to", metavar="VERSION", autocompletion=complete_version,
                                    help="Whose recorded config: current (what the stack runs now), N, vN, "
                                         "last-good, git:REF.")] = "current",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say which keys would change.")] = False,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
) -> None:
    """Write a version's recorded config into STACK's config file (stacks/Pulumi.<stack>.yaml), so git matches.

    After a rollback the stack runs the target's config while git still holds the bad release's: commit
    what this writes. Secure values are copied as recorded (never decrypted); comments and key order are
    kept. Example: infra-rollback write-config prod --to v12
    """

    def body() -> int:
        from rollback.render.text import write_config_text

        ctx = _context(backend, cwd, project)
        data = _action(ctx, "WriteConfig")(ctx=ctx, dry_run=dry_run).run(stack, to)
        if as_json:
            _print_json(data)
        else:
            typer.echo(write_config_text(data))
        return 0

    _run(body, as_json=as_json, stack=stack)


@app.command("verify")
def verify_cmd(
    stack: StackArg,
    as_json: JsonOpt = False,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="SECONDS",
                                                  help="How long to wait (default: from the stack's health config).")] = None,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
) -> None:
    """Run STACK's health gates (declared in its stack config) and report each one.

    Exit 0 healthy; 1 unhealthy or timed out.
    Example: infra-rollback verify prod --timeout 120
    """

    def body() -> int:
        from rollback.render.health import health_text

        console = _console(as_json=as_json)
        ctx = _context(backend, cwd, project)
        outcome = _action(ctx, "VerifyStack")(ctx=ctx, timeout=timeout, listener=console).run(stack)
        console.done()
        if not STATE.quiet:
            for note in outcome.notes:
                typer.echo(f"note: {note}", err=True)
        if as_json:
            _print_json(dict(outcome.report.to_dict(), notes=list(outcome.notes)))
        else:
            text = health_text(outcome.report)
            typer.echo(text.splitlines()[-1] if STATE.quiet else text)
        return 0 if outcome.report.healthy else 1

    _run(body, as_json=as_json, stack=stack)


@app.command("deploy")
def deploy_cmd(
    stack: StackArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for CI).")] = False,
    auto_rollback: Annotated[bool, typer.Option(
        "--auto-rollback", help="If a health gate fails, roll back at once to the last good version.")] = False,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="Deploy from a git tree with uncommitted changes.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Deploy even a config identical to a version marked bad.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS",
                                           help="How long to wait for the health gates.")] = 600,
    message: Annotated[str, typer.Option("--message", "-m", metavar="TEXT", help="Message for the update.")] = "",
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    cwd: CwdOpt = Path("."),
    project: ProjectOpt = None,
    records: RecordsOpt = None,
    engine: EngineOpt = None,
    var: Annotated[list[str] | None, typer.Option(
        "--var", metavar="NAME=VALUE", help="Terraform: a variable for the plan (repeatable); recorded with the "
                                            "version, sensitive ones sealed.")] = None,
    var_file: Annotated[list[Path] | None, typer.Option(
        "--var-file", metavar="FILE", help="Terraform: a .tfvars file for the plan (repeatable).")] = None,
) -> None:
    """Deploy the project's program to STACK, guarded: preview, confirm, apply, verify.

    With --auto-rollback a failed health gate rolls the stack back to the last good version and marks
    the release bad. In a Terraform working directory: plan, confirm, apply, recording the commit and
    every variable's value. Example: infra-rollback deploy prod --yes --auto-rollback
    """

    def body() -> int:
        from rollback.render.text import deploy_result

        console = _console(as_json=as_json)
        ctx = _context(backend, cwd, project, records, engine)
        terraform = {"variables": _variables(var or []), "var_files": _var_files(var_file or [], ctx.cwd)} \
            if getattr(ctx, "kind", "") == "terraform" else {}
        _reject_conflicts(((var or var_file) and not terraform, "--var and --var-file are for Terraform working "
                                                                "directories (a Pulumi deploy reads the stack config)"))
        outcome = _action(ctx, "Deploy")(ctx=ctx, auto_rollback=auto_rollback, allow_dirty=allow_dirty, force=force,
                                         timeout=timeout, message=message, confirm=_confirm(yes), listener=console,
                                         **terraform).run(stack)
        if as_json:
            _print_json(outcome.to_dict())
        for line in deploy_result(outcome.to_dict(), seconds=outcome.seconds,
                                  rollback=outcome.rollback.to_dict() if outcome.rollback else None):
            console.result(line)
        outcome.raise_for_error()
        return 0

    _run(body, as_json=as_json, stack=stack)


def _variables(items: list[str]) -> dict[str, str]:
    """``--var NAME=VALUE`` items as a mapping (the value as a string, as ``-var`` takes it)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--var {one_line(item, limit=60)}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def _var_files(paths: list[Path], cwd: Path) -> list[Path]:
    out = []
    for path in paths:
        full = path if path.is_absolute() else cwd / path
        if not full.is_file():
            raise BadInput(f"--var-file {path}: no such file (relative paths are read from {cwd})")
        out.append(full.resolve())
    return out


_COMMANDS = {"rollback", "history", "show", "diff", "mark", "write-config", "verify", "deploy"}


_GLOBAL_FLAGS = ("--debug", "--quiet", "-q", "--no-color")


def _route(argv: list[str]) -> list[str]:
    """`infra-rollback prod --to previous` is short for `infra-rollback rollback prod --to previous`
    (and `infra-rollback prod` for `infra-rollback rollback prod --to previous`).

    The global flags (--debug, --quiet, --no-color) may stand anywhere: they are moved to the front.
    """
    flags = [a for a in argv if a in _GLOBAL_FLAGS]
    argv = flags + [a for a in argv if a not in _GLOBAL_FLAGS]
    for i, arg in enumerate(argv):
        if arg.startswith("-"):
            if arg in ("--help", "-h", "--version", "--install-completion", "--show-completion"):
                return argv
            continue
        if arg in _COMMANDS:
            return argv
        return argv[:i] + ["rollback"] + argv[i:]
    return argv


def _click_exceptions() -> object:
    """The click exception classes Typer uses (recent Typer vendors click as ``typer._click``)."""
    try:
        from typer._click import exceptions
    except ImportError:  # older Typer: click itself
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def main(argv: list[str] | None = None) -> None:
    # A command reads state once and keeps it: the cyclic collector, run at its default pace, would walk
    # millions of long-lived JSON objects over and over (nearly half the time of a 5,000-resource replay plan),
    # and once more as the interpreter exits (a third of a second): it is paced for that, then told to skip them.
    gc.set_threshold(50_000, 50, 100)
    try:
        _main(argv)
    finally:
        gc.freeze()


def _main(argv: list[str] | None) -> None:
    cx: Any = _click_exceptions()
    args = _route(list(sys.argv[1:] if argv is None else argv))
    try:
        code = app(args=args, prog_name="infra-rollback", standalone_mode=False)
    except cx.UsageError as exc:
        if exc.__class__.__name__ == "NoArgsIsHelpError":
            sys.exit(0)  # no arguments: Typer has printed the help
        # Bad flags or arguments: one line, exit 2.
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        if "--json" in args:
            from rollback import render

            sys.stdout.write(render.to_json({"outcome": "bad-input", "error": one_line(exc.format_message()),
                                             "exit_code": EXIT_BAD_INPUT}) + "\n")
        sys.stderr.write(f"error: {one_line(exc.format_message())}{where}\n")
        sys.exit(EXIT_BAD_INPUT)
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        sys.exit(EXIT_FAILED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
