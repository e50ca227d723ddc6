"""A real hub refuses a wrong catalog at start, and culls idle servers while homes stay."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from traitlets.config import Config

from nbspaces.spawner import LocalSpaceSpawner, configure_hub
from tests.realhub import run_hub_until_exit, start_hub


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('c.NBSpaces.home = {"size": "20GiB", "quota": 5}',
         "home: unknown key 'quota'; allowed keys: size, users, groups"),
        ('c.NBSpaces.home = {"size": "-20GiB"}', "home.size: '-20GiB' is negative"),
        ('c.NBSpaces.home = {"users": {"alice": "twenty gigs"}}',
         "home.users.alice: cannot read 'twenty gigs' as a size"),
        ('c.NBSpaces.shared = {"data": {"groups": ["*"]}}', "shared.data: says nowhere where the data lives"),
        ('c.NBSpaces.shared = {"data": {"source": "/srv", "groups": {"climate": "readwrite"}}}',
         "shared.data.groups.climate: unknown mode 'readwrite'; allowed modes: ro, rw, off"),
        ('c.NBSpaces.shared = {"data": {"source": "/nonexistent/nbspaces-data", "groups": ["*"]}}',
         "shared.data.source: /nonexistent/nbspaces-data does not exist or is not a folder; create it first"),
        ('c.NBSpaces.community_admins = {"climate": "alice"}',
         "community_admins.climate: must be a list of user names"),
    ],
    ids=["unknown-key", "negative-size", "unparsable-size", "no-source", "unknown-mode", "missing-source",
         "bad-admins"],
)
def test_a_wrong_catalog_stops_the_hub_with_a_message(tmp_path: Path, settings: str, message: str) -> None:
    result = run_hub_until_exit(tmp_path, settings)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "JupyterHub is now running" not in result.stdout + result.stderr


def test_idle_server_is_culled_and_the_home_stays(tmp_path: Path) -> None:
    hub = start_hub(tmp_path, """
        c.JupyterHub.last_activity_interval = 3
        c.NBSpaces.cull_timeout = 12
        c.NBSpaces.cull_every = 3
    """)
    try:
        hub.ensure_user("idle")
        hub.spawn("idle")
        assert hub.put_text("idle", "analysis.py", "print('kept')\n").status_code == 201
        started = time.monotonic()
        hub.wait_stopped("idle", timeout=90)  # no request touches the server from here on
        assert time.monotonic() - started >= 10  # not before the timeout
        assert "Culling server" in hub.log() or "culling" in hub.log().lower()
        hub.spawn("idle")
        assert hub.contents("idle", "GET", "analysis.py").json()["content"] == "print('kept')\n"
    finally:
        hub.api("DELETE", "/users/idle/server")
        hub.stop()


def test_culler_timeout_below_activity_interval_is_refused(tmp_path: Path) -> None:
    result = run_hub_until_exit(tmp_path, "c.NBSpaces.cull_timeout = 120")
    assert result.returncode != 0
    assert "cull_timeout (120 s) must exceed JupyterHub.last_activity_interval (300 s)" in result.stderr


class KubeLabSpawner(LocalSpaceSpawner):
    """A site's local spawner whose name happens to contain 'Kube'."""


def test_configure_hub_asks_the_spawner_not_its_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "data").mkdir()
    c = Config()
    c.JupyterHub.spawner_class = KubeLabSpawner
    c.LocalSpaceSpawner.isolation = "basic"
    c.LocalSpaceSpawner.data_dir = str(tmp_path)
    c.NBSpaces.secret_file = str(tmp_path / "nbspaces_secret")
    c.NBSpaces.shared = {"data": {"source": str(tmp_path / "data"), "groups": ["*"]}}  # a host path
    with caplog.at_level(logging.WARNING, logger="JupyterHub"):
        configure_hub(c)  # a wrong catalog would stop the hub (SystemExit)
    assert "nbspaces isolation: basic." in caplog.text


def test_popen_kwargs_cannot_replace_the_step_that_drops_root(tmp_path: Path) -> None:
    c = Config()
    c.LocalSpaceSpawner.isolation = "strong"
    c.LocalSpaceSpawner.data_dir = str(tmp_path)
    c.LocalSpaceSpawner.popen_kwargs = {"preexec_fn": print}  # would run the server as root, unmounted
    c.NBSpaces.secret_file = str(tmp_path / "nbspaces_secret")
    with pytest.raises(SystemExit, match="popen_kwargs cannot set preexec_fn"):
        configure_hub(c)
