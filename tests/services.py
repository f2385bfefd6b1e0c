"""Throwaway PostgreSQL and Redis servers started from the installed binaries.

PostgreSQL refuses to run as root, so when the tests run as root (CI does)
the cluster is created and started as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PostgresServer:
    port: int
    datadir: Path
    bindir: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = pg_bin()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL binaries (pg_ctl) not found")
        base = Path(tempfile.mkdtemp(prefix="ys-pg-"))
        datadir = base / "data"
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        port = free_port()
        opts = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c shared_buffers=256MB")
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts,
                                     "-l", str(base / "log"), "-w", "start"]),
                       check=True, capture_output=True)
        return cls(port=port, datadir=datadir, bindir=bindir)

    def crash(self) -> None:
        """Stops the server at once (``-m immediate``: no shutdown checkpoint), data kept."""
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
                                     "immediate", "stop"]), capture_output=True)

    def resume(self) -> None:
        """Starts a crashed server again on the same port and data (it recovers its WAL)."""
        base = self.datadir.parent
        opts = (f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c shared_buffers=256MB")
        subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o",
                                     opts, "-l", str(base / "log"), "-w", "start"]),
                       check=True, capture_output=True)

    def stop(self) -> None:
        self.crash()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, *, appendonly: bool = False, port: int | None = None,
              workdir: Path | None = None) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not found")
        port = port or free_port()
        workdir = workdir or Path(tempfile.mkdtemp(prefix="ys-redis-"))
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(workdir), "--appendonly", "yes" if appendonly else "no"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return cls(port=port, proc=proc, workdir=workdir)
            except OSError:
                time.sleep(0.05)
        proc.kill()
        raise RuntimeError("redis-server did not start")

    def crash(self) -> None:
        """``kill -9`` (no persistence: its data is gone)."""
        self.proc.kill()
        self.proc.wait()

    def resume(self) -> None:
        """A new, empty server on the same port."""
        self.proc = RedisServer.start(port=self.port, workdir=self.workdir).proc

    def stop(self) -> None:
        self.crash()
        shutil.rmtree(self.workdir, ignore_errors=True)
