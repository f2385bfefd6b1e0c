"""A zip bomb uploaded to a real server: refused, and the server's memory stays put.

The APK is TestActivity.apk whose AndroidManifest.xml declares 2,000 bytes but
inflates to 300 MiB (about 0.5 MB on the wire). The server's resident memory
is sampled every 10 ms while it handles the upload; its peak must stay within
:data:`SERVER_GROWTH_BOUND` of its baseline (taken after a good APK has been
published, so whatever the first upload loads is in the baseline).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.apk_support import fixture, manifest_bomb, require_apksigner
from tests.e2e.server import ServerProcess, Stack
from tests.http_support import bearer
from yunshang.kernel.auth import Role
from yunshang.platform import Platform

#: How much the server process's own RSS may grow while refusing the bomb.
SERVER_GROWTH_BOUND = 100 * 1024 * 1024
BOMB_INFLATES_TO = 300 * 1024 * 1024
APK = {"Content-Type": "application/vnd.android.package-archive"}


class RssSampler:
    """Peak RSS of a process (and, for the record, of it with its children)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.peak_with_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            own = self.rss()
            children = 0
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # it may end while we look
                    children += child.memory_info().rss
            self.peak = max(self.peak, own)
            self.peak_with_children = max(self.peak_with_children, own + children)
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _developer_key(stack: Stack) -> str:
    stack.var_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(stack.settings())
    try:
        platform.migrate()
        return platform.keys.create(role=Role.DEVELOPER, tenant="acme-apps",
                                    label="e2e developer").token
    finally:
        platform.db.dispose()


@pytest.mark.slow
def test_a_manifest_zip_bomb_is_refused_without_growing_the_server(
        tmp_path: Path, make_server: Callable[[Stack], ServerProcess]) -> None:
    require_apksigner()
    bomb = manifest_bomb(fixture("TestActivity.apk"), tmp_path / "bomb.apk",
                         inflated=BOMB_INFLATES_TO, declared=2_000)
    assert bomb.stat().st_size < 600_000
    stack = Stack.embedded(tmp_path)
    token = _developer_key(stack)
    server = make_server(stack)
    server.start()
    assert server.proc is not None
    with httpx.Client(base_url=server.base_url, timeout=300.0) as client:
        good = client.post("/v1/apps", content=fixture("TestActivity.apk").read_bytes(),
                           headers={**bearer(token), **APK})
        assert good.status_code == 201, good.text
        with RssSampler(server.proc.pid) as sampler:
            baseline = sampler.rss()
            answer = client.post("/v1/apps", content=bomb.read_bytes(),
                                 headers={**bearer(token), **APK})
    figures = (f"server RSS baseline {baseline / 2**20:.0f} MiB, peak {sampler.peak / 2**20:.0f}"
               f" MiB (+{(sampler.peak - baseline) / 2**20:.0f} MiB); with children peak "
               f"{sampler.peak_with_children / 2**20:.0f} MiB")
    (tmp_path / "rss.txt").write_text(figures + "\n")  # the figures, for the record
    assert sampler.peak - baseline < SERVER_GROWTH_BOUND, figures
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text, figures)
    problem = answer.json()
    assert problem["code"] == "apk_invalid", problem
    assert problem["field"] == "apk"
    assert problem.get("entry") == "AndroidManifest.xml", problem
    # the server is still there, and still answers
    assert server.running
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        assert client.get("/healthz").status_code == 200
