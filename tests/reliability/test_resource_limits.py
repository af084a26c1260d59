"""Resource limits: compressed state files decompress to a bounded size, and truncation is named.

A "bomb" (a few hundred kilobytes that decompress to gigabytes) is refused with exit 2 naming the file,
before it is in memory; the cap is min(INFRA_ROLLBACK_MAX_STATE_SIZE, max(64 MiB,
INFRA_ROLLBACK_MAX_COMPRESSION_RATIO x the compressed size)), documented in docs/cli.md.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollback.errors import StateError
from rollback.state.codec import DEFAULT_MAX_RATIO, DEFAULT_MAX_SIZE, FLOOR, decompress, decompressed_limit
from tests.reliability.conftest import refused, run, snapshot
from tests.support.backends import ShopBackend

MiB = 1 << 20


def gzip_bomb(total: int) -> bytes:
    """``total`` bytes of zeros as gzip members of 1 MiB each (each member compresses to ~1 KiB)."""
    member = gzip.compress(b"\0" * MiB, compresslevel=9)
    return member * (total // MiB)


def zstd_bomb(total: int) -> bytes:
    frame = zstandard.ZstdCompressor(level=19).compress(b"\0" * (16 * MiB))
    return frame * (total // (16 * MiB))


def replace_stack_file(shop: ShopBackend, data: bytes, suffix: str) -> Path:
    """Put ``data`` where the stack file is (as ``prod.json`` + ``suffix``; the newest variant wins)."""
    old = shop.stack_file()
    new = old.with_name(f"{shop.stack}.json{suffix}")
    old.unlink()
    new.write_bytes(data)
    return new


@pytest.mark.parametrize("bomb, suffix", [(gzip_bomb, ".gz"), (zstd_bomb, ".zst")])
def test_a_decompression_bomb_as_the_stack_file_is_refused_naming_it(shop: ShopBackend, bomb, suffix: str) -> None:
    path = replace_stack_file(shop, bomb(2048 * MiB), suffix)      # 2 GiB of zeros
    assert path.stat().st_size < 3 * MiB
    before = snapshot(shop.root)
    limit = decompressed_limit(path.stat().st_size, {}) // MiB           # 64 MiB, or 128 x the larger gzip
    line = refused(run("history", "prod", "--backend", shop.url), str(path), f"decompresses to more than {limit}",
                   "INFRA_ROLLBACK_MAX_STATE_SIZE")
    assert "bomb" in line
    assert snapshot(shop.root) == before


def test_a_bomb_in_a_history_checkpoint_is_refused_when_it_is_read(shop: ShopBackend) -> None:
    _, checkpoint = shop.history_paths(1)
    bomb = checkpoint.with_name(checkpoint.name + ".gz")
    checkpoint.unlink()
    bomb.write_bytes(gzip_bomb(1024 * MiB))
    refused(run("rollback", "prod", "--to", "1", "--preview", "--backend", shop.url), str(bomb),
            "decompresses to more than")


def test_the_ceiling_and_the_ratio_are_overridable(shop: ShopBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    path = replace_stack_file(shop, gzip.compress(shop.stack_file().read_bytes()), ".gz")
    assert run("history", "prod", "--backend", shop.url).code == 0         # a real compressed file: fine
    monkeypatch.setenv("INFRA_ROLLBACK_MAX_STATE_SIZE", "1K")
    refused(run("history", "prod", "--backend", shop.url), str(path), "decompresses to more than 1 KiB")
    monkeypatch.setenv("INFRA_ROLLBACK_MAX_STATE_SIZE", "lots")
    refused(run("history", "prod", "--backend", shop.url), "INFRA_ROLLBACK_MAX_STATE_SIZE", "positive whole number")
    monkeypatch.delenv("INFRA_ROLLBACK_MAX_STATE_SIZE")
    monkeypatch.setenv("INFRA_ROLLBACK_MAX_COMPRESSION_RATIO", "0")
    refused(run("history", "prod", "--backend", shop.url), "INFRA_ROLLBACK_MAX_COMPRESSION_RATIO")


def test_the_documented_limit() -> None:
    assert (DEFAULT_MAX_SIZE, DEFAULT_MAX_RATIO, FLOOR) == (512 * MiB, 128, 64 * MiB)
    assert decompressed_limit(1000, {}) == 64 * MiB                          # small files: the floor
    assert decompressed_limit(2 * MiB, {}) == 256 * MiB                      # 128 x
    assert decompressed_limit(100 * MiB, {}) == 512 * MiB                    # the ceiling
    assert decompressed_limit(2 * MiB, {"INFRA_ROLLBACK_MAX_COMPRESSION_RATIO": "1000"}) == 512 * MiB
    assert decompressed_limit(2 * MiB, {"INFRA_ROLLBACK_MAX_STATE_SIZE": "4G",
                                        "INFRA_ROLLBACK_MAX_COMPRESSION_RATIO": "1000"}) == 2000 * MiB
    assert decompressed_limit(1000, {"INFRA_ROLLBACK_MAX_STATE_SIZE": "10M"}) == 10 * MiB   # below the floor


@pytest.mark.parametrize("compress, suffix, word", [
    (lambda b: zstandard.ZstdCompressor().compress(b), ".zst", "truncated zstd data"),
    (gzip.compress, ".gz", "truncated gzip data"),
])
@pytest.mark.parametrize("cut", [1, 4, 100])
def test_a_truncated_compressed_stack_file_is_truncated_not_empty(shop: ShopBackend, compress, suffix: str,
                                                                   word: str, cut: int) -> None:
    whole = compress(shop.stack_file().read_bytes())
    path = replace_stack_file(shop, whole[:-cut], suffix)
    line = refused(run("history", "prod", "--backend", shop.url), str(path), word)
    assert "empty" not in line


def test_several_frames_and_members_are_read_whole() -> None:
    doc = json.dumps({"version": 3, "deployment": {"resources": []}}).encode()
    half = len(doc) // 2
    z = zstandard.ZstdCompressor()
    assert decompress(z.compress(doc[:half]) + z.compress(doc[half:]), source="x") == doc
    assert decompress(gzip.compress(doc[:half]) + gzip.compress(doc[half:]), source="x") == doc
    with pytest.raises(StateError, match="unexpected bytes after the end"):
        decompress(gzip.compress(doc) + b"junk", source="x")
    with pytest.raises(StateError, match="unexpected bytes after the end"):
        decompress(z.compress(doc) + b"junk", source="x")


# -- fuzzing --------------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_decompress_or_are_refused_naming_the_file(data: bytes) -> None:
    for magic in (b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd"):
        try:
            decompress(magic + data, source="/b/x.json")
        except StateError as exc:
            assert exc.message.startswith("/b/x.json: ") and "\n" not in exc.message


@FUZZ
@given(st.binary(max_size=20000), st.sampled_from(["gzip", "zstd"]), st.data())
def test_compressed_data_roundtrips_and_any_truncation_is_refused(payload: bytes, kind: str, data) -> None:
    packed = gzip.compress(payload) if kind == "gzip" else zstandard.ZstdCompressor().compress(payload)
    assert decompress(packed, source="x") == payload
    cut = data.draw(st.integers(min_value=4, max_value=len(packed) - 1))    # the magic bytes stay
    with pytest.raises(StateError, match="truncated|corrupt"):
        decompress(packed[:cut], source="x")


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes_as_a_state_file_parse_or_are_refused(data: bytes) -> None:
    from rollback.state.codec import parse_deployment

    for blob in (data, b'{"version": 3, "deployment": ' + data, zlib.compress(data)):
        try:
            parse_deployment(blob, source="/b/prod.json")
        except StateError as exc:
            assert exc.message.startswith("/b/prod.json: ") and "\n" not in exc.message
