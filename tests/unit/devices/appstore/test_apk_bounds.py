"""Bounded APK inspection: capped inflation, and the child process's limits."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from tests.apk_support import fixture, manifest_bomb, require_apksigner
from yunshang.devices import DeviceCode
from yunshang.devices.appstore import ApkInvalid, ApkSandbox, ApkSigner, inspect_apk
from yunshang.devices.appstore import apk as apk_module

#: A signer command that exists (the parent checks it), for tests that never verify.
PRESENT = ApkSigner("true")


@pytest.fixture(scope="module")
def small_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest declaring 2,000 bytes that inflates to 32 MiB."""
    return manifest_bomb(fixture("TestActivity.apk"),
                         tmp_path_factory.mktemp("bomb") / "bomb.apk",
                         inflated=32 * 1024 * 1024, declared=2_000)


def test_an_entry_that_inflates_past_its_declared_size_is_refused_without_inflating_it(
        small_bomb: Path) -> None:
    require_apksigner()
    tracemalloc.start()
    try:
        with pytest.raises(ApkInvalid) as caught:
            inspect_apk(small_bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code is DeviceCode.APK_INVALID
    assert caught.value.data["entry"] == "AndroidManifest.xml"
    assert peak < 8 * 1024 * 1024, f"inspection allocated {peak} bytes"


def test_the_total_inflated_across_entries_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    require_apksigner()
    monkeypatch.setattr(apk_module, "MAX_INFLATED_BYTES", 10_000)
    with pytest.raises(ApkInvalid) as caught:
        inspect_apk(fixture("TestActivity.apk"))
    assert "in all" in caught.value.message
    assert caught.value.data["entry"]


def test_an_inspection_over_its_memory_limit_is_a_clear_refusal() -> None:
    # 64 MiB of address space: the child cannot even load its parsers
    sandbox = ApkSandbox(memory_limit_bytes=64 * 1024 * 1024, timeout_s=60)
    with pytest.raises(ApkInvalid) as caught:
        sandbox.inspect(fixture("TestActivity.apk"), PRESENT)
    assert caught.value.data["reason"] == "memory_limit"
    assert caught.value.data["field"] == "apk"


def test_an_inspection_over_its_time_is_stopped_and_refused() -> None:
    sandbox = ApkSandbox(timeout_s=0.05)
    with pytest.raises(ApkInvalid) as caught:
        sandbox.inspect(fixture("TestActivity.apk"), PRESENT)
    assert caught.value.data["reason"] == "timeout"
    assert "took longer than" in caught.value.message


def test_the_sandbox_answers_what_the_inspection_finds() -> None:
    require_apksigner()
    info = ApkSandbox().inspect(fixture("hello-world.apk"), ApkSigner())
    assert (info.package, info.schemes, info.effective_min_api) == (
        "de.rhab.helloworld", ("v1", "v2"), 21)
    with pytest.raises(ApkInvalid) as caught:
        ApkSandbox().inspect(fixture("TestActivity_unsigned.apk").parent / "missing.apk",
                             ApkSigner())
    assert caught.value.code is DeviceCode.APK_INVALID


@pytest.mark.parametrize("name", ["hello-world.apk", "com.teleca.jamendo_35.apk"])
def test_real_apks_verify_with_a_quarter_of_the_memory_limit_to_spare(name: str) -> None:
    # the JVM's reservations (heap, class space, code cache, malloc arenas per thread) once
    # came to 1.0-1.2 GiB and a legitimate APK was refused, depending on the threads
    require_apksigner()
    sandbox = ApkSandbox(memory_limit_bytes=ApkSandbox().memory_limit_bytes * 3 // 4)
    info = sandbox.inspect(fixture(name), ApkSigner())
    assert info.package and info.certificates
