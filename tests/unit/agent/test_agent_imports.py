"""The phone-side agent ships without the server: importing it loads nothing server-side."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_SIDE = ("yunshang.devices", "yunshang.platform", "yunshang.web", "sqlalchemy", "fastapi")


def test_importing_the_agent_loads_no_server_module() -> None:
    code = ("import json, sys\n"
            "import yunshang.agent, yunshang.agent.cli\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = json.loads(out.stdout)
    assert "yunshang.agent.updater" in loaded
    leaked = [m for m in loaded if any(m == s or m.startswith(f"{s}.") for s in SERVER_SIDE)]
    assert leaked == []
