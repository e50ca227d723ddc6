"""Real WebDAV servers on 127.0.0.1 for tests and benchmarks: wsgidav and rclone serve webdav.

Passwords reach them through files (a 0600 YAML config, an htpasswd file), never argv.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.realhub import free_port, stop_process
from tests.waiting import Timeout, wait_until

VENV_BIN = Path(sys.executable).parent


@dataclass
class DavServer:
    name: str
    root: Path
    port: int
    user: str
    password: str
    proc: subprocess.Popen[bytes] | None
    argv: list[str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dav"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root.parent)
        def answers() -> bool:
            r = requests.request("PROPFIND", self.url + "/", auth=(self.user.encode(), self.password.encode()),
                                 headers={"Depth": "0"}, timeout=2)
            return r.status_code == 207

        try:
            wait_until(answers, f"{self.name} answers", 30, ignore=(requests.ConnectionError,))
        except Timeout:
            raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()[-2000:]}") from None

    def logged_requests(self) -> list[tuple[str, str]]:
        """(method, path in the share) of every request so far, for a wsgidav started with log_requests."""
        return re.findall(r'"([A-Z]+) (/[^"]*)" ', self.log_path.read_text(errors="replace"))

    def has_open(self, path: Path) -> bool:
        """Whether the server process has this file open now."""
        assert self.proc is not None
        fds = Path(f"/proc/{self.proc.pid}/fd")
        targets = []
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):  # closed while we look
                targets.append(os.readlink(fd))
        return str(path) in targets

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 10)
        self.proc = None


def wsgidav(base: Path, log_requests: bool = False, socket_timeout: float = 10, user: str = "alice",
            password: str | None = None) -> DavServer:
    """wsgidav on a folder; ``log_requests`` writes one line per request to its log (logged_requests).
    ``user`` and ``password`` (a random one by default) may hold any Unicode (UTF-8 Basic auth).

    ``socket_timeout``: how long cheroot waits on a client that neither reads nor writes before it
    drops the connection (its default is 10 s).
    """
    root, port, password = base / "wsgidav-data", free_port(), password or secrets.token_urlsafe(12)
    root.mkdir(parents=True, exist_ok=True)
    config = base / "wsgidav.yaml"
    config.write_text(
        f"host: 127.0.0.1\nport: {port}\nserver: cheroot\nverbose: {3 if log_requests else 1}\n"
        f"provider_mapping:\n  /dav: {root}\n"
        "http_authenticator:\n  domain_controller: null\n  accept_basic: true\n  accept_digest: false\n"
        "  default_to_digest: false\n"
        f"simple_dc:\n  user_mapping:\n    '*':\n      {json.dumps(user, ensure_ascii=False)}:\n"
        f"        password: {json.dumps(password, ensure_ascii=False)}\n"
        f"property_manager: true\nlock_storage: true\nserver_args:\n  timeout: {socket_timeout}\n",
        encoding="utf-8",
    )
    os.chmod(config, 0o600)
    server = DavServer("wsgidav", root, port, user, password, None,
                       [str(VENV_BIN / "wsgidav"), f"--config={config}"], base / "wsgidav.log")
    server.start()
    return server


class BusyFront:
    """A TCP relay in front of a server that gets to PUT requests only ``delay`` seconds late.

    It stands for a busy server: a PUT and everything sent after it on its connection (its end
    included, should the client hang up) reach the server after the delay; other requests pass
    at once. ``url`` is the server's URL through the relay.
    """

    def __init__(self, server: DavServer, delay: float):
        self.server, self.delay = server, delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = server.url.replace(f":{server.port}/", f":{self._listener.getsockname()[1]}/")
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.server.port))
        except OSError:  # the server is stopped
            client.close()
            return

        def back() -> None:
            with contextlib.suppress(OSError):
                while data := upstream.recv(65536):
                    client.sendall(data)
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)

        threading.Thread(target=back, daemon=True).start()
        late = 0.0
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if data.startswith(b"PUT "):  # a request begins a read (clients wait for the last answer)
                    late = time.monotonic() + self.delay
                time.sleep(max(0.0, late - time.monotonic()))
                upstream.sendall(data)
        time.sleep(max(0.0, late - time.monotonic()))
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()


def rclone(base: Path, user: str = "alice", password: str | None = None) -> DavServer:
    root, port, password = base / "rclone-data", free_port(), password or secrets.token_urlsafe(12)
    root.mkdir(parents=True, exist_ok=True)
    htpasswd = base / "htpasswd"
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    htpasswd.write_text(f"{user}:{{SHA}}{digest}\n", encoding="utf-8")
    os.chmod(htpasswd, 0o600)
    server = DavServer("rclone", root, port, user, password, None,
                       [str(VENV_BIN / "rclone"), "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}",
                        "--baseurl", "/dav", "--htpasswd", str(htpasswd), "--config", "/dev/null"],
                       base / "rclone.log")
    server.start()
    return server
