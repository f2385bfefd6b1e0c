"""OTA refusals: releases, rollouts and device reports."""

from __future__ import annotations

from yunshang.kernel.errors import Conflict, InvalidInput

from ..errors import DeviceCode


class ReleaseExists(Conflict):
    """The model already has this version, or a racing upload took its place."""

    def __init__(self, message: str, **data: object) -> None:
        super().__init__(message, code=DeviceCode.VERSION_EXISTS, field="version", **data)


class OsVersionNotNewer(InvalidInput):
    def __init__(self, version: str, latest: str) -> None:
        super().__init__("version", f"{version} is not newer than the latest release {latest}",
                         code=DeviceCode.OS_VERSION_NOT_NEWER)


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
