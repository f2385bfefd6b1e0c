"""The server keeps the warehouse behind the outbox by itself; the DuckDB file has one owner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from tests.conftest import sqlite_settings
from tests.integration.analytics.support import emit
from yunshang.platform import Platform


def test_background_ingestion(tmp_path, clock) -> None:
    settings = sqlite_settings(tmp_path).model_copy(
        update={"analytics_ingest_interval_s": 0.05, "sweep_interval_s": 60})
    platform = Platform(settings, clock)
    platform.migrate()
    platform.start(background=True)
    try:
        emit(platform.db, ("commerce.sku_restocked", "acme",
                           datetime(2026, 11, 11, tzinfo=UTC), {"sku_id": "s", "quantity": 3}))
        deadline = time.monotonic() + 20
        while platform.warehouse.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert platform.warehouse.count() == 1
        # another process (here `yunshang report`) cannot open the DuckDB file the server
        # owns: it says why and exits 2 instead of a traceback
        env = {**os.environ, "YUNSHANG_VAR_DIR": str(settings.var_dir),
               "YUNSHANG_DATABASE_URL": settings.effective_database_url()}
        other = subprocess.run(
            [sys.executable, "-c", "from yunshang.cli import main; main()", "report",
             "--tenant", "acme", "--out", str(tmp_path / "r")],
            capture_output=True, text=True, env=env, timeout=120, check=False)
        assert other.returncode == 2, other.stdout + other.stderr
        assert "open in another process" in " ".join(other.stdout.split())
    finally:
        platform.stop()


def test_memory_limit_setting(tmp_path, clock) -> None:
    import pytest
    from pydantic import ValidationError

    settings = sqlite_settings(tmp_path).model_copy(update={"analytics_memory_limit": "300MB"})
    platform = Platform(settings, clock)
    platform.migrate()
    try:
        limit = platform.warehouse.query("SELECT current_setting('memory_limit') AS m")[0]["m"]
        assert limit.replace(" ", "") in {"286.1MiB", "300.0MB", "300MB"}, limit
    finally:
        platform.stop()
    with pytest.raises(ValidationError, match="analytics_memory_limit"):
        type(settings)(analytics_memory_limit="lots")
