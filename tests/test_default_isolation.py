"""The default isolation ('auto') keeps the promises the panel makes: strong where the machine
allows it (root, loop devices, mount namespaces), and, where basic runs, no user's credentials
in a FUSE mount that every other server could read."""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel import run_code
from tests.realhub import Hub, plan_of, start_hub, world_dir
from tests.test_hub_strong import in_server, standard_dev_fuse, uid_of, user_env
from tests.webdav_servers import DavServer, rclone

__all__ = ["standard_dev_fuse", "user_env"]  # fixtures of the strong tests, used here


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    server = rclone(tmp_path / "dav")
    yield server
    server.stop()


def _hub(data_dir: Path, datasets: Path, dav: DavServer, settings: str = "") -> Hub:
    """A hub with nbspaces' defaults: no isolation set; ``settings``, lines of config, are added."""
    return start_hub(data_dir, textwrap.dedent(f"""
        c.NBSpaces.shared = {{"datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}}}}
        c.NBSpaces.remote = {{"dav": {{"kind": "webdav", "url": "{dav.url}", "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.cull_timeout = 0
    """) + settings + "\n")


def _rclone_mounts(data_dir: Path) -> list[int]:
    """rclone mount processes under this hub's homes."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"\0mount\0" in cmdline and b"rclone" in cmdline and f"{data_dir}/homes/".encode() in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="strong isolation needs root")
def test_the_default_is_strong_where_the_machine_allows_it(dav: DavServer, standard_dev_fuse: None,
                                                           user_env: Path) -> None:
    for base in world_dir("nbspaces-auto"):
        datasets = base / "datasets"
        datasets.mkdir()
        (datasets / "stations.csv").write_text("station\nPAY\n")
        # The servers run from an environment every account can read, as a site's is (this checkout
        # may be where other accounts cannot go, and 'auto' would rightly choose basic).
        hub = _hub(base / "hub", datasets, dav, f'c.LocalSpaceSpawner.cmd = ["{user_env}/bin/jupyterhub-singleuser"]')
        os.chmod(base / "hub", 0o711)
        try:
            hub.ensure_user("dora")
            hub.spawn("dora")
            assert uid_of(hub.server_pid("dora")) != 0  # the user's code never runs as root
            r = in_server(hub, "dora", 'cat "$HOME/datasets/stations.csv" && echo mine > "$HOME/datasets/mine.txt"')
            assert "PAY" in r.stdout and "Read-only file system" in r.stderr
            assert not (datasets / "mine.txt").exists()
            assert plan_of(hub, "dora")["isolation"] == "strong"
            assert "nbspaces isolation: strong, chosen by 'auto' (the hub runs as root" in hub.log()

            # Each server its own account: a remote space is also a folder any program can open.
            r = hub.server("dora", "PUT", "nbspaces/api/spaces/dav/credentials",
                           json={"username": dav.user, "password": dav.password})
            assert r.status_code == 200 and r.json()["posix"] is True, r.text
            out = run_code(hub, "dora", """
import os
with open("dav/posix.csv", "w") as f:   # plain open(), as any library would
    f.write("x,y\\n5,6\\n")
print(sorted(os.listdir("dav")))
""")
            assert "posix.csv" in out
            for _ in range(50):  # rclone uploads when the file is closed
                if (dav.root / "posix.csv").exists():
                    break
                time.sleep(0.2)
            assert (dav.root / "posix.csv").read_text() == "x,y\n5,6\n"
            assert not (dav.root / ".ipynb_checkpoints").exists()  # jupyter's local checkpoints stay out
            assert _rclone_mounts(hub.data_dir)
            hub.stop_server("dora")
            assert not _rclone_mounts(hub.data_dir)  # gone with the server
        finally:
            hub.api("DELETE", "/users/dora/server")
            hub.wait_stopped("dora")
            hub.stop()


def test_basic_mounts_no_folder_with_a_users_credentials(tmp_path: Path, dav: DavServer) -> None:
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    # data_dir under /tmp, which strong isolation replaces: 'auto' has to choose basic.
    hub = _hub(tmp_path / "hub", datasets, dav)
    try:
        hub.ensure_user("basil")
        hub.spawn("basil")
        plan = json.loads(hub.server_env("basil")["NBSPACES_PLAN"])
        assert plan["isolation"] == "basic"
        assert plan["posix"] is False and plan["posix_reason"] == "servers share one unix account here"
        r = hub.server("basil", "PUT", "nbspaces/api/spaces/dav/credentials",
                       json={"username": dav.user, "password": dav.password})
        assert r.status_code == 200 and r.json()["status"] == "mounted", r.text
        assert r.json()["posix"] is False  # in the file browser and the Python API, no FUSE folder
        assert not (hub.data_dir / "homes" / "basil" / "dav").exists()
        assert not _rclone_mounts(hub.data_dir)  # no process another server could read basil's secret from
        assert "nbspaces isolation: basic, chosen by 'auto' (data_dir" in hub.log()
    finally:
        hub.api("DELETE", "/users/basil/server")
        hub.wait_stopped("basil")
        hub.stop()
