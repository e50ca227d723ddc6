"""A real JupyterHub (with configurable-http-proxy) started on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.waiting import Timeout, wait_until

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Terminate ``proc`` and wait for it; kill it if it is still running after ``timeout`` s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_http(url: str, proc: subprocess.Popen[Any], log_path: Path, timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200. Raise RuntimeError with the tail of ``log_path`` if
    ``proc`` exits first or ``timeout`` s pass (``proc`` is left to the caller to stop)."""
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{Path(str(proc.args[0])).name} exited with {proc.returncode}:\n"
                               f"{log_path.read_text(errors='replace')[-4000:]}")
        return requests.get(url, timeout=5).status_code == 200

    try:
        wait_until(answers, f"{url} answers", timeout, interval=0.3, ignore=(requests.ConnectionError,))
    except Timeout:
        raise RuntimeError(f"{url} did not answer in {timeout} s:\n{log_path.read_text(errors='replace')[-4000:]}") \
            from None


def _tool_path() -> str:
    return os.pathsep.join([str(VENV_BIN), str(ROOT / "node_modules" / ".bin"), os.environ.get("PATH", "")])


def write_config(path: Path, data_dir: Path, port: int, token: str, settings: str) -> None:
    """A hub config: the test's nbspaces settings, then configure_hub(c) as a site would write it."""
    path.write_text(
        textwrap.dedent(
            f"""
            from nbspaces.spawner import LocalSpaceSpawner, configure_hub
            c = get_config()
            c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {free_port()}
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
            c.JupyterHub.db_url = "sqlite:///{data_dir}/jupyterhub.sqlite"
            c.JupyterHub.cookie_secret_file = "{data_dir}/cookie_secret"
            c.JupyterHub.pid_file = "{data_dir}/jupyterhub.pid"
            c.ConfigurableHTTPProxy.pid_file = "{data_dir}/proxy.pid"
            c.JupyterHub.authenticator_class = "dummy"
            c.Authenticator.allow_all = True
            c.JupyterHub.services = [{{"name": "test-admin", "api_token": {token!r}}}]
            c.JupyterHub.load_roles = [{{
                "name": "test-admin",
                "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens", "access:servers"],
                "services": ["test-admin"],
            }}]
            c.JupyterHub.spawner_class = LocalSpaceSpawner
            c.LocalSpaceSpawner.data_dir = "{data_dir}"
            c.NBSpaces.service_port = {free_port()}
            c.Spawner.start_timeout = 60
            c.Spawner.http_timeout = 60
            """
        )
        + textwrap.dedent(settings)
        + "\nconfigure_hub(c)\n"
    )


@dataclass
class Hub:
    data_dir: Path
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    user_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {token or self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ensure_user(self, name: str, groups: list[str] | None = None) -> None:
        r = self.api("GET", f"/users/{name}")
        if r.status_code == 404:
            self.api("POST", f"/users/{name}").raise_for_status()
        for group in groups or []:
            if self.api("GET", f"/groups/{group}").status_code == 404:
                self.api("POST", f"/groups/{group}").raise_for_status()
            self.api("POST", f"/groups/{group}/users", json={"users": [name]}).raise_for_status()

    def user_token(self, name: str) -> str:
        """A token of the user's own (it inherits the user's permissions)."""
        if name not in self.user_tokens:
            r = self.api("POST", f"/users/{name}/tokens", json={"note": "test"})
            r.raise_for_status()
            self.user_tokens[name] = r.json()["token"]
        return self.user_tokens[name]

    def spawn(self, name: str, timeout: float = 90) -> None:
        """Start the server of ``name`` unless it is running or starting, and wait until it is ready."""
        if not self.api("GET", f"/users/{name}").json().get("servers", {}).get(""):
            r = self.api("POST", f"/users/{name}/server")
            # JupyterHub answers 201 when the server started within slow_spawn_timeout, else 202.
            if r.status_code not in (201, 202):
                raise AssertionError(f"spawn of {name} failed: {r.status_code} {r.text}")
        asked = time.monotonic()

        def ready() -> bool:
            server = self.api("GET", f"/users/{name}").json().get("servers", {}).get("")
            if not server and time.monotonic() > asked + 5:
                raise AssertionError(f"server of {name} died while starting:\n{self.log()[-4000:]}")
            return bool(server and server.get("ready"))

        try:
            wait_until(ready, f"the server of {name} is ready", timeout, interval=0.3)
        except Timeout:
            raise AssertionError(f"server of {name} not ready in {timeout} s:\n{self.log()[-4000:]}") from None

    def stop_server(self, name: str, timeout: float = 60) -> None:
        self.api("DELETE", f"/users/{name}/server")
        self.wait_stopped(name, timeout)

    def wait_stopped(self, name: str, timeout: float = 60) -> None:
        wait_until(lambda: not self.api("GET", f"/users/{name}").json().get("servers"),
                   f"the server of {name} stops", timeout, interval=0.5)

    def server(self, name: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to the user's own server, through the proxy, with the user's token."""
        headers = {"Authorization": f"token {self.user_token(name)}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/user/{name}/{path.lstrip('/')}",
                                headers=headers, timeout=60, **kwargs)

    def contents(self, name: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.server(name, method, f"api/contents/{path}", **kwargs)

    def put_text(self, name: str, path: str, text: str) -> requests.Response:
        return self.contents(name, "PUT", path, json={"type": "file", "format": "text", "content": text})

    def server_pid(self, user: str) -> int:
        """The process of this hub's server of ``user`` (its root_dir is under this hub's data_dir:
        other hubs running on the machine may have a user of the same name)."""
        home = f"--ServerApp.root_dir={self.data_dir}/homes/"
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.startswith(home) for a in cmdline) and f"JUPYTERHUB_USER={user}".encode() in environ:
                return int(pid)
        raise AssertionError(f"no server process of {user} for this hub")

    def server_env(self, user: str) -> dict[str, str]:
        """The environment the server of ``user`` was started with, read from /proc."""
        raw = Path(f"/proc/{self.server_pid(user)}/environ").read_bytes().decode(errors="replace")
        return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)

    def stop(self) -> None:
        stop_process(self.proc, 30)


def start_hub(data_dir: Path, settings: str, timeout: float = 60) -> Hub:
    """Start a hub with ``settings`` (Python config lines) and wait for its API."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(24)
    config = data_dir / "jupyterhub_config.py"
    write_config(config, data_dir, port, token, settings)
    log_path = data_dir / "hub.log"
    env = {**os.environ, "PATH": _tool_path()}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(config)],
            cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    hub = Hub(data_dir=data_dir, port=port, token=token, proc=proc, log_path=log_path)
    try:
        wait_http(f"{hub.url}/hub/api", proc, log_path, timeout)
    except RuntimeError:
        hub.stop()
        raise
    return hub


def run_hub_until_exit(data_dir: Path, settings: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Start a hub expected to refuse its config; return how it exited."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "jupyterhub_config.py"
    write_config(config, data_dir, free_port(), secrets.token_hex(8), settings)
    env = {**os.environ, "PATH": _tool_path()}
    try:
        return subprocess.run([str(VENV_BIN / "jupyterhub"), "-f", str(config)], cwd=data_dir,
                              capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        for pidfile in ("jupyterhub.pid", "proxy.pid"):
            p = data_dir / pidfile
            if p.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    os.kill(int(p.read_text().strip()), 15)


def world_dir(prefix: str) -> Iterator[Path]:
    """A scratch folder other uids can traverse (pytest's tmp_path is private to root)."""
    base = Path("/var/tmp") / f"{prefix}-{secrets.token_hex(4)}"
    base.mkdir(mode=0o711)
    os.chmod(base, 0o711)
    try:
        yield base
    finally:
        subprocess.run(["umount", "-R", "-l", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def plan_of(hub: Hub, name: str, timeout: float = 30) -> dict[str, Any]:
    """The spaces API's answer, once no space is still mounting (the server just started)."""
    def answer() -> dict[str, Any]:
        r = hub.server(name, "GET", "nbspaces/api/spaces")
        r.raise_for_status()
        return json.loads(r.text)  # type: ignore[no-any-return]

    def settled() -> dict[str, Any] | None:
        found = answer()
        return found if all(s["status"] != "mounting" for s in found["spaces"]) else None

    try:
        return wait_until(settled, f"{name}'s spaces are connected", timeout)
    except Timeout:
        return answer()  # still mounting: the caller's assertions say what is wrong
