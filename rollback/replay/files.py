"""What a replay reads again when the engine runs, and must check against the target first.

* A file asset or archive file (``FileAsset``, ``FileArchive``) is read again by the engine: the checkpoint keeps
  only its hash (Pulumi hashes the file's bytes: sha256, hex). One that changed since the target version, or is
  gone, is refused naming the file and both hashes (a replay would silently send today's content); one that is
  the same is sent by its absolute path (an inline program runs in a temporary folder). A folder's hash (a tar
  Pulumi builds of it) cannot be checked here: said among what a replay cannot restore.
* An explicit provider's ``__internal`` settings the engine rebuilds from the registration's options: its
  ``envVarMappings`` are sent again; its ``pluginChecksums`` come from a package descriptor a replay cannot send.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from rollback.errors import Refused
from rollback.models import Resource


class ReadAgain:
    def __init__(self, base_dir: str, *, refuse: Callable[[str], Refused], cannot: list[str]) -> None:
        self.base_dir = base_dir
        self.refuse = refuse
        self.cannot = cannot

    def same_file(self, recorded: str, digest: str, where: str) -> str:
        """The absolute path to send for the file the target recorded at ``recorded`` with hash ``digest``."""
        full = recorded if os.path.isabs(recorded) else os.path.normpath(os.path.join(self.base_dir, recorded))
        try:
            with open(full, "rb") as fh:
                now = hashlib.file_digest(fh, "sha256").hexdigest()
        except IsADirectoryError:
            self.cannot.append(f"{where} is the folder {recorded!r}, read again at replay time: its recorded hash "
                               f"cannot be checked here, so what it holds now is what is sent")
            return full
        except OSError as exc:
            raise self.refuse(f"{where} is the file {full}, which cannot be read now "
                              f"({exc.strerror or exc.__class__.__name__}); the checkpoint keeps only its hash "
                              f"({digest or 'none'})") from exc
        if digest and now != digest:
            raise self.refuse(f"{where} is the file {full}, which changed since this version: recorded hash "
                              f"{digest}, now {now}; restore the file (e.g. from git at that version's commit) "
                              f"before rolling back")
        return full

    def env_var_mappings(self, r: Resource) -> dict[str, str]:
        internal: Any = r.inputs.get("__internal")
        internal = internal if isinstance(internal, dict) else {}
        if internal.get("pluginChecksums"):
            self.cannot.append(f"{r.urn}: the provider's plugin checksums (pluginChecksums) come from the "
                               f"program's package descriptor, which a replay cannot send")
        mappings = internal.get("envVarMappings")
        return {str(k): str(v) for k, v in mappings.items()} if isinstance(mappings, dict) else {}
