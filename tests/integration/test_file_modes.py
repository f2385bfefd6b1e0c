"""Embedded data is private to the server's user: 0o600 files, 0o700 directories.

Checked with a permissive umask (0o022, so that nothing here depends on the
test runner's), on every file and directory a platform leaves under var/
after it has stored a blob, signed TUF metadata and ingested the warehouse.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import random_tenant
from yunshang.analytics.warehouse import Warehouse
from yunshang.kernel.auth import Role


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.usefixtures("open_umask")
def test_var_is_created_owner_only(tmp_path: Path, make_platform: PlatformFactory) -> None:
    var = tmp_path / "fresh" / "var"
    platform = make_platform(sqlite_settings(var))
    platform.keys.create(role=Role.MERCHANT, tenant=random_tenant())  # a write: WAL in use
    platform.blobs.put_bytes(b"an OS image")
    platform.tuf.root_metadata(1)  # bootstraps keys and metadata
    platform.ingestor.run_once()
    db = var / "yunshang.db"
    assert mode(var) == 0o700
    assert mode(db) == 0o600
    for suffix in ("-wal", "-shm"):
        sidecar = db.with_name(db.name + suffix)
        if sidecar.exists():
            assert mode(sidecar) == 0o600, sidecar
    for directory in (var / "blobs", var / "tuf", var / "lake"):
        assert mode(directory) == 0o700, directory
    assert mode(var / "lake" / "warehouse.duckdb") == 0o600
    for path in (var / "blobs").rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    for path in (var / "tuf").rglob("*"):
        if path.is_dir():
            assert mode(path) == 0o700, path
        elif "keys" in path.parts:
            assert mode(path) == 0o600, path
        # signed metadata files are public by design (any mirror serves them); their
        # folders keep other local users out


def test_the_warehouse_has_no_file_access_from_sql(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    warehouse = Warehouse(tmp_path / "lake" / "warehouse.duckdb")
    with pytest.raises(duckdb.PermissionException):
        warehouse.query(f"SELECT * FROM read_csv('{secret}')")
    with pytest.raises(duckdb.PermissionException):
        warehouse.query(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
