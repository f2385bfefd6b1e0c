"""The byte-range parser behind resumable downloads (RFC 9110 §14.1.2)."""

from __future__ import annotations

import pytest

from yunshang.kernel.errors import MalformedRequest, RangeNotSatisfiable
from yunshang.web.ranges import RangeCode, parse_byte_ranges

SIZE = 1000


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", [(0, 100)]),
    ("bytes=100-1123", [(100, 1000)]),  # an end past the resource means its end
    ("bytes=990-", [(990, 1000)]),
    ("bytes=-64", [(936, 1000)]),
    ("bytes=-5000", [(0, 1000)]),  # a suffix longer than the resource is all of it
    ("bytes=999-999", [(999, 1000)]),
    ("Bytes = 0-0", [(0, 1)]),
    ("bytes=0-9, 20-29", [(0, 10), (20, 30)]),
    ("bytes=20-29,0-9", [(0, 10), (20, 30)]),
    ("bytes=0-9,5-19,", [(0, 20)]),  # overlapping ranges merge; empty elements are allowed
])
def test_ranges_parse_to_half_open_intervals(header: str,
                                             expected: list[tuple[int, int]]) -> None:
    assert parse_byte_ranges(header, SIZE) == expected


@pytest.mark.parametrize("header", [
    "pages=1-2", "bytes", "bytes=", "bytes=-", "bytes=abc", "bytes=1-x", "bytes=5-3",
    "bytes=+1-2", "bytes=١-٢", "0-9",
])
def test_malformed_ranges_are_400_invalid_range(header: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        parse_byte_ranges(header, SIZE)
    assert caught.value.code is RangeCode.INVALID_RANGE
    assert caught.value.data["field"] == "range"


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=1000-", SIZE), ("bytes=1000-2000", SIZE), ("bytes=-0", SIZE), ("bytes=0-", 0),
    ("bytes=0-9,1000-1009", SIZE),
])
def test_ranges_past_the_end_are_416_with_the_size(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_byte_ranges(header, size)
    assert caught.value.headers["Content-Range"] == f"bytes */{size}"
