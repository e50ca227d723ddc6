"""The hub `make run` starts, as a newcomer meets it: log in, get a server, see the demo data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

from tests.realhub import ROOT, VENV_BIN, _tool_path, free_port, stop_process
from tests.waiting import wait_until


def test_make_run_config_logs_in_and_shows_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PATH": _tool_path(), "NBSPACES_DATA_DIR": str(tmp_path / "data"),
           "NBSPACES_BIND_URL": f"http://127.0.0.1:{port}"}
    log = open(tmp_path / "hub.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(VENV_BIN / "jupyterhub"), "-f", str(ROOT / "hub_config" / "jupyterhub_config.py"),
         f"--JupyterHub.hub_port={free_port()}", f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
         f"--NBSpaces.service_port={free_port()}"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Until the hub answers its login page (slow on a busy machine).
        try:
            wait_until(lambda: requests.get(f"{base}/hub/login", timeout=5).status_code == 200,
                       "make run's hub answers", 90, interval=0.3, ignore=(requests.ConnectionError,))
        except AssertionError as e:
            raise AssertionError(f"{e}\n{(tmp_path / 'hub.log').read_text()[-3000:]}") from None
        output = (tmp_path / "hub.log").read_text()
        password_file = tmp_path / "data" / "hub" / "login-password"
        assert f"the password in {password_file}" in output
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        assert password not in output  # the password itself is never printed
        hub_state = tmp_path / "data" / "hub"
        assert hub_state.stat().st_mode & 0o777 == 0o700  # database and secrets: the hub's eyes only
        assert (hub_state / "jupyterhub.sqlite").exists() and (hub_state / "jupyterhub_cookie_secret").exists()
        assert f"open {base} and log in" in output

        s = requests.Session()
        s.get(f"{base}/hub/login", timeout=10)
        form = {"username": "newcomer", "password": "wrong", "_xsrf": s.cookies.get("_xsrf")}
        r = s.post(f"{base}/hub/login", data=form, timeout=10, allow_redirects=False)
        assert r.status_code == 403  # a wrong password does not get in
        form["password"] = password
        r = s.post(f"{base}/hub/login", data=form, timeout=60)
        assert r.status_code == 200
        def lab_opens() -> bool:  # the hub spawns the server after login; the browser opens Lab
            lab = s.get(f"{base}/user/newcomer/lab", timeout=10)
            return lab.status_code == 200 and "JupyterLab" in lab.text

        wait_until(lab_opens, "newcomer's JupyterLab opens after login", 60, interval=0.5)
        listing = s.get(f"{base}/user/newcomer/api/contents/datasets", timeout=10)
        names = {e["name"]: e["writable"] for e in listing.json()["content"]}
        assert names == {"README.md": False, "stations.csv": False, "temperature.csv": False}
        root = {e["name"] for e in s.get(f"{base}/user/newcomer/api/contents/", timeout=10).json()["content"]}
        assert "datasets" in root and "climate-data" not in root  # newcomer is not in the climate community
        assert "isolation: basic" in (tmp_path / "hub.log").read_text()

        # The demo's WebDAV storage: a space everyone gets, which asks for the printed credentials.
        dav_file = hub_state / "webdav-password"
        assert f"'demo-storage' asks for user name 'demo' and the password in {dav_file}" in output
        assert dav_file.stat().st_mode & 0o777 == 0o600
        assert (hub_state / "webdav.htpasswd").stat().st_mode & 0o777 == 0o600
        dav_password = dav_file.read_text().strip()
        assert dav_password not in (tmp_path / "hub.log").read_text()
        api = f"{base}/user/newcomer/nbspaces/api/spaces"
        answer = s.get(api, timeout=30).json()
        assert answer["user_kinds"] == ["webdav"]  # users may add WebDAV spaces of their own
        demo = next(sp for sp in answer["spaces"] if sp["name"] == "demo-storage")
        assert demo["status"] == "needs-credentials" and demo["kind"] == "webdav"
        url = demo["settings"]["url"]
        assert url.startswith("http://127.0.0.1:")
        assert requests.request("PROPFIND", url, headers={"Depth": "0"}, timeout=10).status_code == 401
        assert requests.request("PROPFIND", url, headers={"Depth": "0"}, timeout=10,
                                auth=("demo", dav_password)).status_code == 207
        xsrf = next(c.value for c in s.cookies if c.name == "_xsrf" and c.path.startswith("/user/newcomer"))
        r = s.put(f"{api}/demo-storage/credentials", json={"username": "demo", "password": dav_password},
                  headers={"X-XSRFToken": xsrf}, timeout=60)
        assert r.status_code == 200 and r.json()["status"] == "mounted", r.text
        r = s.put(f"{base}/user/newcomer/api/contents/demo-storage/hello.txt", headers={"X-XSRFToken": xsrf},
                  json={"type": "file", "format": "text", "content": "hello\n"}, timeout=30)
        assert r.status_code == 201, r.text
        assert (tmp_path / "data" / "webdav" / "hello.txt").read_text() == "hello\n"
    finally:
        stop_process(proc, 30)
        log.close()
