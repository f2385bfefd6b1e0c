"""POST /v1/qr/render and `yunshang qr make`: verified codes out, clear refusals in."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tests.factories import random_tenant
from tests.http_support import assert_problem, bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.platform import Platform
from yunshang.qr.verify import read_opencv, read_zxing, to_gray

URL = "https://ys.example/q/launch1"


def picture_png(side: int = 120) -> bytes:
    y, x = np.mgrid[0:side, 0:side] / side
    rgb = np.stack([255 * x, 200 * y, 255 * (1 - x)], -1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def test_render_answers_a_png_both_decoders_read(platform: Platform) -> None:
    key = platform.keys.create(role=Role.ADVERTISER, tenant=random_tenant(), subject="adv_1")
    with open_client(platform) as client:
        r = client.post("/v1/qr/render", params={"data": URL, "size_px": 400},
                        content=picture_png(), headers={**bearer(key.token),
                                                        "Content-Type": "image/png"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        assert r.headers["X-QR-ECC"] in {"M", "Q", "H"}
        assert int(r.headers["X-QR-Version"]) <= 4
        assert "zxing/jpeg50=ok" in r.headers["X-QR-Decoders"]
        assert "fail" not in r.headers["X-QR-Decoders"]
        img = Image.open(io.BytesIO(r.content)).convert("RGB")
        assert img.size[0] >= 400
        gray = to_gray(np.asarray(img))
        assert read_zxing(gray) == URL and read_opencv(gray) == URL

        plain = client.post("/v1/qr/render", params={"data": URL, "format": "svg",
                                                     "ecc": "H"},
                            headers=bearer(key.token))
        assert plain.status_code == 200, plain.text
        assert plain.headers["content-type"].startswith("image/svg+xml")
        assert plain.headers["X-QR-ECC"] == "H" and plain.text.startswith("<svg")


def test_render_refusals(platform: Platform) -> None:
    tenant = random_tenant()
    merchant = bearer(platform.keys.create(role=Role.MERCHANT, tenant=tenant).token)
    buyer = bearer(platform.keys.create(role=Role.BUYER, tenant=tenant, subject="b1").token)
    with open_client(platform) as client:
        r = client.post("/v1/qr/render", params={"data": URL}, headers=buyer)
        assert_problem(r, 403, "forbidden")
        r = client.post("/v1/qr/render", params={"data": "x" * 3000, "ecc": "H"},
                        headers=merchant)
        assert_problem(r, 422, "qr_payload_too_long", field="data")
        r = client.post("/v1/qr/render", params={"data": URL}, content=b"%PDF-1.4",
                        headers={**merchant, "Content-Type": "application/pdf"})
        assert_problem(r, 415, "unsupported_media_type")
        r = client.post("/v1/qr/render", params={"data": URL}, content=b"\x89PNG garbage",
                        headers={**merchant, "Content-Type": "image/png"})
        assert_problem(r, 422, "qr_image_invalid", field="image")
        bomb = io.BytesIO()
        Image.new("1", (5000, 5000)).save(bomb, format="PNG")
        r = client.post("/v1/qr/render", params={"data": URL}, content=bomb.getvalue(),
                        headers={**merchant, "Content-Type": "image/png"})
        assert_problem(r, 422, "qr_image_invalid", field="image")
        r = client.post("/v1/qr/render", params={"data": URL, "dark": "#eeeeee"},
                        headers=merchant)
        assert_problem(r, 422, "qr_style_invalid", field="dark")


def test_cli_make_writes_png_and_svg_and_prints_the_verdicts(tmp_path: Path) -> None:
    from yunshang.cli import app

    logo = tmp_path / "logo.png"
    logo.write_bytes(picture_png())
    out, svg = tmp_path / "code.png", tmp_path / "code.svg"
    result = CliRunner().invoke(app, ["qr", "make", "--data", URL, "--image", str(logo),
                                      "--out", str(out), "--svg", str(svg)])
    assert result.exit_code == 0, result.output
    assert "ecc M" in result.output and "opencv  jpeg50     ok" in result.output
    gray = to_gray(np.asarray(Image.open(out).convert("RGB")))
    assert read_zxing(gray) == URL
    assert svg.read_text().startswith("<svg")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    refused = CliRunner().invoke(app, ["qr", "make", "--data", URL, "--image", str(bad),
                                       "--out", str(tmp_path / "x.png")])
    assert refused.exit_code == 2
    assert "qr_image_invalid" in refused.output
