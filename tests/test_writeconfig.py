"""--write-config: the target version's recorded config back into stacks/Pulumi.<stack>.yaml.

The file is edited, not regenerated: comments, order and the other top-level keys survive, secure
values are copied as ciphertext, and a file whose secrets provider did not make them is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rollback.errors import BadInput
from rollback.writeconfig import WriteResult, render_entry, write_stack_config

SALT = "v1:qXpLkcXPDHw=:v1:i7hdN6q8PH8L7Lo0:vihgHeiPGy5GsrAfr81xpKqsci1Pow=="
OTHER_SALT = "v1:Yg2UWL8HXiw=:v1:sULsuQ2hnsWyGCb7:5yHBsrL7CObtoHTQXmrTv3s8iZzL6Q=="
TOKEN_NOW = "v1:dUgySvvIX4zfn5wx:z++akoyxVuT1cr3M4SO1tElCllQ41GfLblGeZZHm8Lb/hW6cl5It2SE="
TOKEN_THEN = "v1:Q2lwaGVydGV4dDEyMw==:b2xkLWNpcGhlcnRleHQtZm9yLXRoZS1hcGktdG9rZW4="
PASSPHRASE = {"type": "passphrase", "state": {"salt": SALT}}

# The bad release (1.5.0) as it sits in git, with a maintainer's comments.
STACK_FILE = f"""\
# omniserve, production. Secrets use the passphrase provider.
encryptionsalt: {SALT}
config:
  # Rotated 2025-09; see the runbook.
  omniserve:apiToken:
    secure: {TOKEN_NOW}
  aws:region: us-east-1
  omniserve:image: ghcr.io/omniserve/bot:1.5.0  # the release under test
  omniserve:memory: 2Gi
  omniserve:replicas: 3
  omniserve:platforms:
    - kubernetes
    - ecs

  # Environment of the bot container.
  omniserve:env:
    LOG_LEVEL: info
    # tuned after the 1.5.0 triage incident
    SENTIMENT_THRESHOLD: "0.35"
    URGENT_KEYWORDS: refund,cancel
  omniserve:sentimentModel: distilbert-v2
  infra-rollback:health:
    timeout: 600
    gates:
      - kind: kubernetes-rollout
        namespace: omniserve
        deployment: omniserve
# trailing remark about the whole file
"""

# What version 2 (1.4.0) ran with, as its UpdateInfo recorded it.
RECORDED: dict[str, Any] = {
    "aws:region": "us-east-1",
    "infra-rollback:health": {"timeout": 600, "gates": [
        {"kind": "kubernetes-rollout", "namespace": "omniserve", "deployment": "omniserve"}]},
    "omniserve:apiToken": {"secure": TOKEN_THEN},
    "omniserve:env": {"LOG_LEVEL": "info", "SENTIMENT_THRESHOLD": "0.3"},
    "omniserve:image": "ghcr.io/omniserve/bot:1.4.0",
    "omniserve:memory": "1Gi",
    "omniserve:replicas": "3",
    "omniserve:platforms": ["kubernetes", "ecs"],
    "omniserve:cpuRequest": "250m",
    "omniserve:dbPassword": {"secure": "v1:bmV3bm9uY2U=:c2VjcmV0LWNpcGhlcnRleHQ="},
}


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "stacks" / "Pulumi.prod.yaml"
    path.parent.mkdir()
    path.write_text(STACK_FILE)
    return path


def config_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())["config"]


def test_reverts_config_and_reports_names(stack_file: Path) -> None:
    result = write_stack_config(stack_file, RECORDED, secrets_provider=PASSPHRASE)
    assert result.written
    assert sorted(result.changed) == ["omniserve:apiToken", "omniserve:env", "omniserve:image", "omniserve:memory"]
    assert result.added == ["omniserve:cpuRequest", "omniserve:dbPassword"]
    assert result.removed == ["omniserve:sentimentModel"]
    assert sorted(result.secret_keys) == ["omniserve:apiToken", "omniserve:dbPassword"]
    assert "~ omniserve:apiToken [secret]" in result.lines() and "~ omniserve:image" in result.lines()

    config = config_of(stack_file)
    expected = dict(RECORDED)
    expected["omniserve:replicas"] = 3   # unchanged line kept as written (`3` and "3" are the same config value)
    assert config == expected


def test_keeps_comments_order_and_other_keys(stack_file: Path) -> None:
    write_stack_config(stack_file, RECORDED, secrets_provider=PASSPHRASE)
    text = stack_file.read_text()
    for kept in ("# omniserve, production. Secrets use the passphrase provider.\n",
                 f"encryptionsalt: {SALT}\n",
                 "  # Rotated 2025-09; see the runbook.\n",
                 "  # Environment of the bot container.\n",
                 "# trailing remark about the whole file\n",
                 "  omniserve:replicas: 3\n",                      # unchanged entries untouched
                 "  omniserve:platforms:\n    - kubernetes\n    - ecs\n\n",
                 "  omniserve:image: ghcr.io/omniserve/bot:1.4.0  # the release under test\n"):
        assert kept in text, kept
    keys = [line.split(":", 2)[0] + ":" + line.split(":", 2)[1] for line in text.splitlines()
            if line.startswith("  ") and not line.startswith(("   ", "  #")) and ":" in line]
    assert keys == ["  omniserve:apiToken", "  aws:region", "  omniserve:image", "  omniserve:memory",
                    "  omniserve:replicas", "  omniserve:platforms", "  omniserve:env", "  infra-rollback:health",
                    "  omniserve:cpuRequest", "  omniserve:dbPassword"]
    assert text.index("infra-rollback:health") < text.index("omniserve:cpuRequest") < text.index("# trailing remark")
    assert "sentimentModel" not in text


def test_secure_values_are_copied_as_ciphertext_in_pulumi_block_style(stack_file: Path) -> None:
    write_stack_config(stack_file, RECORDED, secrets_provider=PASSPHRASE)
    text = stack_file.read_text()
    assert f"  omniserve:apiToken:\n    secure: {TOKEN_THEN}\n" in text
    assert TOKEN_NOW not in text
    assert ('  omniserve:env:\n    LOG_LEVEL: info\n    # tuned after the 1.5.0 triage incident\n'
            '    SENTIMENT_THRESHOLD: "0.3"\n  infra-rollback:health:\n') in text   # edited key by key: the inner comment stays


def test_refuses_when_the_file_has_another_encryptionsalt(stack_file: Path) -> None:
    other = {"type": "passphrase", "state": {"salt": OTHER_SALT}}
    with pytest.raises(BadInput) as err:
        write_stack_config(stack_file, RECORDED, secrets_provider=other)
    assert str(err.value) == (f"{stack_file} has a different encryptionsalt than the state: "
                              f"secure values cannot be copied")
    assert stack_file.read_text() == STACK_FILE


def test_salt_is_not_checked_when_no_secure_value_is_copied(stack_file: Path) -> None:
    plain = {k: v for k, v in RECORDED.items() if "secure" not in str(v)}
    result = write_stack_config(stack_file, plain, secrets_provider={"type": "passphrase",
                                                                     "state": {"salt": OTHER_SALT}})
    assert result.written and "omniserve:apiToken" in result.removed


def test_message_names_the_path_relative_to_the_working_directory(stack_file: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(stack_file.parent.parent)
    with pytest.raises(BadInput, match=r"^stacks/Pulumi\.prod\.yaml has a different encryptionsalt"):
        write_stack_config(stack_file, RECORDED, secrets_provider={"type": "passphrase",
                                                                  "state": {"salt": OTHER_SALT}})


def test_cloud_provider_with_another_data_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("secretsprovider: awskms://alias/omniserve\nencryptedkey: AQICAHgfile==\nconfig:\n"
                    "  omniserve:apiToken:\n    secure: v1:a:b\n")
    provider = {"type": "cloud", "state": {"url": "awskms://alias/omniserve", "encryptedkey": "AQICAHgstate=="}}
    with pytest.raises(BadInput, match="different encryptedkey"):
        write_stack_config(path, {"omniserve:apiToken": {"secure": "v1:c:d"}}, secrets_provider=provider)
    provider["state"]["encryptedkey"] = "AQICAHgfile=="
    assert write_stack_config(path, {"omniserve:apiToken": {"secure": "v1:c:d"}}, secrets_provider=provider).written
    assert config_of(path) == {"omniserve:apiToken": {"secure": "v1:c:d"}}


def test_unchanged_config_leaves_the_file_alone(stack_file: Path) -> None:
    current = yaml.safe_load(STACK_FILE)["config"]
    before = stack_file.stat().st_mtime_ns
    result = write_stack_config(stack_file, current, secrets_provider=PASSPHRASE)
    assert not result.any_change and not result.written
    assert stack_file.read_text() == STACK_FILE and stack_file.stat().st_mtime_ns == before


def test_dry_run_reports_without_writing(stack_file: Path) -> None:
    result = write_stack_config(stack_file, RECORDED, secrets_provider=PASSPHRASE, dry_run=True)
    assert result.changed and not result.written
    assert stack_file.read_text() == STACK_FILE


def test_missing_file_is_created_with_the_state_salt(tmp_path: Path) -> None:
    path = tmp_path / "stacks" / "Pulumi.prod.yaml"
    result = write_stack_config(path, RECORDED, secrets_provider=PASSPHRASE)
    assert result.written and sorted(result.added) == sorted(RECORDED)
    doc = yaml.safe_load(path.read_text())
    assert doc["encryptionsalt"] == SALT
    assert doc["config"] == RECORDED


def test_secret_values_never_reach_the_result(stack_file: Path) -> None:
    result = write_stack_config(stack_file, RECORDED, secrets_provider=PASSPHRASE)
    shown = repr(result) + repr(result.to_dict()) + "\n".join(result.lines())
    assert TOKEN_THEN not in shown and TOKEN_NOW not in shown and "v1:" not in shown


def test_awkward_layouts(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    # indentless list, a block scalar, quoted keys, a flow mapping, CRLF line ends
    path.write_bytes(b"config:\r\n"
                     b"  \"omniserve:platforms\":\r\n  - kubernetes\r\n"
                     b"  omniserve:motd: |\r\n    hello\r\n    world\r\n"
                     b"  omniserve:flags: {a: 1, b: 2}\r\n"
                     b"  omniserve:keep: yes-really\r\n")
    recorded = {"omniserve:platforms": ["ecs"], "omniserve:motd": "bye\n", "omniserve:flags": {"a": 1},
                "omniserve:keep": "yes-really", "omniserve:new": "true"}
    result = write_stack_config(path, recorded)
    assert sorted(result.changed) == ["omniserve:flags", "omniserve:motd", "omniserve:platforms"]
    assert result.added == ["omniserve:new"]
    raw = path.read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert yaml.safe_load(raw)["config"] == {**recorded, "omniserve:new": "true"}
    assert b"  omniserve:keep: yes-really\r\n" in raw


def test_empty_or_flow_config_block_is_rewritten_in_block_style(tmp_path: Path) -> None:
    for body in ("encryptionsalt: x\nconfig: {}\nenvironment:\n  - prod-env\n",
                 "config:\nenvironment:\n  - prod-env\n",
                 "environment:\n  - prod-env\n"):
        path = tmp_path / "Pulumi.x.yaml"
        path.write_text(body)
        result = write_stack_config(path, {"omniserve:env": {"A": "1"}, "omniserve:image": "img:1"})
        doc = yaml.safe_load(path.read_text())
        assert doc["config"] == {"omniserve:env": {"A": "1"}, "omniserve:image": "img:1"}
        assert doc["environment"] == ["prod-env"]
        assert "  omniserve:env:\n    A: \"1\"\n" in path.read_text()
        assert any("ESC" in n for n in result.notes)


def test_an_empty_recorded_config_never_wipes_the_file(stack_file: Path) -> None:
    with pytest.raises(BadInput, match="recorded config is empty"):
        write_stack_config(stack_file, {}, secrets_provider=PASSPHRASE)
    assert stack_file.read_text() == STACK_FILE


def test_not_a_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("config: [1, 2]\n")
    with pytest.raises(BadInput, match="'config' is not a mapping"):
        write_stack_config(path, {"a:b": "c"})
    path.write_text("config:\n  a: [\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        write_stack_config(path, {"a:b": "c"})


@pytest.mark.parametrize("value, lines", [
    ("0.35", ['  k: "0.35"']),
    ("yes", ['  k: "yes"']),
    ("ghcr.io/omniserve/bot:1.4.0", ["  k: ghcr.io/omniserve/bot:1.4.0"]),
    ("a: b", ['  k: "a: b"']),
    ("", ['  k: ""']),
    (3, ["  k: 3"]),
    ([{"kind": "http", "thresholds": [{"max": 0.2}]}],
     ["  k:", "    - kind: http", "      thresholds:", "        - max: 0.2"]),
    ({"secure": "v1:n:c"}, ["  k:", "    secure: v1:n:c"]),
])
def test_rendering_round_trips(value: Any, lines: list[str]) -> None:
    assert render_entry("k", value, 2) == lines
    assert yaml.safe_load("\n".join(lines) + "\n") == {"k": value}


def test_result_type() -> None:
    r = WriteResult(path=Path("stacks/Pulumi.prod.yaml"), changed=["a:b"])
    assert r.any_change and r.to_dict()["changed"] == ["a:b"]
