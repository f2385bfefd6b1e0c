"""IMEI identifiers: 14 digits plus a Luhn check digit.

An identifier format, like ids and money, so it lives in the kernel: commerce
records the IMEIs it packs, devices keys its registry by them.
"""

from __future__ import annotations


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes ``body`` (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid_imei(value: str) -> bool:
    """True for a 15-digit string whose last digit is the Luhn check digit."""
    return (
        len(value) == 15
        and value.isascii()
        and value.isdigit()
        and luhn_check_digit(value[:14]) == int(value[14])
    )


def make_imei(tac: str, serial: int) -> str:
    """Builds a valid IMEI from an 8-digit type allocation code and a 6-digit serial."""
    body = f"{tac}{serial:06d}"
    if len(body) != 14 or not body.isdigit():
        raise ValueError("tac must be 8 digits and serial < 1,000,000")
    return body + str(luhn_check_digit(body))
