"""Reading every real Pulumi file we have, or refusing it exactly where Pulumi's rules say so."""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard

from rollback.errors import StateError
from rollback.state.codec import parse_deployment
from rollback.state.values import UNKNOWN, Asset, Secret, decode
from tests.paths import FIXTURES


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


READABLE = {
    # file: (resources, secrets provider)
    "pulumi-testdata/checkpoint-v3.json": (30, "b64"),
    "pulumi-testdata/checkpoint-v4.json": (30, "b64"),
    "pulumi-testdata/checkpoint-secrets.json": (30, "b64"),
    "real-world/awsx-ts-lb-simple-ecs-2024-04.json": (20, "passphrase"),
    "real-world/awsx-ts-lb-simple-ecs-2024-05.json": (19, "passphrase"),
    "real-world/azenv-capitalized-keys.json": (0, "passphrase"),
    "real-world/azenv-stacks-dev-bak-no-latest.json": (0, None),
    "real-world/camsoper-homelab-docker.json": (7, "service"),
    "real-world/eks-encryption-provider-1.0.4-ciphertext.json": (35, "passphrase"),
    "real-world/eks-encryption-provider-2.5.2-plaintext.json": (36, "passphrase"),
    "real-world/eks-encryption-provider-3.0.0-plaintext.json": (39, "passphrase"),
    "real-world/gcp-cloudrunv2-multicontainer.json": (3, "passphrase"),
    "real-world/privatermq-azure-aci.checkpoint.json": (42, "passphrase"),
    "real-world/privatermq-stacks-dev-bak-pending-delete.json": (1, "passphrase"),
}

# Pulumi's own tests load checkpoint-v0.json and -v1.json (TestLoadV0Checkpoint, TestLoadV1Checkpoint in
# pkg/resource/stack/checkpoint_test.go): they are migrated up to v3, not refused.
MIGRATED = {
    "pulumi-testdata/checkpoint-v0.json": (0, 30),
    "pulumi-testdata/checkpoint-v1.json": (1, 30),
    "real-world/pulumi-legacy-target-latest-todo.json": (0, None),
}

REFUSED = {
    "pulumi-testdata/checkpoint-v4-unsupported-feature.json": "unsupported feature 'unsupported-feature'",
}


@pytest.mark.parametrize("name", sorted(READABLE))
def test_reads_real_state_files(name: str) -> None:
    dep = parse_deployment(fixture(name), source=name)
    count, provider = READABLE[name]
    assert len(dep.resources) == count
    assert (dep.secrets_provider or {}).get("type") == provider
    for r in dep.resources:
        assert r.urn.startswith("urn:pulumi:")
        assert r.type


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_what_pulumi_refuses_naming_file(name: str) -> None:
    with pytest.raises(StateError) as err:
        parse_deployment(fixture(name), source=name)
    assert name in str(err.value)
    assert REFUSED[name] in str(err.value)


@pytest.mark.parametrize("name", sorted(MIGRATED))
def test_old_versions_are_migrated_like_pulumi_does(name: str) -> None:
    dep = parse_deployment(fixture(name), source=name)
    version, count = MIGRATED[name]
    assert dep.migrated_from == version
    if count is not None:
        assert len(dep.resources) == count
    for r in dep.resources:
        assert "defaults" not in r.raw            # v1 defaults were dropped by the migration
        assert not r.external and r.provider is None
        assert set(r.property_dependencies) == set(r.raw.get("inputs") or {})


def test_capitalised_envelope_keys_are_read_like_go_does() -> None:
    dep = parse_deployment(fixture("real-world/azenv-capitalized-keys.json"), source="x")
    assert dep.stack == "organization/dev/dev"
    assert dep.has_latest
    assert dep.manifest["version"] == "v3.152.0"


def test_stack_without_latest_is_an_empty_never_deployed_stack() -> None:
    dep = parse_deployment(fixture("real-world/azenv-stacks-dev-bak-no-latest.json"), source="x")
    assert not dep.has_latest and dep.resources == ()


def test_mid_replacement_checkpoint_keeps_live_resource_per_urn() -> None:
    dep = parse_deployment(fixture("real-world/privatermq-azure-aci.checkpoint.json"), source="x")
    urns = [r.urn for r in dep.resources]
    dupes = {u for u in urns if urns.count(u) > 1}
    assert dupes, "fixture has a URN twice (old copy pending deletion)"
    live = dep.by_urn()
    for urn in dupes:
        assert not live[urn].delete


def test_pending_operations_are_read() -> None:
    dep = parse_deployment(fixture("real-world/privatermq-stacks-dev-bak-pending-delete.json"), source="x")
    assert [p["type"] for p in dep.pending_operations] == ["deleting"]


def test_httpstate_export_documents_in_strings() -> None:
    doc = json.loads(fixture("pulumi-testdata/httpstate-snapshot_test.json"))
    dep = parse_deployment(doc["req1"], source="req1")
    assert [r.urn for r in dep.resources] == ["urn-1"]


@pytest.mark.parametrize("compress", [gzip.compress, lambda b: zstandard.ZstdCompressor().compress(b)])
def test_compression_detected_by_magic_bytes_not_extension(compress) -> None:
    raw = fixture("pulumi-testdata/checkpoint-v3.json")
    dep = parse_deployment(compress(raw), source="prod.json")
    assert len(dep.resources) == 30


@pytest.mark.parametrize("data,fragment", [
    (b'{"version": 3, "checkpoint": {"stack": "a", "latest": {"resources": [', "truncated JSON"),
    (b'{"version": 3 "deployment": {}}', "corrupt JSON"),
    (b"", "empty state file"),
    (b"\x1f\x8b\x08\x00garbage", "gzip data"),
    (b'{"version": 5, "deployment": {}}', "state version 5 is newer"),
    (b'{"version": -1, "deployment": {}}', "unsupported state version -1"),
    (b'{"hello": 1}', "not a Pulumi state file"),
    (b'[1, 2]', "not a Pulumi state file"),
])
def test_bad_files_get_one_line_naming_the_file(data: bytes, fragment: str) -> None:
    with pytest.raises(StateError) as err:
        parse_deployment(data, source="/backend/.pulumi/stacks/p/prod.json")
    msg = str(err.value)
    assert msg.startswith("/backend/.pulumi/stacks/p/prod.json: ")
    assert fragment in msg
    assert "\n" not in msg


def test_special_values_decode() -> None:
    value = decode({
        "s": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:a:b"},
        "a": {"4dabf18193072939515e22adb298388d": "c44067f5952c0a294b673a41bacd8c17", "hash": "h", "text": "hi"},
        "u": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "n": [1, 2.0],
    })
    assert isinstance(value["s"], Secret) and str(value["s"]) == "[secret]" and repr(value["s"]) == "[secret]"
    assert value["a"] == Asset(hash="h", text="hi")
    assert value["u"] is UNKNOWN
    assert value["n"] == [1, 2.0]
