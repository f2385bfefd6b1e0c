"""What the contexts' Typer sub-apps share: the operator's principal and a platform
session that prints a refusal instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from yunshang.kernel.auth import PLATFORM_TENANT, Principal, Role
from yunshang.kernel.errors import DomainError

if TYPE_CHECKING:
    from yunshang.kernel.clock import Clock
    from yunshang.platform import Platform


def operator(tenant: str | None) -> Principal:
    """The shell's rights: an admin of ``tenant``, or of the platform (every tenant)."""
    return Principal(key_id="cli", role=Role.ADMIN, tenant=tenant or PLATFORM_TENANT)


@contextmanager
def platform_session(console: Console, clock: Clock | None = None) -> Iterator[Platform]:
    """A migrated platform on the settings in force (and ``clock``: a simulated one for
    the commands that simulate); a refusal is printed (naming its field) and exits 1."""
    from yunshang.kernel.settings import Settings
    from yunshang.platform import Platform

    platform = Platform(Settings(), clock)
    platform.migrate()
    try:
        yield platform
    except DomainError as exc:
        field = exc.data.get("field")
        console.print(f"[red]refused:[/] {exc.message}" + (f" ({field})" if field else ""))
        raise typer.Exit(1) from None
    finally:
        platform.db.dispose()
