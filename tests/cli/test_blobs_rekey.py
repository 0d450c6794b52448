"""``xds-server blobs rekey`` as an administrator runs it (the moves: tests/repository/test_rekey.py)."""

from __future__ import annotations

import hashlib

from .conftest import Cli


def test_a_store_written_with_sha256_keys_has_nothing_to_move(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    output = cli.ok("blobs", "rekey")
    assert "0 blobs keyed by SHA-1 examined, 0 moved" in output
    assert "0 documents of this repository still read by their SHA-1" in output


def test_a_damaged_blob_is_reported_and_kept(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    key = hashlib.sha1(b"the stored bytes").hexdigest()
    path = cli.data_dir / "blobs" / key[:2] / key[2:4] / key
    path.parent.mkdir(parents=True)
    path.write_bytes(b"other bytes")
    result = cli("blobs", "rekey")
    assert result.code == 1, result.stdout
    assert f"1 left alone, their bytes do not match their SHA-1 key: {key}" in result.stdout
    assert path.read_bytes() == b"other bytes"


def test_without_a_schema_it_refuses(cli: Cli) -> None:
    line = cli.error("blobs", "rekey", code=1)
    assert "db upgrade" in line
