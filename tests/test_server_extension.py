"""The single-user server extension on its own (no hub)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_a_plan_the_server_cannot_read_stops_it(tmp_path: Path) -> None:
    """Starting without the plan would drop the quota and read-only guards: the server refuses."""
    plan = {"version": 99, "user": "x", "isolation": "basic", "spaces": []}
    env = {**os.environ, "NBSPACES_PLAN": json.dumps(plan)}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_server", f"--ServerApp.root_dir={tmp_path}", "--ServerApp.port=0",
         "--ServerApp.allow_root=True", "--ServerApp.open_browser=False"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "nbspaces: cannot read this server's plan" in result.stderr
    assert "different nbspaces versions" in result.stderr
