"""APK inspection in a child process: whatever an upload does to the parsers, the server stays.

:func:`~.apk.inspect_apk` bounds what it inflates itself; this runs it (androguard
and the apksigner JVM it starts) in a child with a memory limit and a timeout
(:mod:`yunshang.kernel.sandbox`), so that even an unknown parser bug cannot
grow the server. The child answers one JSON line on stdout: the :class:`ApkInfo`,
or the refusal it raised; a child stopped by its limits is refused as
``apk_invalid`` with a ``reason``.

Run as ``python -m yunshang.devices.appstore.sandbox APK SIGNER SIGNER_TIMEOUT_S``
(by :class:`ApkSandbox`, never by hand).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from yunshang.kernel.errors import DomainError
from yunshang.kernel.sandbox import run_limited

from .apk import SANDBOX_JVM_OPTIONS, ApkSigner, inspect_apk
from .domain import ApkInfo
from .errors import ApkBadSignature, ApkInvalid, ApkUnsigned, ApkVerifierUnavailable

#: The refusals the child may answer with, rebuilt in the parent from their data.
_REFUSALS = ("ApkInvalid", "ApkUnsigned", "ApkBadSignature", "ApkVerifierUnavailable")


class ApkSandbox:
    """Inspects APKs in limited child processes, a few at a time."""

    def __init__(self, *, memory_limit_bytes: int = 1024 * 1024 * 1024,
                 timeout_s: float = 180.0, concurrency: int = 4) -> None:
        self.memory_limit_bytes = memory_limit_bytes
        self.timeout_s = timeout_s
        # each child may start a JVM of a few hundred megabytes: bound how many run at once
        self._slots = threading.BoundedSemaphore(concurrency)

    def inspect(self, path: Path, signer: ApkSigner) -> ApkInfo:
        """:func:`inspect_apk` in a child; raises its refusals, or ApkInvalid with a reason."""
        signer.executable()  # no verifier, no inspection: 503 before starting anything
        with self._slots:
            outcome = run_limited(__name__, [str(path), signer.command, repr(signer.timeout_s)],
                                  memory_bytes=self.memory_limit_bytes,
                                  timeout_s=self.timeout_s)
        if outcome.timed_out:
            raise ApkInvalid(f"inspecting the APK took longer than {self.timeout_s:g} s; it was "
                             "stopped", reason="timeout")
        answer = _last_json_line(outcome.stdout)
        if answer is not None and "info" in answer:
            return _info(answer["info"])
        if answer is not None and answer.get("refusal") in _REFUSALS:
            raise _refusal(answer)
        if outcome.out_of_memory:
            raise ApkInvalid(f"inspecting the APK needed more than its "
                             f"{self.memory_limit_bytes // (1024 * 1024)} MiB memory limit; it "
                             "was stopped", reason="memory_limit")
        raise ApkInvalid(f"the APK could not be inspected (the inspector exited with status "
                         f"{outcome.returncode})", reason="crashed")


def _last_json_line(stdout: bytes) -> dict[str, Any] | None:
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    try:
        answer = orjson.loads(lines[-1])
    except orjson.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


def _info(fields: dict[str, Any]) -> ApkInfo:
    tuples = ("permissions", "certificates", "schemes")
    values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in fields.items()}
    return ApkInfo(**values)


def _refusal(answer: dict[str, Any]) -> DomainError:
    kind, message, data = answer["refusal"], str(answer["message"]), answer.get("data") or {}
    if kind == "ApkUnsigned":
        return ApkUnsigned(message, reasons=list(data.get("reasons") or []))
    if kind == "ApkBadSignature":
        return ApkBadSignature(message, reasons=list(data.get("reasons") or []))
    if kind == "ApkVerifierUnavailable":
        return ApkVerifierUnavailable(message)
    return ApkInvalid(message, attribute=data.get("attribute"), entry=data.get("entry"),
                      reason=data.get("reason"))


def _main(argv: list[str]) -> int:
    path, command, signer_timeout = Path(argv[0]), argv[1], float(argv[2])
    try:
        info = inspect_apk(path, signer=ApkSigner(command, timeout_s=signer_timeout,
                                                  concurrency=1,
                                                  jvm_options=SANDBOX_JVM_OPTIONS))
    except (ApkInvalid, ApkUnsigned, ApkBadSignature, ApkVerifierUnavailable) as exc:
        answer: dict[str, Any] = {"refusal": type(exc).__name__, "message": exc.message,
                                  "data": exc.data}
    except MemoryError:
        sys.stderr.write("MemoryError: the inspection hit its memory limit\n")
        return 3
    else:
        answer = {"info": dataclasses.asdict(info)}
    sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
