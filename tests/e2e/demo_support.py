"""What the demo's report folder says about the OS update, read as the chart draws it."""

from __future__ import annotations

import json
from pathlib import Path

NEW_OS = "1.1.0"


def adoption_by_day(report_dir: Path, version: str = NEW_OS) -> list[tuple[str, float]]:
    """(day, share of the phones in use on ``version``) from the chart's data file."""
    rows = json.loads((report_dir / "ota_adoption.json").read_text())
    days = sorted({r["day"] for r in rows})
    share = {r["day"]: r["share"] for r in rows if r["os_version"] == version}
    return [(day, float(share.get(day, 0.0))) for day in days]
