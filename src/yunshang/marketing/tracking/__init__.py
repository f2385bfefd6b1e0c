"""Tracking: signed ids for what was served, notices, impressions, clicks, attribution."""

from .tokens import TokenSigner

__all__ = ["TokenSigner"]
