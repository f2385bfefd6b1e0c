"""Over-the-air OS updates: releases published through TUF, staged rollouts, check-ins.

Builds on the registry (through its facade) for the devices it updates; the
TUF repository (:mod:`.tuf_repo`) signs every byte a phone installs.
"""

from __future__ import annotations

from yunshang.os_versions import OS_VERSION_PATTERN, is_newer_version, os_version_key

from .domain import (
    Offer,
    OsRelease,
    ReportOutcome,
    Rollout,
    RolloutState,
    UpdateReport,
    rollout_bucket,
)
from .errors import NotInRollout, OsVersionNotNewer, ReleaseExists, RolloutActive, RolloutStateError
from .service import OtaService
from .tuf_import import TufImportError
from .tuf_repo import DEV_ROOT_WARNING, TargetSpec, TufRepository, tenant_role

__all__ = [
    "DEV_ROOT_WARNING",
    "OS_VERSION_PATTERN",
    "NotInRollout",
    "Offer",
    "OsRelease",
    "OsVersionNotNewer",
    "OtaService",
    "ReleaseExists",
    "ReportOutcome",
    "Rollout",
    "RolloutActive",
    "RolloutState",
    "RolloutStateError",
    "TargetSpec",
    "TufImportError",
    "TufRepository",
    "UpdateReport",
    "is_newer_version",
    "os_version_key",
    "rollout_bucket",
    "tenant_role",
]
