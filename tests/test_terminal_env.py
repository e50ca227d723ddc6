"""A JupyterLab terminal and the launcher see the server's environment and what a user installs
in their home: real terminals (REST + websocket) and kernelspec listings of spawned servers."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from tests.realhub import Hub, start_hub, world_dir


@pytest.fixture(scope="module", params=["basic", "strong"])
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    isolation = request.param
    if isolation == "strong" and os.geteuid() != 0:
        pytest.skip("strong isolation needs root")
    for base in world_dir(f"nbspaces-terminal-{isolation}"):
        datasets = base / "datasets"
        datasets.mkdir()
        hub = start_hub(base / "hub", f"""
            c.LocalSpaceSpawner.isolation = "{isolation}"
            c.NBSpaces.shared = {{"datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}}}}
            c.NBSpaces.cull_timeout = 0
        """)
        os.chmod(base / "hub", 0o711)
        hub.ensure_user("tess")
        try:
            yield hub
        finally:
            hub.api("DELETE", "/users/tess/server")
            hub.wait_stopped("tess")
            hub.stop()


def in_terminal(hub: Hub, user: str, command: str, timeout: float = 120) -> str:
    """Type ``command`` in a new JupyterLab terminal of ``user``; return what the terminal shows."""
    r = hub.server(user, "POST", "api/terminals")
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    marker = secrets.token_hex(4)
    ws = websocket.create_connection(f"ws://127.0.0.1:{hub.port}/user/{user}/terminals/websocket/{name}",
                                     header=[f"Authorization: token {hub.user_token(user)}"], timeout=timeout)
    shown = ""
    try:
        # The marker is printed split in two, so the echo of the typed line never matches it.
        ws.send(json.dumps(["stdin", f"{command}; echo '{marker[:4]}''{marker[4:]}'-done\r"]))
        deadline = time.monotonic() + timeout
        while f"{marker}-done" not in shown:
            assert time.monotonic() < deadline, shown
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                shown += message[1]
    finally:
        ws.close()
        hub.server(user, "DELETE", f"api/terminals/{name}")
    return shown


def test_terminal_runs_the_servers_environment(hub: Hub) -> None:
    hub.spawn("tess")
    env_bin = str(Path(hub.server_env("tess")["PATH"].split(":")[0]))
    shown = in_terminal(hub, "tess", "nbspaces list; command -v python3 pip jupyter")
    assert "command not found" not in shown
    assert "datasets" in shown  # nbspaces list answered
    for tool in ("python3", "pip", "jupyter"):
        assert f"{env_bin}/{tool}" in shown


def test_a_kernel_registered_in_the_home_is_in_the_launcher(hub: Hub) -> None:
    hub.spawn("tess")
    shown = in_terminal(hub, "tess", "python3 -m ipykernel install --user --name mine --display-name 'Mine' 2>&1"
                                     " && ls ~/.local/share/jupyter/kernels/mine")
    assert "Installed kernelspec mine" in shown and "kernel.json" in shown, shown
    hub.stop_server("tess")
    hub.spawn("tess")
    specs = hub.server("tess", "GET", "api/kernelspecs").json()["kernelspecs"]
    assert specs["mine"]["spec"]["display_name"] == "Mine"
