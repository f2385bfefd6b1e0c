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
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
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

#: A JVM that fits a memory-limited sandbox with room to spare: a 256 MiB heap instead of
#: apksigner's 1 GiB (it streams the digests; the heap holds certificates and the central
#: directory), small reservations for class metadata, compiled code and thread stacks (each
#: reserves 1 GiB or more of address space by default, which RLIMIT_AS counts), one GC and
#: one compiler thread. Measured under ``ulimit -v``: the default options needed 1.0-1.2 GiB
#: of address space (it varied with the threads' malloc arenas), these ~570 MiB.
SANDBOX_JVM_OPTIONS = ("Xmx256m", "XX:CompressedClassSpaceSize=32m",
                       "XX:ReservedCodeCacheSize=32m", "Xss512k", "XX:+UseSerialGC",
                       "XX:ActiveProcessorCount=1", "XX:TieredStopAtLevel=1",
                       # a JVM that dies of its limit writes its crash report here, not
                       # into the server's working directory
                       f"XX:ErrorFile={tempfile.gettempdir()}/yunshang-apksigner-%p.log")

#: How a JVM short of memory (its heap, or the address-space limit) says so.
_JVM_OUT_OF_MEMORY = ("OutOfMemoryError", "Could not reserve enough space",
                      "insufficient memory for the Java Runtime")

#: The first API level that checks each APK signature scheme.
SCHEME_MIN_API = {"v2": 24, "v3": 28}

#: Hard caps on what inspection inflates (zip bombs), counted on the bytes actually
#: inflated, never on the sizes the ZIP declares. Only the manifest and the resource
#: table reach the parser, in an archive rebuilt in memory from these capped reads.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_RESOURCES_BYTES = 64 * 1024 * 1024
MAX_DEX_BYTES = 256 * 1024 * 1024
#: Across every entry read while inspecting one APK (DEX files are streamed, not held).
MAX_INFLATED_BYTES = 1024 * 1024 * 1024
MAX_ENTRIES = 100_000
#: The largest version code Android accepts (a signed 32-bit int).
MAX_VERSION_CODE = 2**31 - 1
MAX_VERSION_NAME = 255

_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_DEX = re.compile(r"^classes\d*\.dex$")
_DEX_MAGIC = re.compile(rb"^dex\n0\d\d\x00$")
_SCHEME_LINE = re.compile(r"^Verified using (v[0-9.]+) scheme \(.*\): (true|false)$")
_V1_SIGNATURE = re.compile(r"^META-INF/[^/]+\.(RSA|DSA|EC)$", re.IGNORECASE)
_SIG_BLOCK_MAGIC = b"APK Sig Block 42"
_SIG_V2 = 0x7109871A
_SIG_V3 = frozenset({0xF05368C0, 0x1B93AD61})  # v3 and v3.1
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
                 concurrency: int = 4, jvm_options: tuple[str, ...] = ()) -> None:
        self.command = command
        self.timeout_s = timeout_s
        # passed as ``-J<option>`` (AOSP's and Debian's apksigner launchers hand them to java)
        self.jvm_options = jvm_options
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
        argv = [self.executable(), *(f"-J{o}" for o in self.jvm_options), "verify",
                "--verbose", "--print-certs", "--min-sdk-version", str(min_api), str(path)]
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
        text = out.decode(errors="replace") + "\n" + err.decode(errors="replace")
        if proc.returncode != 0 and any(sign in text for sign in _JVM_OUT_OF_MEMORY):
            raise ApkInvalid("verifying the APK's signature needed more memory than the "
                             "inspection may use; it was stopped", reason="memory_limit")
        return parse_report(proc.returncode, text)


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
    bounded = _check_archive(path)
    parsed = _parse(bounded)
    parsed.update(_signature_kinds(path, bounded.v1_signed))
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


@dataclass(frozen=True, slots=True)
class BoundedArchive:
    """What the parser may see: the entries it needs, inflated under their caps."""

    apk: bytes  # a ZIP rebuilt in memory: the manifest, and the resources when small enough
    has_resources: bool
    v1_signed: bool


class _Budget:
    """Counts inflated bytes across entries; refuses past :data:`MAX_INFLATED_BYTES`."""

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, name: str, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ApkInvalid(f"inflating the archive's entries exceeds {MAX_INFLATED_BYTES} bytes "
                             f"in all (at {name})", entry=name)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, budget: _Budget,
             sink: Any = None) -> bytes:
    """The entry's bytes, refused as soon as more than ``cap`` come out (whatever it declares).

    With a ``sink`` (a callable taking each block) the bytes are streamed to it, not kept.
    """
    if info.file_size > cap:
        raise ApkInvalid(f"{info.filename} is {info.file_size} bytes; at most {cap}",
                         entry=info.filename)
    kept: list[bytes] = []
    seen = 0
    try:
        with archive.open(info) as fh:
            while block := fh.read(1 << 16):
                seen += len(block)
                if seen > cap:
                    raise ApkInvalid(f"{info.filename} inflates past {cap} bytes",
                                     entry=info.filename)
                budget.take(info.filename, len(block))
                if sink is None:
                    kept.append(block)
                else:
                    sink(block)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        # e.g. more data than the entry declares: zipfile stops at the declared size
        # and the CRC no longer matches
        raise ApkInvalid(f"{info.filename} is corrupt ({exc})", entry=info.filename) from None
    return b"".join(kept)


def _check_archive(path: Path) -> BoundedArchive:
    """The ZIP structure, entry sizes and DEX headers; what the parser will be shown."""
    budget = _Budget(MAX_INFLATED_BYTES)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ApkInvalid(f"the archive has {len(infos)} entries; at most {MAX_ENTRIES}")
            entries = {info.filename: info for info in infos}
            manifest = entries.get("AndroidManifest.xml")
            if manifest is None:
                raise ApkInvalid("the archive has no AndroidManifest.xml: it is not an APK")
            rebuilt = io.BytesIO()
            with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_STORED) as out:
                out.writestr("AndroidManifest.xml",
                             _inflate(archive, manifest, MAX_MANIFEST_BYTES, budget))
                resources = entries.get("resources.arsc")
                # the label is optional: a resource table over its cap just leaves it out
                has_resources = resources is not None and resources.file_size <= MAX_RESOURCES_BYTES
                if resources is not None and has_resources:
                    out.writestr("resources.arsc",
                                 _inflate(archive, resources, MAX_RESOURCES_BYTES, budget))
            for info in infos:
                if _DEX.match(info.filename):
                    _check_dex(archive, info, budget)
            v1_signed = any(_V1_SIGNATURE.match(name) for name in entries)
    except zipfile.BadZipFile as exc:
        raise ApkInvalid(f"not a ZIP archive, so not an APK ({exc})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError,
            zlib.error) as exc:
        raise ApkInvalid(f"the archive cannot be read: {exc}") from None
    return BoundedArchive(apk=rebuilt.getvalue(), has_resources=has_resources,
                          v1_signed=v1_signed)


def _check_dex(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> None:
    """A DEX whose header lies about its size or checksum is refused by ART at install."""
    header = bytearray()
    running = 1  # Adler-32 of nothing

    def feed(block: bytes) -> None:
        nonlocal running
        missing = 36 - len(header)
        if missing > 0:
            header.extend(block[:missing])
            block = block[missing:]
            if len(header) == 36:
                running = zlib.adler32(bytes(header[12:]))
        if len(header) == 36 and block:
            running = zlib.adler32(block, running)

    _inflate(archive, info, MAX_DEX_BYTES, budget, sink=feed)
    if len(header) < 36 or not _DEX_MAGIC.match(bytes(header[:8])):
        raise ApkInvalid(f"{info.filename} is not a DEX file (bad magic)", entry=info.filename)
    checksum = int.from_bytes(header[8:12], "little")
    declared = int.from_bytes(header[32:36], "little")
    if declared != info.file_size:
        raise ApkInvalid(f"{info.filename} declares {declared} bytes but holds {info.file_size}",
                         entry=info.filename)
    if running != checksum:
        raise ApkInvalid(f"{info.filename} is corrupt: its Adler-32 checksum does not match",
                         entry=info.filename)


def _signature_kinds(path: Path, v1_signed: bool) -> dict[str, bool]:
    """Which signature schemes the APK carries (apksigner decides whether they verify).

    v2 and v3 live in the APK Signing Block, just before the central directory;
    only the block's pair headers are read, never a value.
    """
    ids: set[int] = set()
    readable = True
    try:
        ids = _signing_block_ids(path)
    except (OSError, ValueError, struct.error):
        readable = False  # a malformed signing block: apksigner says why
    has_v2, has_v3 = _SIG_V2 in ids, bool(ids & _SIG_V3)
    return {"signed": v1_signed or has_v2 or has_v3 or not readable,
            "has_v2": has_v2, "has_v3": has_v3}


def _signing_block_ids(path: Path) -> set[int]:
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        tail_len = min(size, 65_535 + 22)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        eocd = tail.rfind(b"PK\x05\x06")
        if eocd < 0 or eocd + 22 > len(tail):
            return set()
        cd_offset = struct.unpack_from("<I", tail, eocd + 16)[0]
        if cd_offset < 32 or cd_offset > size:
            return set()
        fh.seek(cd_offset - 24)
        footer = fh.read(24)
        if footer[8:] != _SIG_BLOCK_MAGIC:
            return set()
        block_size = struct.unpack_from("<Q", footer)[0]
        start = cd_offset - block_size - 8
        if block_size < 24 or start < 0:
            raise ValueError("the APK Signing Block's size is inconsistent")
        ids: set[int] = set()
        pos, end = start + 8, cd_offset - 24
        while pos + 12 <= end:
            fh.seek(pos)
            length, pair_id = struct.unpack("<QI", fh.read(12))
            if length < 4 or pos + 8 + length > end:
                raise ValueError("an APK Signing Block pair overruns the block")
            ids.add(pair_id)
            pos += 8 + length
        return ids


def _parse(bounded: BoundedArchive) -> dict[str, Any]:
    from androguard.core.apk import APK  # heavy import, only where APKs are handled

    try:
        # androguard (and the apkInspector it reads ZIPs with) inflates without a bound:
        # it only ever sees the archive rebuilt from capped reads
        apk = APK(bounded.apk, raw=True)
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
    return {
        "package": package, "version_code": version_code, "version_name": version_name or None,
        "label": _label(apk) if bounded.has_resources else None, "min_sdk": min_sdk,
        "target_sdk": target_sdk, "permissions": tuple(sorted(set(apk.get_permissions()))),
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


def _label(apk: Any) -> str | None:
    """The app's name from its resources; optional, so any failure just leaves it out."""
    try:
        label = apk.get_app_name()
    except Exception:
        return None
    return str(label)[:200] if label else None


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
