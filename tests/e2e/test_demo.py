"""The launch day (``yunshang demo``) end to end, small, on embedded defaults."""

from __future__ import annotations

import pytest
from rich.console import Console

from yunshang.launch.demo import run_demo

pytestmark = pytest.mark.slow


def test_launch_day_passes_every_check_and_writes_the_report(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    console = Console(record=True, width=140)
    assert run_demo(console, buyers=600, units=150, seed=3)
    text = console.export_text()
    assert "✗" not in text
    assert "warehouse holds every outbox event exactly once" in text
    assert "Retention by activation week" in text
    report = tmp_path / "var" / "demo" / "report"
    for chart in ("funnel", "sell_through", "activation", "retention", "active_devices"):
        assert (report / f"{chart}.png").stat().st_size > 2_000
        assert (report / f"{chart}.svg").exists()
    assert any((tmp_path / "var" / "demo" / "lake").rglob("*.parquet"))
