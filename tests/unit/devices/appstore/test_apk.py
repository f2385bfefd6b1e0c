"""APK inspection over every real fixture: what parses, what verifies, what is refused and why."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.apk_support import (
    CERT_GOLDEN_V2,
    CERT_TEST_ACTIVITY,
    DerivedApks,
    build_test_apks,
    fixture,
    rebuild,
    require_apksigner,
)
from yunshang.devices import DeviceCode
from yunshang.devices.appstore import (
    ApkBadSignature,
    ApkInvalid,
    ApkSigner,
    ApkUnsigned,
    ApkVerifierUnavailable,
    inspect_apk,
)
from yunshang.devices.appstore.apk import parse_report
from yunshang.kernel.errors import DomainError
from yunshang.web.problems import STATUS_BY_ERROR


@pytest.fixture
def apksigner() -> None:
    require_apksigner()


#: Tests that need the real verifier installed.
verifies = pytest.mark.usefixtures("apksigner")


@pytest.fixture(scope="session")
def derived(tmp_path_factory: pytest.TempPathFactory) -> DerivedApks:
    return build_test_apks(tmp_path_factory)


def status_of(exc: DomainError) -> int:
    return next(status for family, status in STATUS_BY_ERROR if isinstance(exc, family))


# ---------------------------------------------------------------- good fixtures

GOOD = [
    # file, package, versionCode, minSdk, targetSdk, effective min API, schemes, certificate
    ("TestActivity.apk", "tests.androguard", 1, 9, 16, 9, ("v1",), CERT_TEST_ACTIVITY),
    ("a2dp.Vol_137.apk", "a2dp.Vol", 137, 15, 25, 15, ("v1",),
     "1e3bf46f964d494c9094cbf1a7ebec99b63d4acf6ae7519287d94faf5ea6871b"),
    ("com.teleca.jamendo_35.apk", "com.teleca.jamendo", 35, 4, 8, 4, ("v1",),
     "ebd3cc3f8c36a4503838b0610103c8b919245c3ee2c4600f6646502e3875a4ac"),
    ("hello-world.apk", "de.rhab.helloworld", 1, 21, 25, 21, ("v1", "v2"),
     "6e566427da36dd913639b1112f747b77408851b4857a1d63ebf91e02b06f2088"),
    # v2 only, minSdk 23: API 23 cannot check a v2 signature, so it is offered from 24
    ("golden-aligned-v2-out.apk", "android.appsecurity.cts.tinyapp", 10, 23, 23, 24, ("v2",),
     CERT_GOLDEN_V2),
]


@verifies
@pytest.mark.parametrize(("name", "package", "version_code", "min_sdk", "target_sdk",
                          "effective", "schemes", "cert"), GOOD, ids=[g[0] for g in GOOD])
def test_good_fixture_parses_and_verifies(name: str, package: str, version_code: int,
                                          min_sdk: int, target_sdk: int, effective: int,
                                          schemes: tuple[str, ...], cert: str) -> None:
    path = fixture(name)
    info = inspect_apk(path)
    assert (info.package, info.version_code, info.min_sdk, info.target_sdk) == (
        package, version_code, min_sdk, target_sdk)
    assert info.effective_min_api == effective
    assert info.schemes == schemes
    assert info.certificates == (cert,)
    assert info.size == path.stat().st_size
    assert len(info.sha256) == 64


@verifies
def test_permissions_and_names_come_from_the_manifest() -> None:
    info = inspect_apk(fixture("a2dp.Vol_137.apk"))
    assert info.version_name == "2.12.9.2"
    assert info.label == "A2DP Volume"
    assert len(info.permissions) == 17
    assert {"android.permission.BLUETOOTH", "android.permission.RECEIVE_SMS",
            "android.permission.ACCESS_FINE_LOCATION"} <= set(info.permissions)
    assert list(info.permissions) == sorted(info.permissions)


@verifies
def test_invalid_apk_fixture_is_in_fact_a_well_formed_signed_apk() -> None:
    """``Invalid.apk`` is named after its app, not its state.

    It is androguard's ``examples/android/Invalid/Invalid.apk`` (2012, same git
    blob), the *input* of its ``demos/create_invalid_apk.py``, which patched a
    ``new-instance`` type index to 0x4141 to make a broken APK. This file is the
    unpatched original: its ZIP headers agree, its binary manifest is
    well-formed with the right attribute resource ids, its DEX checksum,
    signature and size are right and every instruction decodes, and apksigner
    verifies its v1 signature. Nothing Android checks at install time fails, so
    the store accepts it; genuinely broken APKs are refused below.
    """
    info = inspect_apk(fixture("Invalid.apk"))
    assert (info.package, info.version_code, info.min_sdk) == (
        "re.androguard.android.invalid", 1, 8)
    assert info.schemes == ("v1",)
    assert info.certificates == (
        "e4926d665f0fbdcfd302d6a6aed4e1c9d8faf8906724054285c33d96e29030e8",)


# ---------------------------------------------------------------- refused fixtures


@verifies
def test_unsigned_fixture_is_refused_as_unsigned() -> None:
    with pytest.raises(ApkUnsigned) as caught:
        inspect_apk(fixture("TestActivity_unsigned.apk"))
    assert caught.value.code is DeviceCode.APK_UNSIGNED
    assert caught.value.data["reasons"] == ["Missing META-INF/MANIFEST.MF"]
    assert status_of(caught.value) == 422


@pytest.mark.parametrize(("name", "reason"), [
    ("v2-only-with-ecdsa-sha256-p256-digest-mismatch.apk", "CHUNKED_SHA256 digest mismatch"),
    ("v2-only-with-ecdsa-sha256-p256-sig-does-not-verify.apk",
     "ECDSA_WITH_SHA256 signature over signed-data did not verify"),
])
@verifies
def test_bad_v2_signatures_are_refused_with_the_verifiers_reason(name: str, reason: str) -> None:
    with pytest.raises(ApkBadSignature) as caught:
        inspect_apk(fixture(name))
    exc = caught.value
    assert exc.code is DeviceCode.APK_BAD_SIGNATURE
    assert any(reason in r for r in exc.data["reasons"]), exc.data
    assert reason in exc.message
    assert status_of(exc) == 422


# ---------------------------------------------------------------- broken archives


def _refused_invalid(path: Path) -> ApkInvalid:
    with pytest.raises(ApkInvalid) as caught:
        inspect_apk(path)
    assert caught.value.code is DeviceCode.APK_INVALID
    assert caught.value.data["field"] == "apk"
    assert status_of(caught.value) == 422
    return caught.value


@verifies
def test_a_truncated_apk_is_not_a_zip(tmp_path: Path) -> None:
    cut = tmp_path / "cut.apk"
    cut.write_bytes(fixture("Invalid.apk").read_bytes()[:70_000])
    assert "not a ZIP archive" in _refused_invalid(cut).message


@verifies
def test_a_text_file_is_not_an_apk(tmp_path: Path) -> None:
    text = tmp_path / "readme.apk"
    text.write_text("definitely not an APK\n")
    assert "not a ZIP archive" in _refused_invalid(text).message


@verifies
def test_a_zip_without_a_manifest_is_not_an_apk(tmp_path: Path) -> None:
    bare = rebuild(fixture("TestActivity.apk"), tmp_path / "bare.apk",
                   drop=("AndroidManifest.xml",))
    assert "no AndroidManifest.xml" in _refused_invalid(bare).message


@verifies
def test_a_text_manifest_is_refused(tmp_path: Path) -> None:
    plain = rebuild(fixture("TestActivity.apk"), tmp_path / "plain.apk",
                    manifest=b'<manifest package="com.example.plain"/>')
    _refused_invalid(plain)


@verifies
def test_a_corrupt_dex_is_refused_even_when_signed(derived: DerivedApks) -> None:
    assert "checksum" in _refused_invalid(derived.corrupt_dex).message


@verifies
def test_version_code_zero_is_refused(derived: DerivedApks) -> None:
    exc = _refused_invalid(derived.version_code_zero)
    assert exc.data["attribute"] == "versionCode"


@verifies
def test_derived_apks_are_signed_by_our_keys(derived: DerivedApks) -> None:
    one, two = inspect_apk(derived.v2_key1), inspect_apk(derived.v5_key2)
    assert (one.package, one.version_code, one.certificates) == (
        "tests.androguard", 2, (derived.key1.sha256,))
    assert (two.version_code, two.certificates) == (5, (derived.key2.sha256,))
    api26 = inspect_apk(derived.v3_key1_api26)
    assert (api26.min_sdk, api26.effective_min_api) == (26, 26)


@verifies
def test_zip_entries_that_expand_past_the_limit_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.apk"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("AndroidManifest.xml", b"\0" * (5 * 1024 * 1024))
    assert "AndroidManifest.xml is" in _refused_invalid(bomb).message


# ---------------------------------------------------------------- the verifier itself


def test_without_apksigner_nothing_is_accepted() -> None:
    with pytest.raises(ApkVerifierUnavailable) as caught:
        inspect_apk(fixture("TestActivity.apk"),
                    signer=ApkSigner("/nonexistent/bin/apksigner"))
    assert caught.value.code is DeviceCode.APK_VERIFIER_UNAVAILABLE
    assert "not installed" in caught.value.message
    assert status_of(caught.value) == 503


@verifies
def test_a_verifier_that_hangs_is_killed_and_reported() -> None:
    with pytest.raises(ApkVerifierUnavailable) as caught:
        inspect_apk(fixture("TestActivity.apk"), signer=ApkSigner(timeout_s=0.01))
    assert "did not finish" in caught.value.message


def test_reports_are_parsed_from_apksigners_output() -> None:
    ok = parse_report(0, "Verifies\nVerified using v1 scheme (JAR signing): true\n"
                         "Verified using v2 scheme (APK Signature Scheme v2): false\n"
                         f"Signer #1 certificate SHA-256 digest: {CERT_TEST_ACTIVITY}\n"
                         "WARNING: META-INF/x not protected by signature.\n")
    assert (ok.verified, ok.schemes, ok.certificates, ok.errors) == (
        True, ("v1",), (CERT_TEST_ACTIVITY,), ())
    bad = parse_report(1, "DOES NOT VERIFY\nERROR: Missing META-INF/MANIFEST.MF\n")
    assert (bad.verified, bad.errors) == (False, ("Missing META-INF/MANIFEST.MF",))
    crash = parse_report(1, 'Exception in thread "main" ApkFormatException: Malformed APK\n'
                            "\tat com.android.apksig.ApkVerifier.verify(ApkVerifier.java:176)\n")
    assert crash.verified is False
    assert crash.errors == ('Exception in thread "main" ApkFormatException: Malformed APK',)
