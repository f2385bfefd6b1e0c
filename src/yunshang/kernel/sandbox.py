"""Running a parser of hostile input in a child process with a memory limit and a timeout.

Whatever a parser does with a crafted file (a ZIP bomb, a quadratic loop, an
unknown bug), it does it in a child whose address space is capped with
``RLIMIT_AS`` and which is killed, with everything it started, when its time
is up: the server's own memory never grows with the input. The child is a
fresh interpreter (``python -c``), never a fork of the multi-threaded server;
the limit is set before the child imports anything of ours, and children it
starts (e.g. a JVM) inherit it.

The child answers on stdout; what the answer means is the caller's business.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Sets the limit, then runs the module as ``__main__`` with the remaining arguments.
_BOOTSTRAP = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "module = sys.argv[2]\n"
    "sys.argv = [module, *sys.argv[3:]]\n"
    "runpy.run_module(module, run_name='__main__', alter_sys=True)\n"
)

#: How running out of address space shows on stderr: Python, the dynamic loader, C++.
_OUT_OF_MEMORY = (b"MemoryError", b"Cannot allocate memory", b"failed to map segment",
                  b"std::bad_alloc")


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """How a limited child ended: its status and output, or that it ran out of time."""

    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool

    @property
    def out_of_memory(self) -> bool:
        """The child died of its memory limit (a MemoryError, or killed by the allocator)."""
        return not self.timed_out and self.returncode != 0 and (
            any(sign in self.stderr for sign in _OUT_OF_MEMORY)
            or self.returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT))


def run_limited(module: str, args: list[str], *, memory_bytes: int,
                timeout_s: float) -> ChildOutcome:
    """Runs ``python -m module args…`` with ``RLIMIT_AS = memory_bytes``, ``timeout_s`` at most."""
    argv = [sys.executable, "-c", _BOOTSTRAP, str(memory_bytes), module, *args]
    # A session of its own, so that a timeout kills the child with whatever it started.
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_child_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may just have ended
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return ChildOutcome(proc.returncode, out, err, timed_out=True)
    return ChildOutcome(proc.returncode, out, err, timed_out=False)


def _child_env() -> dict[str, str]:
    """Ours, with this very package first on the path (editable install or not), few arenas."""
    env = dict(os.environ)
    # glibc reserves a 64 MiB arena per thread by default, and RLIMIT_AS counts reservations:
    # a few threads (the child's, or a JVM's) would eat the limit without using any memory
    env["MALLOC_ARENA_MAX"] = "2"
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env
