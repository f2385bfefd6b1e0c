"""Visual QR codes: what leaves is read by both decoders, clean and degraded."""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from yunshang.qr import (
    Ecc,
    PayloadTooLong,
    PictureInvalid,
    PictureTooLarge,
    Style,
    StyleInvalid,
    Unscannable,
    load_picture,
    make_code,
)
from yunshang.qr.verify import read_opencv, read_zxing, to_gray, verify
from yunshang.qr.visual import QUIET_ZONE, encode

URL = "https://ys.example/q/AB12cd"


def photo(side: int = 240, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    rgb = np.stack([255 * x, 255 * y, 180 * (1 - x) + rng.random((side, side)) * 70], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def logo_with_alpha() -> Image.Image:
    img = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    arr = np.array(img)
    arr[50:150, 50:150] = (200, 30, 30, 255)
    return Image.fromarray(arr)


PICTURES = {
    "photo": photo,
    "dark": lambda: Image.new("RGB", (180, 180), (20, 10, 40)),
    "light": lambda: Image.new("RGB", (180, 180), (250, 245, 235)),
    "logo": logo_with_alpha,
}


def assert_read_everywhere(code: object, payload: str) -> None:
    rgb = code.rgb  # type: ignore[attr-defined]
    results = verify(rgb, payload, module_px=code.style.module_px,  # type: ignore[attr-defined]
                     stop_at_first_failure=False)
    assert len(results) == 8
    assert [(r.decoder, r.render) for r in results if not r.ok] == []


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_a_picture_code_decodes_clean_and_degraded(name: str) -> None:
    code = make_code(URL, PICTURES[name]())
    assert code.version in (2, 3, 4)
    assert all(r.ok and r.text == URL for r in code.verdicts)
    assert_read_everywhere(code, URL)


@pytest.mark.parametrize("ecc", list(Ecc))
def test_every_ecc_level_round_trips_plain(ecc: Ecc) -> None:
    code = make_code(URL, style=Style(ecc=ecc, cells=1, core=1, cell_px=8))
    assert code.ecc is ecc
    gray = to_gray(code.rgb)
    assert read_zxing(gray) == URL and read_opencv(gray) == URL


def test_long_text_takes_a_version_past_ten_and_decodes_with_a_picture() -> None:
    text = "launch day " * 30
    code = make_code(text, photo())
    assert code.version >= 10
    assert_read_everywhere(code, text)


@pytest.mark.slow
@pytest.mark.parametrize("ecc", list(Ecc))
@pytest.mark.parametrize("name", sorted(PICTURES))
def test_matrix_of_ecc_and_pictures(ecc: Ecc, name: str) -> None:
    code = make_code(URL + "/" + ecc.value, PICTURES[name](), style=Style(ecc=ecc))
    assert list(Ecc).index(code.ecc) >= list(Ecc).index(ecc)
    assert_read_everywhere(code, URL + "/" + ecc.value)


def test_function_patterns_and_quiet_zone_are_solid() -> None:
    code = make_code(URL, Image.new("RGB", (100, 100), (200, 40, 160)))
    symbol = encode(URL, code.ecc, code.version)
    n = code.style.cells
    pad = QUIET_ZONE * n
    cells = code.cells
    assert (cells[:pad] == 255).all() and (cells[:, :pad] == 255).all()
    inner = cells[pad:pad + symbol.size * n, pad:pad + symbol.size * n]
    expected = np.where(np.kron(symbol.dark, np.ones((n, n), dtype=bool))[..., None], 0, 255)
    fn = np.kron(symbol.function, np.ones((n, n), dtype=bool))
    assert fn[:7 * n, :7 * n].all()  # the top-left finder is a function pattern
    assert (inner[fn] == expected[fn]).all()
    # and the picture shows elsewhere: magenta-ish data sub-modules exist
    data = inner[~fn]
    assert (data[:, 0] > data[:, 1] + 40).mean() > 0.5


def test_a_weak_first_setting_is_strengthened_until_it_decodes() -> None:
    weak = Style(bias=0.0, dark_max=120, light_min=130, dark_mean_max=125,
                 light_mean_min=128, blur_sigma=0.0)
    code = make_code(URL, Image.new("RGB", (100, 100), (128, 128, 128)), style=weak)
    assert len(code.attempts) > 1
    assert not code.attempts[0].ok and code.attempts[-1].ok
    assert code.style.dark_mean_max < weak.dark_mean_max
    assert_read_everywhere(code, URL)


def camera_blurred(code: object) -> np.ndarray:
    """The code's PNG blurred as a slightly out-of-focus phone camera (and the bench)
    does: a Gaussian of σ = a third of a module, by Pillow, not by the verifier."""
    png = Image.open(io.BytesIO(code.png()))  # type: ignore[attr-defined]
    sigma = code.style.module_px / 3  # type: ignore[attr-defined]
    return np.asarray(png.filter(ImageFilter.GaussianBlur(radius=sigma)).convert("L"))


def textured(side: int = 256, seed: int = 7) -> Image.Image:
    """A busy mid-tone photo-like picture: the kind whose halftone modules blur worst."""
    rng = np.random.default_rng(seed)
    noise = rng.random((side // 8, side // 8, 3)) * 255
    return Image.fromarray(noise.astype(np.uint8)).resize((side, side),
                                                           Image.Resampling.BICUBIC)


@pytest.mark.parametrize("name", [*sorted(PICTURES), "textured"])
def test_a_picture_code_survives_a_third_of_a_module_blur_in_both_decoders(name: str) -> None:
    picture = textured() if name == "textured" else PICTURES[name]()
    for n in range(3):
        payload = f"{URL}{n}"
        gray = camera_blurred(make_code(payload, picture))
        assert read_zxing(gray) == payload
        text, _points, _straight = cv2.QRCodeDetector().detectAndDecode(gray)
        assert text == payload  # the classic detector alone, as the bench reads


def test_a_blur_failure_is_strengthened_until_the_blurred_code_reads() -> None:
    # Blending blind to the camera blur: OpenCV misreads the blurred photo code, and the
    # ladder's first step turns the blur check on with a wider margin.
    code = make_code(URL, photo(), style=Style(blur_sigma=0.0))
    first = code.attempts[0]
    assert not first.ok
    assert [f"{r.decoder}/{r.render}" for r in first.results if not r.ok] == ["opencv/blur"]
    assert code.attempts[-1].ok and code.style.blur_sigma >= 1 / 3
    assert code.style.blur_margin > Style().blur_margin
    gray = camera_blurred(code)
    assert read_zxing(gray) == URL and read_opencv(gray) == URL


def test_a_code_that_cannot_be_made_scannable_is_refused() -> None:
    weak = Style(bias=0.0, dark_max=120, light_min=130, dark_mean_max=125,
                 light_mean_min=128, blur_sigma=0.0)
    with pytest.raises(Unscannable) as caught:
        make_code(URL, Image.new("RGB", (100, 100), (128, 128, 128)), style=weak,
                  max_attempts=1)
    assert caught.value.field == "image"
    assert caught.value.data["attempts"][0]["failed"]


def test_png_and_svg_outputs() -> None:
    code = make_code(URL, photo(), size_px=600)
    png = Image.open(io.BytesIO(code.png()))
    assert png.format == "PNG" and png.size[0] >= 600
    assert read_zxing(to_gray(np.asarray(png.convert("RGB")))) == URL
    svg = code.svg()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "data:image/png;base64," in svg and svg.count("<rect") > 100


def test_payload_too_long_names_data() -> None:
    with pytest.raises(PayloadTooLong) as caught:
        make_code("x" * 3000, style=Style(ecc=Ecc.H))
    assert caught.value.field == "data"
    with pytest.raises(PayloadTooLong):
        make_code("")


@pytest.mark.parametrize(("style", "field"), [
    (Style(dark=(200, 200, 200)), "dark"),
    (Style(cells=4, core=1), "cells"),
    (Style(bias=2.0), "bias"),
    (Style(version=41), "version"),
    (Style(blur_sigma=1.5), "blur_sigma"),
    (Style(blur_margin=0.8), "blur_margin"),
])
def test_bad_styles_name_their_field(style: Style, field: str) -> None:
    with pytest.raises(StyleInvalid) as caught:
        make_code(URL, style=style)
    assert caught.value.field == field


def test_bad_size_is_refused() -> None:
    with pytest.raises(StyleInvalid) as caught:
        make_code(URL, size_px=10_000)
    assert caught.value.field == "size_px"


def png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_bad_pictures_are_refused_naming_image() -> None:
    good = png_bytes(photo(64))
    for bad in (b"not an image at all", good[: len(good) // 2], b""):
        with pytest.raises(PictureInvalid) as caught:
            load_picture(bad)
        assert caught.value.field == "image"
    with pytest.raises(PictureTooLarge):
        load_picture(good, max_bytes=100)


def test_huge_dimensions_and_decompression_bombs_are_refused() -> None:
    huge = png_bytes(Image.new("1", (5000, 5000)))  # small file, 25 M pixels
    assert len(huge) < 100_000
    with pytest.raises(PictureInvalid, match="pixels"):
        load_picture(huge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = 1000
        try:
            with pytest.raises(PictureInvalid, match="decompression bomb"):
                load_picture(png_bytes(Image.new("RGB", (100, 100))))
        finally:
            Image.MAX_IMAGE_PIXELS = old
