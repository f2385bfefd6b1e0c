"""``yunshang demo`` on a fresh machine: the repository alone, nothing beside it.

The repository's tracked files are copied into an empty directory (so no
``../shared`` or any other sibling exists) and the demo runs there in a new
process, with its own HOME and the default ``./var`` of the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.demo_support import NEW_OS, adoption_by_day

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _copy_tracked_files(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted in the work tree is not part of the copy
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _env(copy: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("YUNSHANG_") and k not in ("PYTHONPATH", "COLUMNS")}
    return {**env, "PYTHONPATH": str(copy / "src"), "HOME": str(home), "COLUMNS": "200",
            "PYTHONDONTWRITEBYTECODE": "1"}


def test_the_demo_passes_from_a_copy_of_the_repository_alone(tmp_path) -> None:
    machine = tmp_path / "machine"
    copy, home = machine / "yunshang", tmp_path / "home"
    copy.mkdir(parents=True)
    home.mkdir()
    _copy_tracked_files(copy)
    assert sorted(p.name for p in machine.iterdir()) == ["yunshang"]  # no ../shared
    env = _env(copy, home)
    where = subprocess.run([sys.executable, "-c", "import yunshang; print(yunshang.__file__)"],
                           cwd=copy, env=env, check=True, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(copy / "src")

    run = subprocess.run(
        [sys.executable, "-m", "yunshang", "demo", "--buyers", "600", "--units", "150",
         "--agents", "20"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    checks = [line for line in out.splitlines() if line.startswith(("✓", "✗"))]
    assert len(checks) > 15
    assert all(line.startswith("✓") for line in checks), "\n".join(checks)
    assert "skipped" not in out
    assert "3 apps published" in out
    assert "../shared" not in out
    report = copy / "var" / "demo" / "report"
    for chart in ("funnel", "sell_through", "activation", "retention", "ota_adoption"):
        assert (report / f"{chart}.png").stat().st_size > 2_000
        assert (report / f"{chart}.svg").exists()
    _, share = adoption_by_day(report)[-1]
    assert share >= 0.95
    assert f"✓ OS {NEW_OS} on {share:.1%} of the phones in use after 4 weeks" in out
