"""Reading state only as far as a decision needs: what the shortcuts conclude must be what a full read says.

- A state file is read in one pass, each resource's text span kept: resources with the same text are
  identical without being compared value by value; the strict reader still names anything malformed.
- Two checkpoints that differ only in the manifest (a ``pulumi up`` that changed nothing) are the same.
- The pending operations are read from the end of the stack file, where Pulumi writes them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollback.errors import StateError
from rollback.models import same_inputs, same_text
from rollback.state.codec import parse_deployment, pending_operations_at_end, same_but_manifest

URN = "urn:pulumi:prod::shop::kubernetes:apps/v1:Deployment::web"


def resource(urn: str = URN, **inputs: Any) -> dict[str, Any]:
    return {"urn": urn, "custom": True, "id": "shop/web", "type": "kubernetes:apps/v1:Deployment",
            "inputs": {"replicas": 2, **inputs}, "outputs": {"status": "ok"}}


def checkpoint(resources: list[dict[str, Any]], *, time: str = "2026-01-01T00:00:00Z",
               pending: list[dict[str, Any]] | None = None, indent: int | None = None) -> bytes:
    latest: dict[str, Any] = {"manifest": {"time": time, "magic": "m", "version": "v3.200.0"},
                              "secrets_providers": {"type": "b64", "state": {}}, "resources": resources}
    if pending:
        latest["pending_operations"] = pending
    latest["metadata"] = {}
    doc = {"version": 3, "checkpoint": {"stack": "organization/shop/prod", "latest": latest}}
    separators = None if indent else (",", ":")
    return json.dumps(doc, indent=indent, separators=separators).encode()


# -- one pass, spans kept -----------------------------------------------------------------------------
@pytest.mark.parametrize("indent", [None, 4])
def test_resources_with_the_same_text_are_identical_and_others_are_compared_strictly(indent: int | None) -> None:
    a = parse_deployment(checkpoint([resource(), resource(URN + "2", flag=True)], indent=indent), source="a")
    b = parse_deployment(checkpoint([resource(), resource(URN + "2", flag=1)], indent=indent), source="b")
    assert same_text(a.resources[0], b.resources[0]) and same_inputs(a.resources[0], b.resources[0])
    # Python says True == 1; the state's text does not
    assert a.resources[1].raw["inputs"] == b.resources[1].raw["inputs"]
    assert not same_text(a.resources[1], b.resources[1]) and not same_inputs(a.resources[1], b.resources[1])


def test_same_inputs_with_different_outputs_are_the_same_inputs() -> None:
    a = parse_deployment(checkpoint([resource()]), source="a")
    changed = resource()
    changed["outputs"] = {"status": "refreshed"}
    b = parse_deployment(checkpoint([changed]), source="b")
    assert not same_text(a.resources[0], b.resources[0]) and same_inputs(a.resources[0], b.resources[0])


def test_a_deployment_built_from_a_dict_has_no_text_and_is_compared_by_value() -> None:
    doc = json.loads(checkpoint([resource()]))
    a, b = parse_deployment(doc, source="a"), parse_deployment(json.loads(json.dumps(doc)), source="b")
    assert not same_text(a.resources[0], b.resources[0]) and same_inputs(a.resources[0], b.resources[0])


@pytest.mark.parametrize("text, words", [
    (b'{"version":3,"checkpoint":{"latest":{"resources":[{"urn":"u"},]}}}', "corrupt JSON"),
    (b'{"version":3,"checkpoint":{"latest":{"resources":[{"urn":"u"}]}}} trailing', "corrupt JSON"),
    (b'{"version":3,"checkpoint":{"latest":{"resources":[{"urn":"u","inputs":{"a":NaN}}]}}}', "NaN"),
    (b'{"version":3,"checkpoint":{"latest":{"manifest":' + b'[' * 300 + b']' * 300 + b'}}}', "nested"),
])
def test_what_the_one_pass_reader_does_not_take_the_strict_reader_names(text: bytes, words: str) -> None:
    with pytest.raises(StateError) as err:
        parse_deployment(text, source="/state/prod.json")
    assert err.value.message.startswith("/state/prod.json: ") and words in err.value.message


def test_a_resource_nested_too_deep_is_refused_when_its_values_are_read() -> None:
    deep: Any = "leaf"
    for _ in range(250):
        deep = {"k": deep}
    dep = parse_deployment(checkpoint([resource(deep=deep)]), source="/state/prod.json")
    with pytest.raises(StateError) as err:
        _ = dep.resources[0].inputs
    assert "/state/prod.json" in err.value.message and URN in err.value.message
    assert "nested more than 200 levels deep" in err.value.message


# -- no-op updates ------------------------------------------------------------------------------------
def test_checkpoints_that_differ_only_in_the_manifest_are_the_same() -> None:
    a = checkpoint([resource()], time="2026-01-01T00:00:00Z")
    assert same_but_manifest(a, checkpoint([resource()], time="2026-01-02T00:00:00.123456Z"))
    assert not same_but_manifest(a, checkpoint([resource(image="v2")], time="2026-01-02T00:00:00Z"))
    # a resource input called "manifest" is not the deployment's manifest
    assert not same_but_manifest(checkpoint([resource(manifest="a")]), checkpoint([resource(manifest="b")]))
    # laid out otherwise (resources first): not decided here, the caller compares the values
    moved = json.dumps({"version": 3, "checkpoint": {"latest": {"resources": [], "manifest": {"time": "x"}}}})
    assert not same_but_manifest(moved.encode(), moved.replace('"x"', '"y"').encode())


# -- pending operations, from the end -----------------------------------------------------------------
PENDING = [{"resource": resource(URN + "-job"), "type": "creating"}, {"resource": resource(), "type": "updating"}]


@pytest.mark.parametrize("indent", [None, 4])
@pytest.mark.parametrize("pending", [None, PENDING[:1], PENDING])
def test_pending_operations_are_counted_from_the_end_of_the_file(pending: Any, indent: int | None) -> None:
    data = checkpoint([resource(URN + str(i)) for i in range(20)], pending=pending, indent=indent)
    expected = len(pending or [])
    assert pending_operations_at_end(data, whole=True) == expected
    assert pending_operations_at_end(data[-4000:], whole=False) == expected   # the last 4 KB: enough here
    assert len(parse_deployment(data, source="s").pending_operations) == expected


def test_when_the_end_does_not_tell_the_state_is_read() -> None:
    data = checkpoint([resource(URN + str(i)) for i in range(20)], pending=PENDING)
    assert pending_operations_at_end(data[-100:], whole=False) is None          # the key is further back
    no_pending = checkpoint([resource(URN + str(i)) for i in range(20)])
    assert pending_operations_at_end(no_pending[-60:], whole=False) is None     # the last resource starts further back
    no_metadata = no_pending.replace(b',"metadata":{}', b"")
    assert pending_operations_at_end(no_metadata, whole=True) is None           # not laid out as Pulumi writes it
    inside = checkpoint([resource(pending_operations=[1, 2])])                 # an input with that name
    assert pending_operations_at_end(inside, whole=True) is None


def test_history_counts_pending_operations_from_the_end_of_a_big_stack_file(tmp_path: Any) -> None:
    from tests.support.backends import ShopBackend, cli, invoke_json

    shop = ShopBackend(tmp_path / "state")
    shop.deploy(image="web:1")
    many = [shop.custom("kubernetes:core/v1:ConfigMap", f"cm{i}", {"data": {"k": "v" * 200}}) for i in range(400)]
    job = shop.custom("kubernetes:batch/v1:Job", "migrate", {"kind": "Job"})
    dep = shop.build(image="web:2", extra=many, pending_operations=[{"resource": job, "type": "creating"}])
    shop.deploy(result="failed", dep=dep)
    assert shop.stack_file().stat().st_size > 1 << 17        # bigger than what history reads of it
    doc = invoke_json(cli("history", "prod", "--json", "--backend", shop.url))
    assert any("1 pending operation(s)" in w for w in doc["warnings"])


# -- the passphrase key, derived while the state is read ----------------------------------------------
def test_the_secrets_provider_is_read_from_the_first_bytes_of_a_state_file() -> None:
    from rollback.state.codec import head_secrets_provider

    data = checkpoint([resource(URN + str(i)) for i in range(50)])
    assert head_secrets_provider(data[:400]) == {"type": "b64", "state": {}}
    assert head_secrets_provider(data[:120]) is None          # cut before it ends: not guessed
    assert head_secrets_provider(b'{"version":3,"deployment":{"resources":[]}}') is None


def test_a_key_derived_in_the_background_is_the_key_and_a_wrong_passphrase_still_fails() -> None:
    import random

    from rollback.errors import SecretsError
    from rollback.state import secrets as s
    from statekit.pulumi_writer import SecretEncrypter

    enc = SecretEncrypter.create("right horse", rng=random.Random(11))
    provider = enc.secrets_providers()
    salt, _check = s.PassphraseCrypter.parse_salt(provider["state"]["salt"])
    s._KEY_CACHE.pop(("right horse", salt), None)
    box = s.SecretBox(provider, source="prod.json", passphrase=lambda: "right horse")
    box.warm()
    box.check()
    assert s._KEY_CACHE[("right horse", salt)] == s._pbkdf2("right horse", salt)
    wrong = s.SecretBox(provider, source="prod.json", passphrase=lambda: "wrong horse")
    wrong.warm()
    with pytest.raises(SecretsError) as err:
        wrong.check()
    assert "incorrect passphrase" in err.value.message
