"""bench/qr.py's own helpers: the baseline it compares against, the degradations it
applies and the likeness it measures must be what its report says they are."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageDraw

BENCH = Path(__file__).resolve().parents[3] / "bench" / "qr.py"
PAYLOAD = "https://yunshang.example/q/K3M7Q2XA"


@pytest.fixture(scope="module")
def qr():
    spec = importlib.util.spec_from_file_location("bench_qr", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_qr"] = module
    spec.loader.exec_module(module)
    return module


def _picture(seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (512, 512), (240, 230, 200))
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x, y = rng.integers(0, 450, 2).tolist()
        draw.ellipse([x, y, x + 60, y + 60], fill=tuple(rng.integers(0, 255, 3).tolist()))
    return img


def _corners(image: Image.Image):
    found = zxingcpp.read_barcodes(np.asarray(image.convert("L")),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in found] == [PAYLOAD]
    p = found[0].position
    return [(c.x, c.y) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]


def test_the_baseline_is_a_plain_ecc_h_code_with_the_logo_over_its_centre(qr) -> None:
    picture = _picture()
    code, (left, top, right, bottom) = qr.plain_with_logo(PAYLOAD, picture, area=0.22,
                                                          module_px=8)
    assert code.ecc == "H"
    side = code.modules * 8
    covered = (right - left) * (bottom - top) / side**2
    assert 0.20 <= covered <= 0.25
    # centred on whole modules
    q = code.border * 8
    assert (left - q) % 8 == 0 and (left - q) == side - (right - q)
    assert (left, top) == (top, left)
    pixels = np.asarray(code.image.convert("L")).astype(int)
    logo = np.asarray(picture.resize((right - left, bottom - top)).convert("L")).astype(int)
    assert np.abs(pixels[top:bottom, left:right] - logo).mean() < 3
    outside = pixels.copy()
    outside[top:bottom, left:right] = 0
    assert set(np.unique(outside)) <= {0, 255}  # the rest is the plain code
    # a smaller logo leaves a code that reads
    smaller, _ = qr.plain_with_logo(PAYLOAD, picture, area=0.15)
    assert qr.zxing_reads(smaller.image, PAYLOAD) and qr.opencv_reads(smaller.image, PAYLOAD)


def test_the_degradations_are_the_sizes_angles_and_light_asked(qr) -> None:
    code = qr.stand_in(PAYLOAD, _picture())
    renders = qr.degradations(code)
    assert list(renders) == ["clean", "JPEG q50", "blur σ=⅓ module", "rotated 10°",
                             "downscaled ×0.5", "perspective", "uneven light"]
    w, h = code.image.size
    assert renders["downscaled ×0.5"].size == (round(w / 2), round(h / 2))

    (x0, y0), (x1, y1), *_ = _corners(renders["rotated 10°"])
    assert math.degrees(math.atan2(y0 - y1, x1 - x0)) == pytest.approx(10, abs=1.5)

    tl, tr, br, bl = _corners(renders["perspective"])
    assert renders["perspective"].size == (w, h)
    assert (br[1] - tr[1]) / (bl[1] - tl[1]) == pytest.approx(1 - 0.16, abs=0.04)

    lit = np.asarray(renders["uneven light"].convert("L")).astype(int)
    assert lit[0, 0] == 255  # the quiet zone, full light at the top-left
    assert lit[-1, -1] == pytest.approx(255 * 0.45, abs=2)

    jpeg = np.asarray(renders["JPEG q50"].convert("L")).astype(int)
    clean = np.asarray(code.image.convert("L")).astype(int)
    assert jpeg.shape == clean.shape and 0 < np.abs(jpeg - clean).mean() < 20


def test_the_blur_is_a_third_of_a_module(qr) -> None:
    code = qr.stand_in(PAYLOAD, _picture())
    assert code.module_px == 9
    dot = Image.new("L", (61, 61), 0)
    dot.putpixel((30, 30), 255)
    spread = np.asarray(qr.blur(dot.convert("RGB"), code.module_px / 3).convert("L"), float)
    row = spread[30] / spread[30].sum()
    sigma = math.sqrt((row * (np.arange(61) - 30) ** 2).sum())
    assert sigma == pytest.approx(3, abs=0.5)


def test_likeness_compares_the_symbol_without_its_quiet_zone_to_the_picture(qr) -> None:
    picture = _picture()
    code = qr.stand_in(PAYLOAD, picture)
    q = round(code.border * code.module_px)
    # a "code" whose symbol area is exactly the picture: alike only when aligned
    inner = code.image.width - 2 * q
    framed = Image.new("RGB", code.image.size, (255, 255, 255))
    framed.paste(picture.resize((inner, inner)), (q, q))
    same = qr.Generated(framed, code.version, code.ecc, 1)
    assert qr.likeness(same, picture) > 0.95
    shifted = Image.new("RGB", code.image.size, (255, 255, 255))
    shifted.paste(picture.resize((inner, inner)), (q + inner // 8, q))
    assert qr.likeness(qr.Generated(shifted, code.version, code.ecc, 1), picture) < 0.8
    assert qr.likeness(code, picture) < 0.5  # a plain code looks nothing like the picture


def test_the_bench_has_at_least_twenty_pictures_dark_and_light(qr) -> None:
    found = qr.pictures()
    assert len(found) >= 20
    kinds = " ".join(kind for _, kind, _ in found)
    for word in ("photo", "logo", "dark", "light"):
        assert word in kinds
    assert all(img.size == (512, 512) and img.mode == "RGB" for _, _, img in found)
