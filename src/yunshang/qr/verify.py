"""Decoder verification: a code leaves only if real decoders read it, degraded too.

Two independent decoders — zxing-cpp and OpenCV's QR detector — read the clean
render and a few degraded copies of it (the damage print, a phone camera and
messaging apps do): a Gaussian blur of σ = ⅓ module (as bench/qr.py blurs), a
downscale to half size, and a JPEG at quality 50. A render passes only if both
decoders return exactly the payload on every copy. The copies are made from the
small verified render (a few pixels per sub-module), which keeps a whole check
to a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from numpy.typing import NDArray

Gray = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What one decoder read from one render (``text`` None when it found nothing)."""

    decoder: str
    render: str
    text: str | None
    ok: bool


def degrade_blur(gray: Gray, module_px: int) -> Gray:
    # A blur of σ = a third of a module: a phone camera a little out of focus, as the
    # bench (bench/qr.py) blurs. It is the degradation halftone codes are weakest against.
    sigma = max(0.8, module_px / 3)
    return np.asarray(cv2.GaussianBlur(gray, (0, 0), sigmaX=sigma), dtype=np.uint8)


def degrade_downscale(gray: Gray, module_px: int) -> Gray:
    del module_px
    h, w = gray.shape
    return np.asarray(cv2.resize(gray, (max(1, w // 2), max(1, h // 2)),
                                 interpolation=cv2.INTER_AREA), dtype=np.uint8)


def degrade_jpeg(gray: Gray, module_px: int) -> Gray:
    del module_px
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 50])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 array
        raise RuntimeError("OpenCV could not encode a JPEG")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


#: The renders every code is checked on: name → how the clean render is degraded.
DEGRADATIONS: dict[str, Callable[[Gray, int], Gray]] = {
    "blur": degrade_blur,
    "downscale": degrade_downscale,
    "jpeg50": degrade_jpeg,
}


_QR_ONLY = zxingcpp.barcode_formats_from_str("QRCode")


def read_zxing(gray: Gray) -> str | None:
    found = zxingcpp.read_barcodes(gray, formats=_QR_ONLY)
    return found[0].text if found else None


def read_opencv(gray: Gray) -> str | None:
    # The ArUco-based detector first: the classic one misses some plain, clean symbols
    # (a version 13 code at any scale, with OpenCV 5.0), which a phone app would read.
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        try:
            text, _points, _straight = detector.detectAndDecode(gray)
        except cv2.error:
            continue
        if text:
            return str(text)
    return None


DECODERS: dict[str, Callable[[Gray], str | None]] = {
    "zxing": read_zxing,
    "opencv": read_opencv,
}


def to_gray(rgb: NDArray[np.uint8]) -> Gray:
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY),
                      dtype=np.uint8)


def verify(rgb: NDArray[np.uint8], payload: str, *, module_px: int,
           stop_at_first_failure: bool = True) -> list[DecodeResult]:
    """Each decoder's reading of the clean render and of every degraded copy.

    With ``stop_at_first_failure`` the check ends at the first wrong reading (the
    code will be strengthened anyway); the last result is then the failure.
    """
    clean = to_gray(rgb)
    renders = {"clean": clean}
    renders.update((name, degrade(clean, module_px)) for name, degrade in DEGRADATIONS.items())
    results: list[DecodeResult] = []
    for render, gray in renders.items():
        for decoder, read in DECODERS.items():
            text = read(gray)
            results.append(DecodeResult(decoder=decoder, render=render, text=text,
                                        ok=text == payload))
            if stop_at_first_failure and text != payload:
                return results
    return results
