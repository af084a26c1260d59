"""Typer's help for ``infra-rollback --help``, rendered at 80 columns (generated: see rollback/entry.py;
UPDATE_GOLDEN=1 python -m pytest tests/test_help_imports.py rewrites it)."""

TOP_HELP = (
    'Usage: infra-rollback [OPTIONS] COMMAND [ARGS]...\n'
    '\n'
    '  Roll a Pulumi stack or a Terraform/OpenTofu workspace back to a known-good\n'
    '  version, as one unit, then prove it healthy.\n'
    '\n'
    '    infra-rollback prod --to previous --preview\n'
    '\n'
    '  `infra-rollback STACK` alone previews a rollback to the previous good\n'
    '  version and asks before applying it. In a Terraform working directory (*.tf\n'
    '  files, no Pulumi.yaml) STACK is the workspace.\n'
    '\n'
    '  Exit codes: 0 done, 1 the operation failed (or the stack is unhealthy), 2\n'
    '  bad input (unknown stack, version or target; unreadable state; wrong\n'
    '  passphrase), 3 refused by a safety guard (nothing was changed).\n'
    '\n'
    'Options:\n'
    '  --version             Print the version and exit.\n'
    '  --debug               Show a traceback for unexpected errors.\n'
    '  -q, --quiet           Print only errors and the final result.\n'
    '  --no-color            No colour in the output (also: NO_COLOR set).\n'
    '  --install-completion  Install completion for the current shell.\n'
    '  --show-completion     Show completion for the current shell, to copy it or\n'
    '                        customize the installation.\n'
    '  -h, --help            Show this message and exit.\n'
    '\n'
    'Commands:\n'
    '  rollback      Roll STACK back to TARGET (default: previous): preview,...\n'
    "  history       List STACK's versions, newest first: when, kind, result,...\n"
    '  show          Show what one version of STACK ran: its workloads...\n'
    '  diff          Show what differs between two versions of STACK (images,...\n'
    '  mark          Mark a version of STACK good or bad (shared through the...\n'
    "  write-config  Write a version's recorded config into STACK's config...\n"
    "  verify        Run STACK's health gates (declared in its stack config)...\n"
    "  deploy        Deploy the project's program to STACK, guarded: preview,...\n"
)
