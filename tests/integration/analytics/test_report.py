"""``yunshang report``: terminal tables and offline charts of every section."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rich.console import Console

from tests.integration.analytics.test_metrics_devices import history  # noqa: F401 - fixture
from yunshang.analytics.report import SECTIONS, build_report, print_report, write_charts
from yunshang.platform import Platform

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_tables_and_charts(history: Platform, tmp_path) -> None:  # noqa: F811
    report = build_report(history.warehouse, "acme")
    console = Console(record=True, width=160)
    print_report(console, report)
    text = console.export_text()
    # the hand-checked numbers of test_metrics_devices show up in the summary
    assert "Activation of sold phones" in text
    assert "Retention by activation week" in text
    assert "75.0%" in text  # 3 of 4 sold phones activated
    assert "rol_1" in text and "66.7%" in text  # 2 of 3 reports succeeded
    files = write_charts(report, tmp_path / "out")
    names = {p.name for p in files}
    for section in SECTIONS:
        assert {f"{section.chart}.png", f"{section.chart}.svg", f"{section.chart}.json"} <= names
        png = (tmp_path / "out" / f"{section.chart}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 2_000
        ET.parse(tmp_path / "out" / f"{section.chart}.svg")  # well-formed SVG
    retention_svg = (tmp_path / "out" / "retention.svg").read_text()
    assert "Retention by activation week" in retention_svg
    # SVGs are reproducible: the same report draws the same bytes
    again = write_charts(report, tmp_path / "again")
    assert (tmp_path / "again" / "retention.svg").read_bytes() == \
        (tmp_path / "out" / "retention.svg").read_bytes()
    assert len(again) == len(files)


def test_report_on_an_empty_warehouse_says_so(make_platform, tmp_path) -> None:
    platform = make_platform()
    report = build_report(platform.warehouse, "acme")
    console = Console(record=True, width=160)
    print_report(console, report)
    assert "no events yet" in console.export_text()
    files = write_charts(report, tmp_path)
    assert len(files) == 3 * len(SECTIONS)
    assert "no events yet" in (tmp_path / "retention.svg").read_text()


def test_report_command(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from tests.integration.analytics.support import emit
    from yunshang.cli import app
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    monkeypatch.delenv("YUNSHANG_ANALYTICS_ENGINE", raising=False)
    platform = Platform(Settings())
    platform.migrate()
    from datetime import UTC, datetime
    emit(platform.db, ("commerce.order_paid", "acme", datetime(2026, 11, 11, tzinfo=UTC),
                       {"order_id": "o1", "channel_id": "chn_a", "sku_id": "sku_1",
                        "quantity": 2, "amount": 700, "currency": "CNY"}))
    platform.stop()
    runner = CliRunner()
    out = tmp_path / "charts"
    result = runner.invoke(app, ["report", "--tenant", "acme", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ingested 1 new events" in result.output
    assert "chn_a" in result.output
    assert (out / "sales.png").exists() and (out / "sales.json").exists()
    # the outbox is already ingested: a second report adds nothing
    again = runner.invoke(app, ["report", "--tenant", "acme", "--out", str(out)])
    assert "ingested 0 new events" in again.output
    bad = runner.invoke(app, ["report", "--tenant", "Not A Tenant", "--out", str(out)])
    assert bad.exit_code == 2
    assert "tenant" in bad.output


def test_report_names_channels(make_platform, tmp_path) -> None:
    from datetime import UTC, datetime

    from tests.integration.analytics.support import emit

    platform = make_platform()
    when = datetime(2026, 11, 11, tzinfo=UTC)
    emit(platform.db,
         ("commerce.channel_created", "acme", when,
          {"channel_id": "chn_a", "name": "Tmall", "kind": "marketplace"}),
         ("commerce.order_paid", "acme", when,
          {"order_id": "o1", "channel_id": "chn_a", "sku_id": "sku_1", "quantity": 1,
           "amount": 500, "currency": "CNY"}))
    platform.ingestor.drain()
    report = build_report(platform.warehouse, "acme")
    assert report.channels == {"chn_a": "Tmall"}
    console = Console(record=True, width=160)
    print_report(console, report)
    assert "Tmall" in console.export_text()
    write_charts(report, tmp_path)
    assert "chn_a" in (tmp_path / "sales.json").read_text()  # the data keeps the ids
