"""Launch day: the scenario behind ``yunshang demo``."""

from __future__ import annotations

from .demo import LaunchReport, run_demo

__all__ = ["LaunchReport", "run_demo"]
