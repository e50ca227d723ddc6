"""A JupyterLab terminal and the launcher see the server's environment and what a user installs
in their home: real terminals (REST + websocket) and kernelspec listings of spawned servers."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from tests.realhub import Hub, start_hub, world_dir
from tests.test_hub_strong import user_environment
from tests.waiting import wait_until


def tess_hub(prefix: str, settings: str, folders: tuple[str, ...] = ()) -> Iterator[Hub]:
    """A hub with ``settings`` and the user tess; ``{base}`` in them is a scratch folder every uid can
    traverse, in which ``folders`` are made first."""
    for base in world_dir(prefix):
        for folder in folders:
            (base / folder).mkdir()
        hub = start_hub(base / "hub", settings.replace("{base}", str(base)))
        os.chmod(base / "hub", 0o711)
        hub.ensure_user("tess")
        try:
            yield hub
        finally:
            hub.api("DELETE", "/users/tess/server")
            hub.wait_stopped("tess")
            hub.stop()


@pytest.fixture(scope="module", params=["basic", "strong"])
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    isolation = request.param
    if isolation == "strong" and os.geteuid() != 0:
        pytest.skip("strong isolation needs root")
    # A server environment every account can read, as a site's is (this checkout may not be).
    env = user_environment("nbspaces-userenv")
    yield from tess_hub(f"nbspaces-terminal-{isolation}", f"""
        c.LocalSpaceSpawner.isolation = "{isolation}"
        c.LocalSpaceSpawner.cmd = ["{env}/bin/jupyterhub-singleuser"]
        c.NBSpaces.shared = {{"datasets": {{"source": "{{base}}/datasets", "groups": {{"*": "ro"}}}}}}
        c.NBSpaces.cull_timeout = 0
    """, folders=("datasets",))


@pytest.fixture(scope="module")
def site_env_hub() -> Iterator[Hub]:
    """A hub whose servers run from a user environment made with --system-site-packages, as
    docs/isolation.md tells sites to make it (the one that lets `pip install --user` work)."""
    env = user_environment("nbspaces-siteenv", system_site_packages=True)
    yield from tess_hub("nbspaces-siteenv", f"""
        c.LocalSpaceSpawner.isolation = "{"strong" if os.geteuid() == 0 else "basic"}"
        c.LocalSpaceSpawner.cmd = ["{env}/bin/jupyterhub-singleuser"]
        c.NBSpaces.cull_timeout = 0
    """)


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
        def done() -> bool:
            nonlocal shown
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                shown += message[1]
            return f"{marker}-done" in shown

        wait_until(done, f"'{command}' runs in the terminal", timeout, interval=0)
    finally:
        ws.close()
        hub.server(user, "DELETE", f"api/terminals/{name}")
    return shown


def tiny_wheel() -> bytes:
    """A wheel of one module, made here: pip installs it with no index and no build."""
    out = io.BytesIO()
    dist = "nbs_tiny-0.1.dist-info"
    files = {"nbs_tiny.py": "WHERE = __file__\n",
             f"{dist}/METADATA": "Metadata-Version: 2.1\nName: nbs-tiny\nVersion: 0.1\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(out, "w") as z:
        for name, text in {**files, f"{dist}/RECORD": record}.items():
            z.writestr(name, text)
    return out.getvalue()


def test_terminal_runs_the_servers_environment(hub: Hub) -> None:
    hub.spawn("tess")
    env_bin = str(Path(hub.server_env("tess")["PATH"].split(":")[0]))
    shown = in_terminal(hub, "tess", "nbspaces list; command -v python3 pip jupyter")
    assert "command not found" not in shown
    assert "datasets" in shown  # nbspaces list answered
    for tool in ("python3", "pip", "jupyter"):
        assert f"{env_bin}/{tool}" in shown


def test_pip_install_user_goes_to_the_home_and_stays(site_env_hub: Hub) -> None:
    """In a server environment made as docs/isolation.md says (venv --system-site-packages)."""
    hub = site_env_hub
    hub.spawn("tess")
    wheel = base64.b64encode(tiny_wheel()).decode()
    r = hub.contents("tess", "PUT", "nbs_tiny-0.1-py3-none-any.whl",
                     json={"type": "file", "format": "base64", "content": wheel})
    assert r.status_code == 201, r.text
    shown = in_terminal(hub, "tess", "pip install -q --user --no-index ./nbs_tiny-0.1-py3-none-any.whl 2>&1")
    assert "externally" not in shown and "Can not perform" not in shown, shown
    hub.stop_server("tess")
    hub.spawn("tess")
    shown = in_terminal(hub, "tess", "python3 -c 'import nbs_tiny; print(nbs_tiny.WHERE)'")
    assert f"{hub.data_dir}/homes/tess/.local/lib/python3" in shown, shown


def test_a_kernel_registered_in_the_home_is_in_the_launcher(hub: Hub) -> None:
    hub.spawn("tess")
    shown = in_terminal(hub, "tess", "python3 -m ipykernel install --user --name mine --display-name 'Mine' 2>&1"
                                     " && ls ~/.local/share/jupyter/kernels/mine")
    assert "Installed kernelspec mine" in shown and "kernel.json" in shown, shown
    hub.stop_server("tess")
    hub.spawn("tess")
    specs = hub.server("tess", "GET", "api/kernelspecs").json()["kernelspecs"]
    assert specs["mine"]["spec"]["display_name"] == "Mine"
