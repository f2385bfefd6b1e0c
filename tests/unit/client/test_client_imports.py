"""The client ships without the server: importing it loads nothing server-side."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_SIDE = ("yunshang.kernel", "yunshang.commerce", "yunshang.devices", "yunshang.analytics",
               "yunshang.platform", "yunshang.web", "yunshang.app", "yunshang.launch",
               "sqlalchemy", "fastapi", "starlette", "uvicorn", "duckdb")


def test_importing_the_client_loads_no_server_module() -> None:
    code = ("import json, sys\n"
            "import yunshang.client\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert "yunshang.client.models" in loaded
    assert "httpx" in loaded
    leaked = [m for m in loaded if any(m == s or m.startswith(f"{s}.") for s in SERVER_SIDE)]
    assert leaked == []
