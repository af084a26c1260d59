"""The floor of a preview: json-load the two checkpoints it needs and derive the passphrase key once.

Run: ``python bench/floor.py STACK_FILE TARGET_CHECKPOINT PASSPHRASE`` (a whole process, like the
command it is compared with). Nothing of the project is imported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys


def main() -> None:
    current_path, target_path, passphrase = sys.argv[1:4]
    with open(current_path, "rb") as fh:
        current = json.loads(fh.read())
    with open(target_path, "rb") as fh:
        target = json.loads(fh.read())
    salt = target["checkpoint"]["latest"]["secrets_providers"]["state"]["salt"].split(":")[1]
    hashlib.pbkdf2_hmac("sha256", passphrase.encode(), base64.b64decode(salt), 1_000_000, 32)
    assert current and target


if __name__ == "__main__":
    main()
