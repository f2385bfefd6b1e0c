"""The product needs nothing outside the repository at run time."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_no_source_file_reaches_outside_the_repository() -> None:
    offending = []
    for path in sorted(SRC.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".toml", ".json", ".yaml", ".yml",
                                               ".cfg", ".ini", ".txt", ".md"):
            text = path.read_text(errors="replace")
            offending += [f"{path.relative_to(SRC)}: {needle}"
                          for needle in ("../shared", "fixtures/apk", "/work/shared")
                          if needle in text]
    assert offending == []


def test_the_demo_apks_ship_inside_the_package() -> None:
    import yunshang
    from yunshang.launch.devices_day import APK_DIR, DEMO_APKS

    assert APK_DIR.is_relative_to(Path(yunshang.__file__).parent)
    for name in DEMO_APKS:
        assert (APK_DIR / name).stat().st_size > 0
