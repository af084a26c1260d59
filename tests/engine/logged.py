"""A Python dynamic provider that writes every create, update, delete and read to a log file (JSON lines).

The engine runs it in its own process (``pulumi-resource-pulumi-python`` -> ``python -m pulumi.dynamic``), from
the serialized provider recorded in each resource's ``__provider`` input, so this module must be importable
there: the engine tests put the project root on PYTHONPATH.

``Logged(name, value=..., log=path)`` has the type ``pulumi-python:dynamic:Resource``; its id is
``<name>-<n>`` where n counts creates, so a replacement gets a new id. ``secret`` is sent as a secret.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

COMPARED = ("value", "secret", "extra")


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("__")}


class LogProvider(ResourceProvider):
    def __init__(self, log: str) -> None:
        self.log = log

    def _write(self, op: str, props: dict[str, Any], rid: str | None = None) -> None:
        value = props.get("value")
        if op in ("create", "update") and isinstance(value, str) and value.startswith("sleep:"):
            self._write(f"{op}-started", {**props, "value": None}, rid)
            time.sleep(float(value.split(":", 1)[1]))   # long enough to be killed mid-update
        entry = {"op": op, "name": props.get("name"), "id": rid, "value": props.get("value")}
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def _count(self) -> int:
        if not os.path.exists(self.log):
            return 0
        with open(self.log, encoding="utf-8") as fh:
            return sum(1 for line in fh if '"op": "create"' in line)

    def create(self, props: dict[str, Any]) -> CreateResult:
        rid = f"{props['name']}-{self._count() + 1}"
        self._write("create", props, rid)
        return CreateResult(id_=rid, outs=_plain(props))

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in (*COMPARED, "name") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=["name"] if "name" in changed else [],
                          delete_before_replace=False)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._write("update", news, id)
        return UpdateResult(outs=_plain(news))

    def delete(self, id: str, props: dict[str, Any]) -> None:
        self._write("delete", props, id)

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        self._write("read", props, id)
        return ReadResult(id_=id, outs=_plain(props) or {"name": id.rsplit("-", 1)[0]})


class Logged(Resource):
    value: pulumi.Output[Any]

    def __init__(self, name: str, *, log: str, value: Any = None, secret: Any = None, extra: Any = None,
                 opts: pulumi.ResourceOptions | None = None, logical_name: str | None = None) -> None:
        props: dict[str, Any] = {"name": logical_name or name, "value": value, "extra": extra}
        if secret is not None:
            props["secret"] = pulumi.Output.secret(secret)
        super().__init__(LogProvider(log), name, props, opts)


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
