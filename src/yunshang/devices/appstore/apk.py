"""APK inspection: parse the manifest (androguard), verify the signature (apksigner).

An app store must never publish an APK whose signature it has not checked:
androguard parses but does not verify, so verification is delegated to AOSP's
reference verifier, ``apksigner verify``, run as a subprocess with a timeout.
When ``apksigner`` is not installed every inspection fails with
:class:`~yunshang.devices.appstore.errors.ApkVerifierUnavailable` (HTTP 503).

**Which API levels the signature must hold for.** apksigner checks that the
signature is valid on every Android version from the APK's own ``minSdkVersion``
up. An APK signed only with APK Signature Scheme v2 (or v3) has no signature
that Android 6.0 and older can check (v2 exists from API 24, v3 from API 28),
so it fails for its declared minimum. Such an APK is verified again from the
first API level its scheme exists on; if it verifies there it is accepted with
``effective_min_api`` raised to that level, so that no older device is ever
offered an APK it would refuse to install. Every other failure is a bad
signature, and an APK with no signature at all is unsigned.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from .domain import ApkInfo
from .errors import ApkBadSignature, ApkInvalid, ApkUnsigned, ApkVerifierUnavailable

# androguard logs every parsing step through loguru; its messages are not ours to print.
logger.disable("androguard")

#: The first API level that checks each APK signature scheme.
SCHEME_MIN_API = {"v2": 24, "v3": 28}

#: Uncompressed size limits applied before anything parses an entry (zip bombs).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_RESOURCES_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 100_000
#: The largest version code Android accepts (a signed 32-bit int).
MAX_VERSION_CODE = 2**31 - 1
MAX_VERSION_NAME = 255

_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_DEX = re.compile(r"^classes\d*\.dex$")
_DEX_MAGIC = re.compile(rb"^dex\n0\d\d\x00$")
_SCHEME_LINE = re.compile(r"^Verified using (v[0-9.]+) scheme \(.*\): (true|false)$")
_CERT_LINE = re.compile(r"^Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class Verification:
    """apksigner's verdict for one minimum API level."""

    verified: bool
    certificates: tuple[str, ...]
    schemes: tuple[str, ...]
    errors: tuple[str, ...]


class ApkSigner:
    """Runs ``apksigner verify --print-certs`` and parses its report."""

    def __init__(self, command: str = "apksigner", *, timeout_s: float = 60.0,
                 concurrency: int = 4) -> None:
        self.command = command
        self.timeout_s = timeout_s
        # each run is a JVM of a few hundred megabytes: bound how many run at once
        self._slots = threading.BoundedSemaphore(concurrency)

    def executable(self) -> str:
        """The verifier's path; ApkVerifierUnavailable when it is not installed."""
        found = shutil.which(self.command)
        if found is None:
            raise ApkVerifierUnavailable(
                f"the APK signature verifier ({self.command!r}) is not installed on this "
                "server; APK uploads are refused until it is (Debian: apt-get install apksigner)")
        return found

    def verify(self, path: Path, min_api: int) -> Verification:
        """Verifies the APK's signatures for every API level from ``min_api`` up."""
        argv = [self.executable(), "verify", "--verbose", "--print-certs",
                "--min-sdk-version", str(min_api), str(path)]
        with self._slots:
            # A session of its own, so that a timeout kills the JVM with its launcher.
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                out, err = proc.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # it may just have ended
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise ApkVerifierUnavailable(
                    f"the APK signature verifier did not finish within {self.timeout_s:g} s; "
                    "try again later") from None
        return parse_report(proc.returncode, out.decode(errors="replace")
                            + "\n" + err.decode(errors="replace"))


def parse_report(returncode: int, text: str) -> Verification:
    """Reads ``apksigner verify --verbose --print-certs`` output (stdout and stderr)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    schemes = tuple(m.group(1) for line in lines
                    if (m := _SCHEME_LINE.match(line)) and m.group(2) == "true")
    certificates = tuple(sorted({m.group(1) for line in lines if (m := _CERT_LINE.match(line))}))
    errors = tuple(line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR: "))
    if not errors and returncode != 0:
        # e.g. a Java exception on a file apksigner cannot read as an APK
        errors = tuple(line for line in lines if "Exception" in line)[:1] or (
            f"apksigner exited with status {returncode}",)
    verified = returncode == 0 and "Verifies" in lines and bool(certificates)
    return Verification(verified=verified, certificates=certificates, schemes=schemes,
                        errors=() if verified else errors)


def inspect_apk(path: Path, *, signer: ApkSigner | None = None) -> ApkInfo:
    """Parses and verifies the APK at ``path``.

    Raises ApkInvalid (not an APK, or a manifest Android would refuse), ApkUnsigned,
    ApkBadSignature (with apksigner's reasons) or ApkVerifierUnavailable.
    """
    signer = signer or ApkSigner()
    signer.executable()  # no verifier, no inspection: fail before any work
    size, digest = _size_and_sha256(path)
    _check_archive(path)
    parsed = _parse(path)
    verification, effective_min_api = _verify(signer, path, parsed)
    return ApkInfo(
        package=parsed["package"], version_code=parsed["version_code"],
        version_name=parsed["version_name"], label=parsed["label"],
        min_sdk=parsed["min_sdk"], target_sdk=parsed["target_sdk"],
        effective_min_api=effective_min_api, permissions=parsed["permissions"],
        certificates=verification.certificates, schemes=verification.schemes,
        size=size, sha256=digest,
    )


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _check_archive(path: Path) -> None:
    """The ZIP structure, entry sizes and DEX headers, before a parser sees them."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ApkInvalid(f"the archive has {len(infos)} entries; at most {MAX_ENTRIES}")
            entries = {info.filename: info for info in infos}
            manifest = entries.get("AndroidManifest.xml")
            if manifest is None:
                raise ApkInvalid("the archive has no AndroidManifest.xml: it is not an APK")
            if manifest.file_size > MAX_MANIFEST_BYTES:
                raise ApkInvalid(f"AndroidManifest.xml is {manifest.file_size} bytes; "
                                 f"at most {MAX_MANIFEST_BYTES}")
            for info in infos:
                if _DEX.match(info.filename):
                    _check_dex(archive, info)
    except zipfile.BadZipFile as exc:
        raise ApkInvalid(f"not a ZIP archive, so not an APK ({exc})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as exc:
        raise ApkInvalid(f"the archive cannot be read: {exc}") from None


def _check_dex(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A DEX whose header lies about its size or checksum is refused by ART at install."""
    with archive.open(info) as fh:
        header = fh.read(36)
        if len(header) < 36 or not _DEX_MAGIC.match(header[:8]):
            raise ApkInvalid(f"{info.filename} is not a DEX file (bad magic)")
        checksum = int.from_bytes(header[8:12], "little")
        declared = int.from_bytes(header[32:36], "little")
        running = zlib.adler32(header[12:])
        while block := fh.read(1 << 20):
            running = zlib.adler32(block, running)
    if declared != info.file_size:
        raise ApkInvalid(f"{info.filename} declares {declared} bytes but holds {info.file_size}")
    if running != checksum:
        raise ApkInvalid(f"{info.filename} is corrupt: its Adler-32 checksum does not match")


def _parse(path: Path) -> dict[str, Any]:
    from androguard.core.apk import APK  # heavy import, only where APKs are handled

    try:
        apk = APK(str(path))
        valid = apk.is_valid_APK()
    except Exception as exc:  # androguard raises anything on hostile input
        raise ApkInvalid(f"the APK cannot be parsed: {type(exc).__name__}: {exc}") from None
    if not valid:
        raise ApkInvalid("AndroidManifest.xml is not a valid binary manifest")
    package = apk.get_package() or ""
    if not _PACKAGE.match(package) or len(package) > 255:
        raise ApkInvalid(f"package name {package!r} is not a valid Android application id "
                         "(two or more dot-separated Java identifiers, at most 255 characters)",
                         attribute="package")
    version_code = _manifest_int(apk.get_androidversion_code(), "versionCode", default=None)
    if not 1 <= version_code <= MAX_VERSION_CODE:
        raise ApkInvalid(f"android:versionCode must be from 1 to {MAX_VERSION_CODE}, "
                         f"got {version_code}", attribute="versionCode")
    version_name = apk.get_androidversion_name()
    if version_name is not None and len(version_name) > MAX_VERSION_NAME:
        raise ApkInvalid(f"android:versionName is longer than {MAX_VERSION_NAME} characters",
                         attribute="versionName")
    min_sdk = _manifest_int(apk.get_min_sdk_version(), "minSdkVersion", default=1)
    target_sdk = _manifest_int(apk.get_target_sdk_version(), "targetSdkVersion", default=min_sdk)
    if not 1 <= min_sdk <= 1000 or not 1 <= target_sdk <= 1000:
        raise ApkInvalid(f"SDK levels out of range (minSdkVersion {min_sdk}, "
                         f"targetSdkVersion {target_sdk})", attribute="minSdkVersion")
    try:
        signed = apk.is_signed()
    except Exception:  # a malformed signing block: apksigner says why
        signed = True
    return {
        "package": package, "version_code": version_code, "version_name": version_name or None,
        "label": _label(apk, path), "min_sdk": min_sdk, "target_sdk": target_sdk,
        "permissions": tuple(sorted(set(apk.get_permissions()))), "signed": signed,
        "has_v2": _safe(apk.is_signed_v2), "has_v3": _safe(apk.is_signed_v3),
    }


def _manifest_int(raw: str | None, attribute: str, *, default: int | None) -> int:
    if raw is None or raw == "":
        if default is None:
            raise ApkInvalid(f"the manifest has no android:{attribute}", attribute=attribute)
        return default
    try:
        return int(raw, 0) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        raise ApkInvalid(f"android:{attribute} is {raw!r}, not an integer (preview SDK "
                         "builds cannot be published)", attribute=attribute) from None


def _label(apk: Any, path: Path) -> str | None:
    """The app's name from its resources; optional, so any failure just leaves it out."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("resources.arsc")
        if info.file_size > MAX_RESOURCES_BYTES:
            return None
        label = apk.get_app_name()
    except Exception:
        return None
    return str(label)[:200] if label else None


def _safe(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def _verify(signer: ApkSigner, path: Path, parsed: dict[str, Any]) -> tuple[Verification, int]:
    min_sdk: int = parsed["min_sdk"]
    first = signer.verify(path, min_sdk)
    if first.verified:
        return first, min_sdk
    if not parsed["signed"]:
        raise ApkUnsigned("the APK is not signed; Android installs only signed APKs",
                          reasons=list(first.errors))
    reasons = list(first.errors)
    # A v2/v3-only APK cannot be checked below the API level its scheme arrived in.
    for scheme in ("v2", "v3"):
        floor = SCHEME_MIN_API[scheme]
        if parsed[f"has_{scheme}"] and min_sdk < floor:
            retry = signer.verify(path, floor)
            if retry.verified:
                return retry, floor
            reasons += [r for r in retry.errors if r not in reasons]
    reasons = reasons or ["the signature does not verify"]
    raise ApkBadSignature("the APK signature does not verify: " + "; ".join(reasons),
                          reasons=reasons)
