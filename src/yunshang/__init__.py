"""Yunshang: cloud commerce for a smartphone ecosystem."""

__version__ = "0.1.0"
