"""The device cloud's stable error codes: one enum for the whole context.

The error classes live with the sub-package that raises them
(``registry.errors``, ``ota.errors``, ``appstore.errors``); they share these
codes so that a client sees one vocabulary for the device cloud.
"""

from __future__ import annotations

from enum import StrEnum


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
