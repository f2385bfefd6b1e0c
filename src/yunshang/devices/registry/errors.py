"""Registry refusals: activation lock, ownership, manufacturing batches."""

from __future__ import annotations

from yunshang.kernel.errors import Conflict, Forbidden, InvalidInput

from ..errors import DeviceCode


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

    def __init__(self, errors: list[dict[str, object]], *, total: int | None = None) -> None:
        first = errors[0]
        total = len(errors) if total is None else total
        super().__init__(
            str(first.get("field", "rows")),
            f"{total} problem(s) found; nothing imported (first: line {first['line']}: "
            f"{first['message']})",
            code=DeviceCode.IMPORT_REJECTED,
        )
        self.data["line"] = first["line"]
        self.data["errors"] = errors
        self.data["error_count"] = total
