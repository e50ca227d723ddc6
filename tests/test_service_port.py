"""The nbspaces hub service never runs behind another program's port: a free port by default, a
clear stop at hub start when a configured one is taken."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.realhub import free_port, run_hub_until_exit, start_hub


class _Impostor(BaseHTTPRequestHandler):
    """Another program on the port: it answers every request, as the hub's readiness check wants."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"not nbspaces")

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def held_port(port: int) -> Iterator[None]:
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    except OSError:  # another program on this machine holds it already: taken all the same
        yield
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_configured_port_stops_the_hub_with_a_message(tmp_path: Path) -> None:
    port = free_port()
    with held_port(port):
        result = run_hub_until_exit(tmp_path, f"c.NBSpaces.service_port = {port}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"the nbspaces service cannot listen on 127.0.0.1:{port}" in output
    assert "set c.NBSpaces.service_port to a free port" in output
    assert "JupyterHub is now running" not in output
    assert "Traceback" not in output


def test_the_default_port_is_a_free_one_while_8082_is_taken(tmp_path: Path) -> None:
    with held_port(8082):
        hub = start_hub(tmp_path, 'c.NBSpaces.pop("service_port")')  # the default, as a site writes none
        try:
            hub.ensure_user("keyholder")
            r = requests.get(f"{hub.url}/services/nbspaces/key", timeout=30,
                             headers={"Authorization": f"token {hub.user_token('keyholder')}"})
            assert r.status_code == 200, r.text
            assert r.json()["user"] == "keyholder" and len(r.json()["key"]) == 44
        finally:
            hub.stop()


def test_a_hub_start_logs_no_warning_of_python(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, "")
    try:
        hub.ensure_user("keyholder")
        r = requests.get(f"{hub.url}/services/nbspaces/key", timeout=30,
                         headers={"Authorization": f"token {hub.user_token('keyholder')}"})
        assert r.status_code == 200, r.text  # the service started: what it printed is in the log
        assert "Warning:" not in hub.log()
    finally:
        hub.stop()
