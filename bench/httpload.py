"""HTTP load for the benches: wrk runs against a served process, the Lua scripts that
make every request distinct, and the server's CPU per request."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")

def _wrk_orders(extra_init: str, body: str) -> str:
    """A wrk script that POSTs with a new buyer and Idempotency-Key per request (prefix,
    wrk thread, counter), so none is a replay; ``body`` is a Lua expression of ``buyer``."""
    return r"""
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  token = args[1]
  prefix = args[2]
""" + extra_init + r"""end
function request()
  counter = counter + 1
  local buyer = prefix .. tid .. "-" .. counter
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = buyer,
  }, """ + body + r""")
end
"""


#: Flash orders: ``wrk ... -- <channel token> <buyer prefix>``: one unit each.
WRK_FLASH_ORDERS = _wrk_orders("", """'{"buyer_id":"' .. buyer .. '","quantity":1}'""")

#: Everyday checkouts: ``wrk ... -- <bound channel token> <buyer prefix> <sku> <sku>``: two
#: lines of one unit each.
WRK_CHECKOUTS = _wrk_orders(
    """  lines = '[{"sku_id":"' .. args[3] .. '","quantity":1},{"sku_id":"' .. args[4]
    .. '","quantity":1}]'
""", """'{"buyer_id":"' .. buyer .. '","lines":' .. lines .. '}'""")

#: Check-ins: ``wrk ... -- <phones file>``, one "imei device-token" a line; each
#: connection rotates through the phones from a random start.
WRK_CHECK_IN = r"""
local phones = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local imei, token = line:match("(%S+) (%S+)")
    phones[#phones + 1] = {imei, token}
  end
  i = math.random(#phones)
end
function request()
  i = i % #phones + 1
  local p = phones[i]
  return wrk.format("POST", "/v1/devices/" .. p[1] .. "/check-in", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. p[2],
  }, '{"current_version":"1.0.0"}')
end
"""


@dataclass
class HttpRun:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: str
    server_cpu_us: float = float("nan")  # server process CPU per request


def latency_ms(value: str) -> float:
    """wrk's ``812.00us`` / ``8.70ms`` / ``1.02s`` in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def wrk_run(name: str, url: str, *, connections: int, duration_s: float,
            script: Path | None = None, args: list[str] | None = None) -> HttpRun:
    """One ``wrk`` run (2 threads), parsed."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
           "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30,
                         check=False).stdout
    reqs = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if not (reqs and rps and p50 and p99):
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    return HttpRun(name, int(reqs.group(1)), float(rps.group(1)), latency_ms(p50.group(1)),
                   latency_ms(p99.group(1)), int(non2xx.group(1)) if non2xx else 0,
                   errors.group(1) if errors else "")


def median_run(runs: list[HttpRun]) -> HttpRun:
    """The round with the median req/s (the lower middle of an even count)."""
    return sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]


def proc_cpu_s(pid: int, *, children: bool = False) -> float:
    """CPU seconds (user + system) of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # waited-for children
    return ticks / _TICK
