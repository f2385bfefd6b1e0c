"""``yunshang ota …``: the TUF keys, on the server (online) and on the operator's machine (offline).

Server: ``keys export-online``, ``keys rotate-online``, ``root import``.
Operator's machine (no server, no database): ``keys init``, ``keys rotate-root``.
Offline keys are encrypted with a passphrase, read from
``YUNSHANG_OTA_KEY_PASSPHRASE`` or asked for. Procedure: ``docs/security.md`` (OTA trust).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

ota_app = typer.Typer(help="OTA trust: TUF root, offline and online keys.", no_args_is_help=True)
keys_app = typer.Typer(help="TUF signing keys.", no_args_is_help=True)
root_app = typer.Typer(help="TUF root metadata on the server.", no_args_is_help=True)
ota_app.add_typer(keys_app, name="keys")
ota_app.add_typer(root_app, name="root")
console = Console()

if TYPE_CHECKING:
    from .tuf_keys import OnlineKeys
    from .tuf_repo import TufRepository

PASSPHRASE_ENV = "YUNSHANG_OTA_KEY_PASSPHRASE"  # noqa: S105 (a variable name)


def _passphrase(*, confirm: bool) -> bytes:
    value = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
        "Passphrase of the offline keys", hide_input=True, confirmation_prompt=confirm)
    return str(value).encode()


def _repository() -> TufRepository:
    from yunshang.kernel.clock import SystemClock
    from yunshang.kernel.settings import Settings

    from .tuf_repo import TufRepository

    return TufRepository(Settings().var_dir / "tuf", SystemClock())


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _read_online(path: Path) -> OnlineKeys:
    from .tuf_keys import read_public_keys

    return read_public_keys(path.read_bytes())


@keys_app.command("export-online")
def export_online(
    out: Annotated[Path, typer.Option(help="Where to write the online public keys (JSON).")],
) -> None:
    """Server: write the online public keys and current versions for the offline machine."""
    from .tuf_keys import public_keys_document

    exported = _repository().export_online()
    out.write_bytes(public_keys_document(exported))
    console.print(f"wrote {out} (root v{exported.root_version}, targets "
                  f"v{exported.targets_version}); carry it to the offline machine")


@keys_app.command("init")
def keys_init(
    out: Annotated[Path, typer.Option(help="A new directory for the offline keys and metadata.")],
    online: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                         help="The server's export-online file.")],
) -> None:
    """Offline: make the root and targets keys (encrypted) and the signed root and targets."""
    from .tuf_offline import init_offline

    _write_offline(lambda: init_offline(out, _read_online(online), _passphrase(confirm=True),
                                        _now()))


@keys_app.command("rotate-root")
def keys_rotate_root(
    home: Annotated[Path, typer.Option("--dir", exists=True, file_okay=False,
                                       help="The directory keys init made.")],
    online: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False,
        help="The server's export-online file, when online keys are being rotated.")] = None,
    rotate_targets_key: Annotated[bool, typer.Option(
        help="Replace the offline targets key too.")] = False,
) -> None:
    """Offline: root N+1 with a new root key, signed by the old and new keys; new targets."""
    from .tuf_offline import rotate_root

    _write_offline(lambda: rotate_root(home, _passphrase(confirm=False), _now(),
                                       online=_read_online(online).keys if online else None,
                                       rotate_targets_key=rotate_targets_key))


def _write_offline(make: Callable[[], list[Path]]) -> None:
    """Runs an offline step that writes metadata for the server, and says what it wrote."""
    from .tuf_keys import KeyFileError

    try:
        written = make()
    except KeyFileError as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from None
    console.print("wrote " + ", ".join(str(p) for p in written)
                  + "; import them on the server: yunshang ota root import")


@keys_app.command("rotate-online")
def keys_rotate_online(
    role: Annotated[str, typer.Option(help="snapshot, timestamp, tenants or tenant-roles.")],
) -> None:
    """Server: replace an online key (some need the offline root's signature; see docs)."""
    from .tuf_keys import ONLINE_ROLES

    if role not in ONLINE_ROLES:
        console.print(f"[red]refused:[/] --role is one of {', '.join(ONLINE_ROLES)}")
        raise typer.Exit(2)
    outcome = _repository().rotate_online_key(role)
    if outcome == "rotated":
        console.print(f"[green]rotated the {role} key[/]")
    else:
        console.print(f"[yellow]new {role} key waiting[/]: yunshang ota keys export-online, "
                      "then keys rotate-root --online on the offline machine, then "
                      "yunshang ota root import here")


@root_app.command("import")
def root_import(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False,
                                                help="N.root.json and/or M.targets.json.")],
) -> None:
    """Server: adopt offline-signed root and top-level targets metadata."""
    from .tuf_import import TufImportError

    try:
        done = _repository().import_metadata([f.read_bytes() for f in files])
    except TufImportError as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from None
    console.print("[green]imported[/] " + ", ".join(done))
