"""The port through which commerce asks whether phones may ship: the device registry's.

Commerce does not know the registry's tables; the composition root
(``yunshang.platform``) wires this port to the devices context's facade. The
check runs on commerce's open connection, so it and the shipment are one
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection


class UnitRegistry(Protocol):
    """Where a merchant's phones are registered, by IMEI."""

    def check_shippable(self, conn: Connection, tenant: str, model: str,
                        imeis: Sequence[str]) -> dict[int, str]:
        """Why each refused IMEI (by its index in ``imeis``) cannot ship as a unit of
        ``model`` for ``tenant``: not its registered phone, another model, or already
        sold. Empty when every one may ship."""
        ...
