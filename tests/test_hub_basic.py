"""A real JupyterHub, configurable-http-proxy and single-user servers, in basic isolation."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbspaces.plan import Plan
from tests.realhub import Hub, plan_of, start_hub


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Path]]:
    root = tmp_path_factory.mktemp("basic")
    datasets, climate = root / "src" / "datasets", root / "src" / "climate"
    vanishing = root / "src" / "vanishing"
    for folder in (datasets, climate, vanishing):
        folder.mkdir(parents=True)
    (datasets / "stations.csv").write_text("station,lat\nPAY,46.81\n")
    hub = start_hub(root / "hub", f"""
        c.NBSpaces.home = {{"size": "20GiB", "users": {{"quota-user": "1MiB"}}, "groups": {{"home-50g": "50GiB"}}}}
        c.NBSpaces.shared = {{
            "datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}},
            "climate-data": {{"source": "{climate}", "groups": {{"climate": "ro"}}, "users": {{"carol": "rw"}}}},
            "vanishing": {{"source": "{vanishing}", "users": {{"vera": "ro"}}}},
        }}
        c.NBSpaces.community_admins = {{"climate": ["alice"]}}
        c.NBSpaces.oneprovider_host = "provider.datahub.example"
        c.NBSpaces.cull_timeout = 0
    """)
    for name, groups in {"alice": ["climate"], "bob": ["climate"], "carol": [], "dave": [], "quota-user": []}.items():
        hub.ensure_user(name, groups)
    try:
        yield hub, root / "src"
    finally:
        for name in ("alice", "bob", "carol", "dave", "quota-user"):
            hub.api("DELETE", f"/users/{name}/server")
        hub.stop()


def test_home_files_survive_stop_and_respawn(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("bob")
    assert hub.put_text("bob", "notes/today.md", "x").status_code == 404  # no such folder yet
    assert hub.contents("bob", "POST", "", json={"type": "directory"}).status_code == 201
    assert hub.contents("bob", "PATCH", "Untitled Folder", json={"path": "notes"}).status_code == 200
    assert hub.put_text("bob", "notes/today.md", "# kept\n").status_code == 201
    hub.stop_server("bob")
    hub.spawn("bob")
    r = hub.contents("bob", "GET", "notes/today.md")
    assert r.status_code == 200 and r.json()["content"] == "# kept\n"


def test_quota_refuses_a_save_and_keeps_earlier_files(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("quota-user")
    first = os.urandom(600 * 1024)
    body = {"type": "file", "format": "base64", "content": base64.b64encode(first).decode()}
    assert hub.contents("quota-user", "PUT", "first.bin", json=body).status_code == 201
    r = hub.contents("quota-user", "PUT", "second.bin", json=body)
    assert r.status_code == 507
    assert "over its 1 MiB quota" in r.json()["message"]
    assert hub.contents("quota-user", "GET", "second.bin").status_code == 404
    kept = hub.contents("quota-user", "GET", "first.bin", params={"format": "base64", "type": "file"})
    assert base64.b64decode(kept.json()["content"]) == first
    # Overwriting a file with one of the same size is no growth: allowed.
    assert hub.contents("quota-user", "PUT", "first.bin", json=body).status_code == 200


def test_a_bigger_home_is_one_admin_rest_call(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.ensure_user("grower")
    hub.spawn("grower")
    assert {s["name"]: s for s in plan_of(hub, "grower")["spaces"]}["home"]["quota_bytes"] == 20 * 2**30
    hub.api("POST", "/groups/home-50g").raise_for_status()
    hub.api("POST", "/groups/home-50g/users", json={"users": ["grower"]}).raise_for_status()
    hub.stop_server("grower")
    hub.spawn("grower")
    assert {s["name"]: s for s in plan_of(hub, "grower")["spaces"]}["home"]["quota_bytes"] == 50 * 2**30
    hub.stop_server("grower")


def test_chunked_upload_past_quota_is_refused_at_the_chunk_that_crosses(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("quota-user")
    chunk = base64.b64encode(b"z" * 256 * 1024).decode()
    statuses = []
    for i in (1, 2, 3, -1):
        model = {"type": "file", "format": "base64", "content": chunk, "chunk": i}
        statuses.append(hub.contents("quota-user", "PUT", "upload.bin", json=model).status_code)
    # 600 KiB already used of 1 MiB: the first chunk fits, the second would cross.
    assert statuses[0] == 201 and statuses[1] == 507
    # The refused upload leaves nothing behind: no partial file, no spool.
    assert hub.contents("quota-user", "GET", "upload.bin").status_code == 404
    assert [p.name for p in (hub.data_dir / "homes" / "quota-user").iterdir() if "upload" in p.name] == []


def test_chunked_upload_arrives_whole_and_never_half(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("carol")
    data = os.urandom(3 * 1024 * 1024 + 17)
    pieces = [data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]

    def put(i: int, piece: bytes) -> int:
        model = {"type": "file", "format": "base64", "content": base64.b64encode(piece).decode(), "chunk": i}
        return hub.contents("carol", "PUT", "big.bin", json=model).status_code

    # Interrupted after two chunks: nothing under the target name.
    assert put(1, pieces[0]) == 201 and put(2, pieces[1]) == 201
    assert hub.contents("carol", "GET", "big.bin").status_code == 404
    # Uploaded again, whole: byte-identical.
    for i, piece in enumerate(pieces, start=1):
        assert put(-1 if i == len(pieces) else i, piece) == 201
    assert (hub.data_dir / "homes" / "carol" / "big.bin").read_bytes() == data
    # A chunk with no upload under way is refused, not appended to the finished file.
    assert put(2, b"late") == 400
    assert (hub.data_dir / "homes" / "carol" / "big.bin").read_bytes() == data


def test_read_only_shared_folder_refuses_writes_with_a_message(site: tuple[Hub, Path]) -> None:
    hub, src = site
    hub.spawn("dave")
    listing = hub.contents("dave", "GET", "").json()
    names = {e["name"]: e for e in listing["content"]}
    assert "datasets" in names and "climate-data" not in names  # dave is in no community
    assert hub.contents("dave", "GET", "climate-data").status_code == 404
    r = hub.put_text("dave", "datasets/mine.csv", "a,b\n")
    assert r.status_code == 403 and "read-only" in r.json()["message"]
    assert not (src / "datasets" / "mine.csv").exists()
    assert hub.contents("dave", "DELETE", "datasets/stations.csv").status_code == 403
    assert hub.contents("dave", "DELETE", "datasets").status_code == 403
    model = hub.contents("dave", "GET", "datasets").json()
    assert model["content"][0]["writable"] is False
    # Copying out of the read-only folder into the home works.
    r = hub.contents("dave", "POST", "", json={"copy_from": "datasets/stations.csv"})
    assert r.status_code == 201, r.text


def test_a_writer_of_a_shared_folder_writes_where_the_data_lives(site: tuple[Hub, Path]) -> None:
    hub, src = site
    hub.spawn("carol")
    assert hub.put_text("carol", "climate-data/run1.csv", "t\n1\n").status_code == 201
    assert (src / "climate" / "run1.csv").read_text() == "t\n1\n"


def test_community_admin_switches_their_folder_to_read_write(site: tuple[Hub, Path]) -> None:
    hub, src = site
    hub.spawn("bob")
    assert hub.put_text("bob", "climate-data/bob.csv", "x").status_code == 403
    props = {"nbspaces": {"shared": {"climate-data": "rw"}}}
    # A member who is not the community's admin cannot change it (403: he may read his group).
    r = hub.api("PUT", "/groups/climate/properties", token=hub.user_token("bob"), json=props)
    assert r.status_code == 403
    # The community admin can, for their own group only.
    r = hub.api("PUT", "/groups/climate/properties", token=hub.user_token("alice"), json=props)
    assert r.status_code == 200, r.text
    hub.api("POST", "/groups/other")
    r = hub.api("PUT", "/groups/other/properties", token=hub.user_token("alice"), json=props)
    assert r.status_code == 404  # JupyterHub does not tell who may not see a group that it exists
    # The running server keeps its plan; the next spawn picks the change up.
    hub.stop_server("bob")
    hub.spawn("bob")
    assert hub.put_text("bob", "climate-data/bob.csv", "x").status_code == 201
    assert (src / "climate" / "bob.csv").exists()
    hub.api("PUT", "/groups/climate/properties", json={})


def test_a_folder_of_the_users_own_in_the_way_shows_as_an_error(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.ensure_user("frida")
    home = hub.data_dir / "homes" / "frida"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "mine.txt").write_text("my own\n")
    hub.spawn("frida")
    try:
        spaces = {s["name"]: s for s in plan_of(hub, "frida")["spaces"]}
        assert spaces["datasets"]["status"] == "error"
        assert "named 'datasets' is in the way" in spaces["datasets"]["reason"]
        assert (home / "datasets" / "mine.txt").read_text() == "my own\n"  # nothing of theirs is lost
        # It is their folder: they can rename it in the file browser, and get the shared one back.
        assert hub.contents("frida", "PATCH", "datasets", json={"path": "my-datasets"}).status_code == 200
        hub.stop_server("frida")
        hub.spawn("frida")
        spaces = {s["name"]: s for s in plan_of(hub, "frida")["spaces"]}
        assert spaces["datasets"]["status"] == "mounted"
        assert hub.contents("frida", "GET", "my-datasets/mine.txt").status_code == 200
    finally:
        hub.api("DELETE", "/users/frida/server")


def test_a_shared_source_gone_since_start_fails_only_its_space(site: tuple[Hub, Path]) -> None:
    hub, src = site
    (src / "vanishing").rmdir()
    hub.ensure_user("vera")
    hub.spawn("vera")  # the others still start, and so does vera
    spaces = {s["name"]: s for s in plan_of(hub, "vera")["spaces"]}
    assert spaces["vanishing"]["status"] == "error" and "ask your admins" in spaces["vanishing"]["reason"]
    assert spaces["datasets"]["status"] == "mounted"
    assert hub.put_text("vera", "ok.txt", "home works\n").status_code == 201
    assert "shared folder 'vanishing' is not mounted for vera" in hub.log()
    hub.stop_server("vera")


def test_links_out_of_a_space_are_not_followed(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("dave")
    home = hub.data_dir / "homes" / "dave"
    (home / "escape").symlink_to("/etc")
    (home / "sneaky").symlink_to(home / "datasets")  # a home path into a shared folder
    try:
        assert hub.contents("dave", "GET", "escape/hostname").status_code == 403
        assert hub.put_text("dave", "escape/evil", "x").status_code == 403
        assert hub.put_text("dave", "sneaky/evil.csv", "x").status_code == 403
        # The slash encoded: a literal '../carol' is normalized away by the client and never
        # reaches the contents API. jupyter_server's own answer for a path out of the root: 404.
        r = hub.contents("dave", "GET", "..%2Fcarol")
        assert r.status_code == 404 and r.json()["message"] == "../carol is outside root contents directory"
    finally:
        (home / "escape").unlink()
        (home / "sneaky").unlink()


def test_spaces_api_and_environment(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("carol")
    spaces = {s["name"]: s for s in plan_of(hub, "carol")["spaces"]}
    assert spaces["home"]["quota_bytes"] == 20 * 2**30 and spaces["home"]["used_bytes"] >= 0
    assert spaces["datasets"]["read_only"] is True and spaces["climate-data"]["read_only"] is False
    assert {s["status"] for s in spaces.values()} == {"mounted"}
    env = hub.server_env("carol")
    assert env["ONEPROVIDER_HOST"] == "provider.datahub.example"
    assert "ONECLIENT_ACCESS_TOKEN" not in env  # carol's auth_state holds no Onedata token
    plan = Plan.from_json(env["NBSPACES_PLAN"])
    assert [s.name for s in plan.spaces] == ["home", "climate-data", "datasets"]
    assert "token" not in json.dumps(json.loads(env["NBSPACES_PLAN"])).lower()


def test_the_sites_shell_cmd_starts_the_server(tmp_path: Path) -> None:
    # A site sets up its servers' environment through a shell (a login shell's profile would).
    hub = start_hub(tmp_path, """
        c.LocalSpaceSpawner.isolation = "basic"
        c.Spawner.shell_cmd = ["/usr/bin/env", "SITE_PROFILE=loaded", "/bin/bash", "-c"]
    """)
    try:
        hub.ensure_user("sheila")
        hub.spawn("sheila")
        assert hub.server_env("sheila")["SITE_PROFILE"] == "loaded"
        assert hub.put_text("sheila", "notes.md", "x").status_code == 201
    finally:
        hub.api("DELETE", "/users/sheila/server")
        hub.stop()


def test_a_server_program_that_cannot_be_run_is_named_in_the_log(tmp_path: Path) -> None:
    program = tmp_path / "singleuser"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o644)  # not executable, not even by root
    hub = start_hub(tmp_path / "hub", f"""
        c.LocalSpaceSpawner.isolation = "basic"
        c.LocalSpaceSpawner.cmd = ["{program}"]
    """)
    try:
        hub.ensure_user("pat")
        assert hub.api("POST", "/users/pat/server").status_code == 500  # JupyterHub's answer to a failed spawn
        assert f"Permission denied trying to run '{program}'. Does pat have access to this file?" in hub.log()
    finally:
        hub.stop()
