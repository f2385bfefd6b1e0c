"""Real APK fixtures, and test APKs derived from them (re-versioned, re-signed, broken).

The fixtures live outside the project (``../shared/fixtures/apk/``). Updates
signed by the same certificate, or by another one, are built at test time from
``TestActivity.apk``: its binary manifest gets a new versionCode/minSdkVersion
patched in place (fixed-width integers, so nothing else moves), the old
signature is dropped, and ``apksigner sign`` signs it with an RSA key made here
with ``cryptography``.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.conftest import IN_CI

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "apk"

#: SHA-256 of each fixture's signing certificate, as ``apksigner --print-certs`` reports it.
CERT_TEST_ACTIVITY = "6f5c31608f1f9e285eb6343c7c8af07de81c1fb2148b5349bec906444144576d"
CERT_GOLDEN_V2 = "fb5dbd3c669af9fc236c6991e6387b7f11ff0590997f22d0f5c74ff40e04fca8"


def fixture(name: str) -> Path:
    path = FIXTURES / name
    assert path.is_file(), f"missing APK fixture {path}"
    return path


def require_apksigner() -> None:
    """Skips without apksigner locally; with CI=true its absence fails the test."""
    if shutil.which("apksigner") is None:
        why = "apksigner (AOSP's APK verifier) is not installed (Debian: apt-get install apksigner)"
        if IN_CI:
            pytest.fail(f"{why}; CI must install it (.ci/run)")
        pytest.skip(why)


# ---------------------------------------------------------------- signing keys


@dataclass(frozen=True)
class SigningKey:
    key: Path  # PKCS#8 DER, what ``apksigner sign --key`` reads
    cert: Path  # X.509 PEM
    sha256: str  # of the certificate's DER: what the store records


def make_key(directory: Path, name: str) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2060, 1, 1, tzinfo=UTC))
            .sign(private, hashes.SHA256()))
    key_path, cert_path = directory / f"{name}.pk8", directory / f"{name}.x509.pem"
    key_path.write_bytes(private.private_bytes(serialization.Encoding.DER,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SigningKey(key_path, cert_path, cert.fingerprint(hashes.SHA256()).hex())


# ---------------------------------------------------------------- binary manifest


def _pool_string(buf: bytes, pool: int, header_size: int, strings_start: int, utf8: bool,
                 index: int) -> str:
    off = pool + strings_start + struct.unpack_from("<I", buf, pool + header_size + 4 * index)[0]
    if utf8:
        off += 2 if buf[off] & 0x80 else 1  # UTF-16 length, unused
        n = buf[off]
        if n & 0x80:
            n, off = ((n & 0x7F) << 8) | buf[off + 1], off + 2
        else:
            off += 1
        return buf[off:off + n].decode()
    n = struct.unpack_from("<H", buf, off)[0]
    off += 2
    if n & 0x8000:
        n, off = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", buf, off)[0], off + 2
    return buf[off:off + 2 * n].decode("utf-16-le")


def patch_manifest_ints(data: bytes, **values: int) -> bytes:
    """Sets integer attributes (``versionCode``, ``minSdkVersion``…) of a binary manifest."""
    buf = bytearray(data)
    pool = 8
    kind, header_size, size = struct.unpack_from("<HHI", buf, pool)
    assert kind == 0x0001, "the manifest must start with its string pool"
    count, _styles, flags, strings_start = struct.unpack_from("<IIII", buf, pool + 8)
    names: dict[str, int] = {}
    for i in range(count):
        names.setdefault(_pool_string(bytes(buf), pool, header_size, strings_start,
                                      bool(flags & 0x100), i), i)
    targets = {names[name]: value for name, value in values.items()}
    patched: set[int] = set()
    off = pool + size
    while off < len(buf):
        kind, _header, size = struct.unpack_from("<HHI", buf, off)
        if kind == 0x0102:  # a start tag: 16-byte node header, then the attribute extension
            start, attr_size, attr_count = struct.unpack_from("<HHH", buf, off + 24)
            for k in range(attr_count):
                attr = off + 16 + start + k * attr_size
                name = struct.unpack_from("<I", buf, attr + 4)[0]
                if name in targets:
                    assert buf[attr + 15] in (0x10, 0x11), "not an integer attribute"
                    struct.pack_into("<I", buf, attr + 16, targets[name])
                    patched.add(name)
        off += size
    assert patched == set(targets), f"attributes not found: {values}"
    return bytes(buf)


# ---------------------------------------------------------------- derived APKs

_SIGNATURE_FILES = (".SF", ".RSA", ".DSA", ".EC")


def rebuild(source: Path, target: Path, *, manifest: bytes | None = None,
            corrupt_dex: bool = False, drop: tuple[str, ...] = (), **ints: int) -> Path:
    """``source`` without its signature, optionally with manifest integers changed."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist():
            name = info.filename
            if name in drop or name == "META-INF/MANIFEST.MF" or (
                    name.startswith("META-INF/") and name.endswith(_SIGNATURE_FILES)):
                continue
            data = src.read(info)
            if name == "AndroidManifest.xml":
                data = manifest if manifest is not None else patch_manifest_ints(data, **ints)
            if name == "classes.dex" and corrupt_dex:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])  # the checksum no longer matches
            entry = zipfile.ZipInfo(name, date_time=info.date_time)
            entry.compress_type = info.compress_type
            out.writestr(entry, data)
    return target


def sign(unsigned: Path, target: Path, key: SigningKey) -> Path:
    subprocess.run(["apksigner", "sign", "--key", str(key.key), "--cert", str(key.cert),
                    "--out", str(target), str(unsigned)], check=True, capture_output=True,
                   timeout=120)
    return target


@dataclass(frozen=True)
class DerivedApks:
    """``tests.androguard`` (TestActivity) re-signed with two keys of our own."""

    key1: SigningKey
    key2: SigningKey
    v1_key1: Path  # versionCode 1, minSdk 9
    v2_key1: Path  # versionCode 2, minSdk 9
    v3_key1_api26: Path  # versionCode 3, minSdk 26: only for API 26+
    v5_key2: Path  # versionCode 5 signed by another key: never an update
    corrupt_dex: Path  # well signed, but classes.dex fails its checksum
    version_code_zero: Path  # well signed, android:versionCode="0"


_built: dict[Path, DerivedApks] = {}


def build_test_apks(tmp_path_factory: pytest.TempPathFactory) -> DerivedApks:
    """Builds the derived APKs once per test session (signing starts a JVM each time)."""
    root = tmp_path_factory.getbasetemp()
    if root in _built:
        return _built[root]
    require_apksigner()
    work = tmp_path_factory.mktemp("apks")
    key1, key2 = make_key(work, "developer-one"), make_key(work, "developer-two")
    base = fixture("TestActivity.apk")

    plan: dict[str, tuple[SigningKey, dict[str, Any]]] = {
        "v1_key1": (key1, {"versionCode": 1}),
        "v2_key1": (key1, {"versionCode": 2}),
        "v3_key1_api26": (key1, {"versionCode": 3, "minSdkVersion": 26}),
        "v5_key2": (key2, {"versionCode": 5}),
        "corrupt_dex": (key1, {"versionCode": 4, "corrupt_dex": True}),
        "version_code_zero": (key1, {"versionCode": 0}),
    }

    def made(name: str) -> Path:
        key, changes = plan[name]
        unsigned = rebuild(base, work / f"{name}-unsigned.apk", **changes)
        return sign(unsigned, work / f"{name}.apk", key)

    with ThreadPoolExecutor(max_workers=4) as pool:  # one JVM per signature: run them together
        paths = dict(zip(plan, pool.map(made, plan), strict=True))
    apks = DerivedApks(key1=key1, key2=key2, **paths)
    _built[root] = apks
    return apks


# ---------------------------------------------------------------- zip bombs


def manifest_bomb(source: Path, target: Path, *, inflated: int = 300 * 1024 * 1024,
                  declared: int = 2_000) -> Path:
    """``source`` whose AndroidManifest.xml declares ``declared`` bytes but inflates to
    ``inflated`` (zeros, deflated: about 0.1 % of that on disk).

    The sizes in the local header and in the central directory are both patched, so a
    reader that trusts either sees a small manifest; only inflating tells the truth.
    """
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            if info.filename != "AndroidManifest.xml":
                out.writestr(entry, src.read(info))
                continue
            with out.open(entry, "w") as fh:
                block = b"\0" * (1 << 20)
                for _ in range(inflated // len(block)):
                    fh.write(block)
    data = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as check:
        header = check.getinfo("AndroidManifest.xml").header_offset
    struct.pack_into("<I", data, header + 22, declared)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_len] == b"AndroidManifest.xml":
            struct.pack_into("<I", data, central + 24, declared)  # central directory
            break
        central = data.find(b"PK\x01\x02", central + 4)
    else:
        raise AssertionError("the manifest's central directory entry was not found")
    target.write_bytes(bytes(data))
    return target
