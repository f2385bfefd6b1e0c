"""Revocation reaches every process: the CLI revokes a key while a server runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ServerProcess, Stack, create_keys
from tests.http_support import bearer


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from yunshang.cli import main; main()",
                           *args], env=stack.env(), cwd=stack.var_dir, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_a_key_revoked_by_the_cli_stops_working_on_a_running_server_within_2_s(
        tmp_path: Path, make_server: Callable[[Stack], ServerProcess]) -> None:
    stack = Stack.embedded(tmp_path)
    keys = create_keys(stack, "meizu")
    key_id = "key_" + keys.merchant.split("_")[2]
    server = make_server(stack)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            assert client.get("/v1/orders", headers=bearer(keys.merchant)).status_code == 200
            done = _cli(stack, "keys", "revoke", key_id)
            assert done.returncode == 0, done.stdout + done.stderr
            revoked_at = time.monotonic()
            while client.get("/v1/orders", headers=bearer(keys.merchant)).status_code == 200:
                assert time.monotonic() - revoked_at < 2.0, "the revoked key still works"
                time.sleep(0.05)
            assert client.get("/v1/orders", headers=bearer(keys.merchant)).status_code == 401
            # other keys are unaffected
            assert client.get("/v1/orders", headers=bearer(keys.buyer)).status_code == 200
    finally:
        server.stop()
