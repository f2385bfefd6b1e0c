"""Device cloud errors; each has a stable code and structured data."""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import Conflict, Forbidden, InvalidInput, Unavailable


class DeviceCode(StrEnum):
    INVALID_IMEI = "invalid_imei"
    DUPLICATE_DEVICE = "duplicate_device"
    ACTIVATION_LOCKED = "activation_locked"
    NOT_OWNER = "not_owner"
    IMPORT_REJECTED = "import_rejected"
    ROLLOUT_STATE = "rollout_state"
    VERSION_EXISTS = "version_exists"
    APK_INVALID = "apk_invalid"
    APK_UNSIGNED = "apk_unsigned"
    APK_BAD_SIGNATURE = "apk_bad_signature"
    APK_CERT_MISMATCH = "apk_certificate_mismatch"
    APK_VERIFIER_UNAVAILABLE = "apk_verifier_unavailable"
    APK_VERSION_NOT_NEWER = "apk_version_not_newer"
    PACKAGE_TAKEN = "package_owned_by_another_developer"
    INCOMPATIBLE = "incompatible"
    TELEMETRY_REJECTED = "telemetry_rejected"
    OS_VERSION_NOT_NEWER = "os_version_not_newer"
    ROLLOUT_ACTIVE = "rollout_active"
    NOT_IN_ROLLOUT = "not_in_rollout"


class ActivationLocked(Conflict):
    def __init__(self, imei: str) -> None:
        super().__init__(
            f"device {imei} is bound to another account; its owner must release it first",
            code=DeviceCode.ACTIVATION_LOCKED,
            imei=imei,
        )


class NotOwner(Forbidden):
    def __init__(self, imei: str) -> None:
        super().__init__(f"only the account that owns {imei} can do this",
                         code=DeviceCode.NOT_OWNER, imei=imei)


class ImportRejected(InvalidInput):
    """A manufacturing batch with bad rows; nothing was imported."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        first = errors[0]
        super().__init__(
            str(first.get("field", "rows")),
            f"{len(errors)} row(s) refused; nothing imported (first: line {first['line']}: "
            f"{first['message']})",
            code=DeviceCode.IMPORT_REJECTED,
        )
        self.data["errors"] = errors


class RolloutStateError(Conflict):
    def __init__(self, rollout_id: str, state: str, action: str) -> None:
        super().__init__(f"rollout {rollout_id} is {state}; cannot {action}",
                         code=DeviceCode.ROLLOUT_STATE, rollout_id=rollout_id, state=state,
                         action=action)


class RolloutActive(Conflict):
    """A model has at most one running or paused rollout at a time."""

    def __init__(self, model: str, rollout_id: str | None) -> None:
        super().__init__(f"model {model!r} already has an active rollout; halt or finish it first",
                         code=DeviceCode.ROLLOUT_ACTIVE, model=model, rollout_id=rollout_id,
                         field="release_id")


class NotInRollout(Conflict):
    """A device reported on a rollout whose stages never took it in."""

    def __init__(self, rollout_id: str, imei: str) -> None:
        super().__init__(f"device {imei} is not in the stages rollout {rollout_id} has reached",
                         code=DeviceCode.NOT_IN_ROLLOUT, rollout_id=rollout_id, imei=imei,
                         field="rollout_id")


# --------------------------------------------------------------------------- app store


class ApkInvalid(InvalidInput):
    """Not an APK, or a manifest Android would refuse (``attribute`` names the culprit)."""

    def __init__(self, message: str, *, attribute: str | None = None) -> None:
        super().__init__("apk", message, code=DeviceCode.APK_INVALID)
        if attribute:
            self.data["attribute"] = attribute


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
