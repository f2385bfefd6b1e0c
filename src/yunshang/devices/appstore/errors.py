"""App-store refusals: APK verification and Android's update and compatibility rules."""

from __future__ import annotations

from yunshang.kernel.errors import Conflict, InvalidInput, Unavailable

from ..errors import DeviceCode


class ApkInvalid(InvalidInput):
    """Not an APK, or a manifest Android would refuse.

    ``attribute`` names the manifest attribute at fault, ``entry`` the archive entry
    (e.g. one that inflates past its cap), ``reason`` why the inspection itself was
    stopped (``memory_limit``, ``timeout``, ``crashed``).
    """

    def __init__(self, message: str, *, attribute: str | None = None, entry: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__("apk", message, code=DeviceCode.APK_INVALID)
        for key, value in (("attribute", attribute), ("entry", entry), ("reason", reason)):
            if value:
                self.data[key] = value


class ApkUnsigned(InvalidInput):
    def __init__(self, message: str, *, reasons: list[str]) -> None:
        super().__init__("apk", message, code=DeviceCode.APK_UNSIGNED)
        self.data["reasons"] = reasons


class ApkBadSignature(InvalidInput):
    """apksigner refused the signature; ``reasons`` are its error lines."""

    def __init__(self, message: str, *, reasons: list[str]) -> None:
        super().__init__("apk", message, code=DeviceCode.APK_BAD_SIGNATURE)
        self.data["reasons"] = reasons


class ApkVerifierUnavailable(Unavailable):
    """No signature verifier on this server: nothing unverified is ever accepted."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=DeviceCode.APK_VERIFIER_UNAVAILABLE)


class PackageTaken(Conflict):
    def __init__(self, package: str) -> None:
        super().__init__(f"package {package} belongs to another developer",
                         code=DeviceCode.PACKAGE_TAKEN, package=package, field="apk")


class CertificateMismatch(Conflict):
    """Android installs an update only when it is signed by the installed version's signers."""

    def __init__(self, package: str, expected: list[str], got: list[str]) -> None:
        super().__init__(f"{package} is signed by another certificate than its published "
                         "versions; Android would refuse it as an update",
                         code=DeviceCode.APK_CERT_MISMATCH, package=package,
                         expected_certificates=expected, certificates=got, field="apk")


class VersionNotNewer(Conflict):
    def __init__(self, package: str, version_code: int, latest: int) -> None:
        super().__init__(f"{package} versionCode {version_code} is not greater than the "
                         f"latest published {latest}", code=DeviceCode.APK_VERSION_NOT_NEWER,
                         package=package, version_code=version_code, latest_version_code=latest,
                         field="apk")


class Incompatible(Conflict):
    def __init__(self, package: str, api_level: int, min_api: int) -> None:
        super().__init__(f"no version of {package} runs on API level {api_level} (it needs "
                         f"{min_api} or higher)", code=DeviceCode.INCOMPATIBLE, package=package,
                         api_level=api_level, min_api=min_api)
