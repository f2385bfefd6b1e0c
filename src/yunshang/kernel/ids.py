"""Prefixed, time-sortable, opaque identifiers (``ord_01J…``)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # every 10-bit value as two digits


def _b32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) base-32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


# Random bits come from the OS CSPRNG, fetched a few kilobytes at a time per thread:
# one getrandom() call per id releases the GIL, and in a server whose event loop
# shares the GIL with busy threads, taking it back can cost milliseconds.
_CHUNK = 10 * 400
_local = threading.local()


def _reset_after_fork() -> None:
    global _local
    _local = threading.local()  # a forked child must never reuse its parent's bytes


os.register_at_fork(after_in_child=_reset_after_fork)


def random_bytes(n: int) -> bytes:
    """``n`` (≤ 10) random bytes from this thread's buffer of the OS CSPRNG's."""
    local = _local
    pos = getattr(local, "pos", _CHUNK)
    if pos >= _CHUNK:
        local.buf = os.urandom(_CHUNK)
        pos = 0
    local.pos = pos + 10
    return bytes(local.buf[pos:pos + n])


def _random80() -> int:
    return int.from_bytes(random_bytes(10), "big")


def request_id() -> str:
    """A fresh request id: 32 hex digits (128 random bits), without a system call."""
    return (random_bytes(10) + random_bytes(6)).hex()


def new_id(prefix: str) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by creation time."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_b32(millis, 10)}{_b32(_random80(), 16)}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
