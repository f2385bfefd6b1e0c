"""The launch day (``yunshang demo``) end to end, small, on embedded defaults."""

from __future__ import annotations

import pytest
from PIL import Image
from rich.console import Console

from tests.e2e.demo_support import NEW_OS, adoption_by_day
from yunshang.launch.demo import run_demo
from yunshang.launch.qr_day import read_poster

pytestmark = pytest.mark.slow


def test_launch_day_passes_every_check_and_writes_the_report(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("YUNSHANG_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("YUNSHANG_DATABASE_URL", raising=False)
    console = Console(record=True, width=140)
    # 40 phones run the real agent over HTTP, the other ~80 update in process
    assert run_demo(console, buyers=600, units=150, seed=3, agents=40)
    text = console.export_text()
    assert "✗" not in text
    assert "warehouse holds every outbox event exactly once" in text
    assert "Retention by activation week" in text
    report = tmp_path / "var" / "demo" / "report"
    for chart in ("funnel", "sell_through", "activation", "retention", "active_devices",
                  "ota_adoption"):
        assert (report / f"{chart}.png").stat().st_size > 2_000
        assert (report / f"{chart}.svg").exists()
    assert any((tmp_path / "var" / "demo" / "lake").rglob("*.parquet"))

    # The OS update, as the adoption chart draws it: released the evening of launch day,
    # nobody runs it the first day, then the share rises over the weeks.
    curve = adoption_by_day(report)
    assert len(curve) >= 28
    assert curve[0][1] == 0.0
    assert curve[2][1] < 0.5
    last_day, share = curve[-1]
    assert share >= 0.95
    # the printed claim is the chart's own figure
    assert f"✓ OS {NEW_OS} on {share:.1%} of the phones in use after 4 weeks" in text
    assert f"phones in use on {last_day} ({share:.1%}, the adoption chart's last day)" in text
    for check in ("every activated phone checked in for OS updates",
                  "OS rollout passed its health gates (20 % → 50 % → 100 %) and completed",
                  "the warehouse's update reports match the phones that updated"):
        assert f"✓ {check}" in text
    # both kinds of phone installed it: real agents over HTTP, and phones in process
    installed_line = text.split(f"✓ OS {NEW_OS} installed on ")[1]
    installed = int(installed_line.split()[0])
    agents_updated = int(installed_line.split("(")[1].split()[0])
    assert "of the 40 running the real agent" in installed_line
    assert 0 < agents_updated < installed

    # The everyday shop beside the sale: multi-line orders paid through the provider,
    # then returns after delivery (a damaged unit written off, not restocked).
    flat = " ".join(text.split())  # rich wraps long lines
    everyday = flat.split("✓ everyday checkout beside the sale: ")[1]
    assert int(everyday.split()[0]) >= 12 and "refused: none" in everyday
    returned = flat.split(" everyday orders returned after delivery: ")[1]
    assert "1 written off (damaged)" in returned
    assert "✓ funnel: orders created and paid match the sale and the everyday shop" in text

    # The days before the sale were advertised: exchange and phone impressions, clicks,
    # and the campaigns' reports with the orders credited to them.
    assert "Advertising, per campaign" in text
    for check in ("impressions and clicks in the funnel match what tracking counted",
                  "impressions from the exchanges and from the phones' own slots",
                  "every attributed order is a paid order of a clicking buyer",
                  "no campaign spent over its budget"):
        assert f"✓ ads: {check}" in text

    # The launch poster: its QR code, written as PNG beside the report, carries the phone's
    # picture and reads back with both decoders; buyers scanned it, the funnel counted every
    # scan and paid orders of scanning buyers were credited to the scan.
    poster = report / "poster-qr.png"
    assert poster.stat().st_size > 2_000
    read = read_poster(poster)
    assert read["zxing-cpp"] == read["OpenCV"]
    assert read["zxing-cpp"] is not None and "/q/" in read["zxing-cpp"]
    with Image.open(poster) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # a picture, not a black-and-white code
    scans = int(flat.split(" scans of the poster (")[0].rsplit(" ", 1)[-1])
    assert scans >= 12 and f"the code counts {scans}" in flat
    for check in ("the poster decodes with zxing-cpp and OpenCV",
                  "every scan redirected to the listing",
                  "scans in the funnel match the scans made",
                  "orders credited to a scan are paid orders of buyers who scanned"):
        assert f"✓ qr: {check}" in text

    # Delivery: the trial cities' drones and the courier for the rest; every shipped order
    # delivered, routes checked against payload, range and the zones, pictures written,
    # and the warehouse's delivery metric agreeing with the flights.
    delivered = flat.split("✓ delivered ")[1]
    by_drone = int(delivered.split(" by drone (")[0].rsplit(" ", 1)[-1])
    assert by_drone > 0 and "too_far" in delivered
    for city in ("zhuhai", "shenzhen", "hangzhou"):
        assert (report / f"delivery-routes-{city}.png").stat().st_size > 2_000
        assert (report / f"delivery-routes-{city}.svg").exists()
    assert (report / "delivery.png").stat().st_size > 2_000
    for check in ("no drone route over payload or range, no leg through a no-fly zone",
                  "couriers took the orders no drone could, each with its reason",
                  "a buyer's channel tracks a drone parcel over HTTP: delivered",
                  "delivery metric: drone deliveries and on-time as flown"):
        assert check in flat
    assert f"every shipped order delivered: {by_drone} by drone" in flat
