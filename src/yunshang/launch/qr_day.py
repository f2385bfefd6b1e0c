"""Launch day, the poster: a QR code with the phone's picture in it, scanned by buyers.

The maker creates a short code for the sale's Tmall listing over the API
(``POST /v1/qr-codes``, attributed to its Tmall launch campaign and channel), makes the
launch poster's code with the phone's picture in it (:func:`yunshang.qr.make_code`,
which verifies it with zxing-cpp and OpenCV before answering) and writes it as PNG beside
the day's report (``report/poster-qr.png``). Then buyers of the crowd walk past the
poster and scan it: the written PNG is read back and decoded by zxing-cpp — a real scan —
and the URL it carries is opened on the demo server with each buyer's key (their account),
plus a few passers-by without one. Each scan must be redirected to the listing (checked,
not followed: the shop is not this server). The scans reach the funnel (``scans``) and,
for buyers who then pay, attribution (touch ``scan``); the scanners are eager and join the
sale's crowd at its front, like the ads' clickers (demo.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import zxingcpp
from PIL import Image, ImageDraw
from rich.console import Console
from sqlalchemy import select

from yunshang.kernel.auth import Role
from yunshang.kernel.outbox import outbox
from yunshang.platform import Platform
from yunshang.qr import make_code

#: the poster code's side in pixels (scaled up from the verified render, whole pixels)
POSTER_PX = 900
#: passers-by who scan without being signed in (counted, never attributed)
ANONYMOUS_SCANS = 3
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Meizu 21) AppleWebKit/537.36 Mobile Safari/537.36"


@dataclass
class QrReport:
    code_id: str = ""
    short_url: str = ""
    #: where a scan must land: the listing's page, as the API reports the code's target
    target_url: str = ""
    poster: Path | None = None
    #: the generator's settings: version, error correction, attempts
    settings: str = ""
    #: decoder → whether it read exactly the short URL from the written PNG
    poster_read_by: dict[str, bool] = field(default_factory=dict)
    #: scans made, each redirected to the listing
    scans: int = 0
    #: scans whose redirect did not go to the listing
    bad_redirects: int = 0
    #: the buyers (account ids) who scanned the poster
    scanners: set[str] = field(default_factory=set)
    #: the code's scan count as ``GET /v1/qr-codes/{id}`` reports it
    counted: int = 0
    #: (order id, buyer) of every order credited to a scan (filled by :func:`scan_credits`)
    credited: list[tuple[str, str]] = field(default_factory=list)


def poster_picture(side: int = 512) -> Image.Image:
    """The launch poster's picture: the phone, upright, on the campaign's night-to-aurora
    gradient (the ads' creatives, square)."""
    img = Image.new("RGB", (side, side))
    draw = ImageDraw.Draw(img)
    for y in range(side):
        t = y / max(1, side - 1)
        draw.line([(0, y), (side, y)], fill=(int(10 + 20 * t), int(20 + 140 * t),
                                              int(60 + 100 * t)))
    pw, ph = side * 3 // 8, side * 3 // 4
    px, py = (side - pw) // 2, (side - ph) // 2
    draw.rounded_rectangle([px, py, px + pw, py + ph], radius=pw // 6, fill=(25, 25, 30),
                           outline=(200, 200, 210), width=max(2, pw // 30))
    inset = max(2, pw // 12)
    draw.rounded_rectangle([px + inset, py + inset, px + pw - inset, py + ph - inset],
                           radius=pw // 10, fill=(100, 90, 200))
    return img


def read_poster(path: Path) -> dict[str, str | None]:
    """What each decoder reads from the PNG at ``path`` (None: nothing)."""
    grey = np.asarray(Image.open(path).convert("L"))
    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.barcode_formats_from_str("QRCode"))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(grey)
    return {"zxing-cpp": found[0].text if found else None, "OpenCV": text or None}


def play_qr(console: Console, platform: Platform, rng: random.Random, *, url: str,
            merchant_key: str, tenant: str, listing_id: str, channel_id: str,
            campaign_id: str | None, audience: list[str], scanners: int,
            out_dir: Path) -> QrReport:
    """The poster's code made, written to ``out_dir/poster-qr.png`` and scanned by
    ``scanners`` buyers of ``audience`` (and :data:`ANONYMOUS_SCANS` passers-by)."""
    report = QrReport()
    merchant = {"Authorization": f"Bearer {merchant_key}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        made = http.post("/v1/qr-codes", headers=merchant, json={
            "target_kind": "listing", "target": listing_id, "label": "Launch poster",
            "campaign_id": campaign_id, "channel_id": channel_id})
        made.raise_for_status()
        code: dict[str, Any] = made.json()
        report.code_id, report.short_url = code["id"], code["short_url"]
        report.target_url = code["target_url"]

        visual = make_code(report.short_url, poster_picture(), size_px=POSTER_PX)
        out_dir.mkdir(parents=True, exist_ok=True)
        report.poster = out_dir / "poster-qr.png"
        report.poster.write_bytes(visual.png())
        report.settings = (f"version {visual.version}, ECC {visual.ecc.value}, "
                           f"{len(visual.attempts)} attempt(s)")
        read = read_poster(report.poster)
        report.poster_read_by = {name: text == report.short_url for name, text in read.items()}
        console.print(f"[green]✓[/] launch poster's QR code {report.code_id} → "
                      f"{report.short_url} ({report.settings}), written to {report.poster}")

        # Each passer-by's phone reads the printed poster; zxing-cpp stands in for its camera.
        scanned = read["zxing-cpp"]
        if scanned is None:
            return report
        buyers = rng.sample(audience, scanners)
        for buyer in buyers:
            key = platform.keys.create(role=Role.BUYER, tenant=tenant, subject=buyer).token
            if _scan(http, scanned, report, key):
                report.scanners.add(buyer)
        for _ in range(ANONYMOUS_SCANS):
            _scan(http, scanned, report, None)
        shown = http.get(f"/v1/qr-codes/{report.code_id}", headers=merchant)
        shown.raise_for_status()
        report.counted = int(shown.json()["scans"]["total"])
    console.print(f"[green]✓[/] {report.scans} scans of the poster ({len(report.scanners)} "
                  f"by signed-in buyers, {ANONYMOUS_SCANS} anonymous), each redirected to the "
                  f"Tmall listing; the code counts {report.counted}")
    return report


def _scan(http: httpx.Client, scanned_url: str, report: QrReport, key: str | None) -> bool:
    """One scan: the URL the code carries opened on a phone; True when redirected to the
    listing (not followed)."""
    headers = {"User-Agent": PHONE_UA}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    landed = http.get(scanned_url, headers=headers, follow_redirects=False)
    if landed.status_code != 302 or landed.headers.get("location") != report.target_url:
        report.bad_redirects += 1
        return False
    report.scans += 1
    return True


def scan_credits(platform: Platform, report: QrReport,
                 paid_orders_by_buyer: dict[str, str]) -> None:
    """The orders attribution credited to a scan (after the relay drained), with their
    buyers: ``paid_orders_by_buyer`` maps each paid order id to its buyer."""
    with platform.db.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(
            outbox.c.name == "marketing.order_attributed")).scalars().all()
    report.credited = [(str(p["order_id"]), paid_orders_by_buyer.get(str(p["order_id"]), ""))
                       for p in rows if p.get("touch") == "scan"]


def qr_checks(report: QrReport, funnel: dict[str, Any]) -> dict[str, bool]:
    """The poster and its scans against what the funnel counted."""
    return {
        "qr: the poster decodes with zxing-cpp and OpenCV":
            report.poster is not None and report.poster.stat().st_size > 0
            and report.poster_read_by == {"zxing-cpp": True, "OpenCV": True},
        "qr: every scan redirected to the listing": report.bad_redirects == 0,
        "qr: scans in the funnel match the scans made":
            funnel.get("scans") == report.scans == report.counted > 0,
        "qr: orders credited to a scan are paid orders of buyers who scanned":
            len(report.credited) > 0
            and all(buyer in report.scanners for _, buyer in report.credited),
    }
