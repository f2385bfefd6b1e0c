"""What every bench shares: the machine it ran on, and its section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform as pyplatform
import sqlite3
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PREAMBLE = ("# Benchmarks\n\nEach `bench/<name>.py` measures one capability against a baseline "
            "in the same run and writes its section here, with the machine it ran on. Timings "
            "are never asserted in tests.\n\n")


def host_info() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and SQLite; each bench adds its own versions."""
    cpu = "unknown"
    with suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {"CPU": cpu, "cores": str(os.cpu_count()), "RAM": ram,
            "OS": f"{pyplatform.system()} {pyplatform.release()}",
            "Python": pyplatform.python_version(), "SQLite": sqlite3.sqlite_version}


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def section_head(name: str, title: str, machine: dict[str, str]) -> list[str]:
    """The first lines of a section: its begin marker, its title and the machine in one line."""
    return [f"<!-- bench:{name}:begin -->", f"## {title}", "",
            "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()) + ".", ""]


def write_section(name: str, section: str, doc: Path = DOC) -> None:
    """Adds or replaces the ``<!-- bench:<name>:begin/end -->`` section of ``doc``,
    leaving the rest of the file as it is."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    text = doc.read_text() if doc.exists() else PREAMBLE
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
