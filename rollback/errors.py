"""The exception tree and the exit codes it maps to.

    RollbackError                 any failure a user can cause or must hear about (exit_code)
    ├── BadInput                  exit 2: unknown stack/version/target, unreadable input
    │   ├── StateError            unreadable, corrupt or unsupported state file (names the file)
    │   ├── StackNotFound         names the stacks that exist
    │   ├── VersionNotFound
    │   ├── TargetError           a target that resolves to nothing usable
    │   └── SecretsError          wrong or missing passphrase, undecryptable secret
    ├── Refused                   exit 3: a safety guard said no; nothing was changed
    ├── Interrupted               exit 130: Ctrl-C or SIGTERM; the engine was asked to stop
    └── OperationFailed           exit 1: the engine or a health gate failed
        ├── EngineUnavailable     no Pulumi CLI on PATH
        ├── PlanUnsupported       the engine cannot save or apply a plan here: fall back to a fresh preview
        ├── ConcurrentUpdate      another update holds the stack's lock
        ├── WriteConflict         our marks changed under us too often while being written: retry
        └── NotRecorded           the apply happened, but its audit record, marks or config were not written

Third-party errors (boto, grpc, the Automation API) are translated at the boundary with
``raise ... from exc`` so that callers only ever catch these.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130   # 128 + SIGINT, as shells report an interrupted command


class RollbackError(Exception):
    """Base of every error this tool reports to a person (one line, no traceback)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(RollbackError):
    exit_code = EXIT_BAD_INPUT


class StateError(BadInput):
    """A state file that cannot be read, parsed or is of an unsupported format."""


class StackNotFound(BadInput):
    pass


class VersionNotFound(BadInput):
    pass


class TargetError(BadInput):
    pass


class SecretsError(BadInput):
    pass


class Refused(RollbackError):
    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class Interrupted(RollbackError):
    """The run was interrupted (Ctrl-C, SIGTERM) while the engine worked: it was asked to stop gracefully."""

    exit_code = EXIT_INTERRUPTED


class OperationFailed(RollbackError):
    exit_code = EXIT_FAILED


class EngineUnavailable(OperationFailed):
    pass


class PlanUnsupported(OperationFailed):
    """Saving or applying a plan hit a known engine limitation: fall back to a fresh preview."""


class ConcurrentUpdate(OperationFailed):
    """Another update is in progress on the stack (the engine could not take its lock)."""


class WriteConflict(OperationFailed):
    """Other writers changed infra-rollback's marks every time this one tried to write them: nothing was
    written, and running the command again is safe."""


class NotRecorded(OperationFailed):
    """The stack was changed, but what records it (the audit record, marks, the stack config file) could
    not all be written. The message says what happened and what was not written."""
