"""One set of contents API behaviours, run against the home and every remote kind.

Each new remote kind adds its space to SPACES; the behaviours stay the same.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from cryptography.fernet import Fernet

from tests.kernel import run_code
from tests.realhub import Hub, plan_of, start_hub
from tests.standins.d4science import StorageHubStandIn
from tests.standins.onedata import OnedataStandIn
from tests.storage_servers import Served, rclone_s3, smbd, sshd
from tests.webdav_servers import DavServer, rclone, wsgidav

SPACES = ["home", "webdav-wsgidav", "webdav-rclone", "onedata", "d4science", "s3", "smb", "sftp"]
# Where each kind's test folders go: Onedata's spaces are the folders of its mount.
TOPS = {"home": "", "webdav-wsgidav": "dav1", "webdav-rclone": "dav2", "onedata": "datahub/climate",
        "d4science": "workspace", "s3": "bucket", "smb": "share", "sftp": "files"}
# Characters a kind's server cannot hold in names: refused with a 400 that names them, nothing stored.
# WsgiDAV parses a MOVE's destination as a URL after unquoting it (mar10/wsgidav#139); SMB has
# Windows' rules.
FORBIDDEN = {"webdav-wsgidav": "?;", "smb": '\\/:*?"<>|'}
NB = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                 "source": "print('é')"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the module; bea's server has a space of every kind. Onedata and D4Science
    spaces take their tokens from the login: the test puts them in bea's auth_state, as a login would.
    The admins declare the WebDAV, SMB and SFTP spaces; bea adds the second WebDAV and the S3 one."""
    base = tmp_path_factory.mktemp("base")
    servers: list[DavServer | Served] = [wsgidav(base), rclone(base)]
    s3, smb, ssh = rclone_s3(base / "s3"), smbd(base / "smb"), sshd(base / "ssh")
    servers += [s3, smb, ssh]
    s3.bucket("bea-bucket")
    od = OnedataStandIn(base / "od").start()
    bea = od.add_user("Bea")
    od.add_space("climate", [bea])
    storagehub = StorageHubStandIn(base / "sh", user="bea")
    hub: Hub | None = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTERHUB_CRYPT_KEY", Fernet.generate_key().decode())
            hub = start_hub(base / "hub", f"""
                c.NBSpaces.remote = {{
                    "dav1": {{"kind": "webdav", "url": "{servers[0].url}", "groups": {{"*": "rw"}}}},
                    "datahub": {{"kind": "onedata", "oneprovider": "{od.provider_domain()}",
                                "verify_tls": "{od.ca_file}", "groups": {{"*": "rw"}}}},
                    "workspace": {{"kind": "d4science", "url": "{storagehub.url}", "groups": {{"*": "rw"}}}},
                    "share": {{"kind": "smb", "host": "127.0.0.1", "port": {smb.port}, "share": "{smb.share}",
                              "groups": {{"*": "rw"}}}},
                    "files": {{"kind": "sftp", "host": "127.0.0.1", "port": {ssh.port}, "folder": "{ssh.root}",
                              "groups": {{"*": "rw"}}}},
                }}
                c.NBSpaces.user_kinds = ["webdav", "s3"]
                c.NBSpaces.posix_mounts = False
                c.NBSpaces.cull_timeout = 0
                c.Authenticator.enable_auth_state = True
                c.JupyterHub.load_roles[0]["scopes"].append("admin:auth_state")
                c.Spawner.args = ["--FileContentsManager.max_copy_folder_size_mb=1"]
            """)
        hub.ensure_user("bea")
        state = {"onedata_token": od.create_token(bea), "d4science_token": storagehub.add_token()}
        assert hub.api("PATCH", "/users/bea", json={"auth_state": state}).status_code == 200
        hub.spawn("bea")
        creds = {"username": servers[0].user, "password": servers[0].password}
        assert hub.server("bea", "PUT", "nbspaces/api/spaces/dav1/credentials", json=creds).status_code == 200
        body = {"name": "dav2", "kind": "webdav", "settings": {"url": servers[1].url},
                "credentials": {"username": servers[1].user, "password": servers[1].password}}
        assert hub.server("bea", "POST", "nbspaces/api/spaces", json=body).status_code == 201
        body = {"name": "bucket", "kind": "s3", "settings": {"endpoint": s3.url, "bucket": "bea-bucket"},
                "credentials": {"access_key_id": s3.user, "secret_access_key": s3.password}}
        assert hub.server("bea", "POST", "nbspaces/api/spaces", json=body).status_code == 201
        creds = {"username": smb.user, "password": smb.password}
        assert hub.server("bea", "PUT", "nbspaces/api/spaces/share/credentials", json=creds).status_code == 200
        # The SFTP server is new to bea: its host key is offered, accepted, then the key login works.
        assert ssh.client_key is not None
        creds = {"username": ssh.user, "private_key": ssh.client_key.read_text()}
        r = hub.server("bea", "PUT", "nbspaces/api/spaces/files/credentials", json=creds)
        assert r.status_code == 409 and r.json()["offer"] == {"host_key": ssh.host_public_key}, r.text
        r = hub.server("bea", "POST", "nbspaces/api/spaces/files/accept", json=r.json()["offer"])
        assert r.status_code == 200 and r.json()["status"] == "needs-credentials", r.text
        assert hub.server("bea", "PUT", "nbspaces/api/spaces/files/credentials", json=creds).status_code == 200
        found = {s["name"]: s["status"] for s in plan_of(hub, "bea")["spaces"]}
        assert found["datahub"] == found["workspace"] == found["share"] == found["files"] == "mounted", found
        hub.ssh_login = (ssh.user, ssh.client_key)  # type: ignore[attr-defined]  (for the terminal test)
        # Every secret in use: the S3 secret key, the SMB password, a line of the SSH private key.
        key_line = ssh.client_key.read_text().splitlines()[1]
        hub.secrets_in_use = [s3.password, smb.password, key_line]  # type: ignore[attr-defined]
        yield hub
    finally:
        if hub is not None:
            hub.api("DELETE", "/users/bea/server")
            hub.stop()
        for server in servers:
            server.stop()
        storagehub.stop()
        od.stop()


@pytest.fixture(params=SPACES)
def root(request: pytest.FixtureRequest, hub: Hub) -> Iterator[str]:
    """A fresh folder for the test in the space under test, named after the test."""
    folder = f"{TOPS[request.param]}/{request.node.originalname}".strip("/")
    assert hub.contents("bea", "PUT", folder, json={"type": "directory"}).status_code == 201
    yield folder
    hub.contents("bea", "DELETE", folder)


def names(hub: Hub, folder: str) -> dict[str, str]:
    r = hub.contents("bea", "GET", folder)
    assert r.status_code == 200, r.text
    return {e["name"]: e["type"] for e in r.json()["content"]}


def test_text_round_trip(hub: Hub, root: str) -> None:
    text = "ünïcode\nlines\n"
    assert hub.put_text("bea", f"{root}/a.txt", text).status_code == 201
    got = hub.contents("bea", "GET", f"{root}/a.txt").json()
    assert got["content"] == text and got["format"] == "text" and got["type"] == "file"
    assert hub.put_text("bea", f"{root}/a.txt", "second\n").status_code == 200  # overwrite: 200
    assert hub.contents("bea", "GET", f"{root}/a.txt").json()["content"] == "second\n"


def test_content_hash_as_jupyterlab_asks_for_it(hub: Hub, root: str) -> None:
    import hashlib

    hub.put_text("bea", f"{root}/h.txt", "hash me\n")
    for params in ({"hash": "1"}, {"hash": "1", "content": "0"}):
        got = hub.contents("bea", "GET", f"{root}/h.txt", params=params)
        assert got.status_code == 200, got.text
        assert got.json()["hash"] == hashlib.sha256(b"hash me\n").hexdigest()
        assert got.json()["hash_algorithm"] == "sha256"


def test_binary_round_trip(hub: Hub, root: str) -> None:
    data = bytes(range(256)) * 10
    body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    assert hub.contents("bea", "PUT", f"{root}/b.bin", json=body).status_code == 201
    got = hub.contents("bea", "GET", f"{root}/b.bin").json()
    assert got["format"] == "base64" and base64.b64decode(got["content"]) == data
    assert hub.contents("bea", "GET", f"{root}/b.bin", params={"format": "text", "type": "file"}).status_code == 400


def test_notebook_round_trip(hub: Hub, root: str) -> None:
    assert hub.contents("bea", "PUT", f"{root}/n.ipynb", json={"type": "notebook", "content": NB}).status_code == 201
    got = hub.contents("bea", "GET", f"{root}/n.ipynb").json()
    assert got["type"] == "notebook" and got["content"]["cells"][0]["source"] == "print('é')"
    assert names(hub, root)["n.ipynb"] == "notebook"


def test_new_untitled_file_folder_and_notebook(hub: Hub, root: str) -> None:
    for body, expected in (({"type": "file", "ext": ".py"}, "untitled.py"),
                           ({"type": "directory"}, "Untitled Folder"),
                           ({"type": "notebook"}, "Untitled.ipynb"),
                           ({"type": "file", "ext": ".py"}, "untitled1.py")):
        r = hub.contents("bea", "POST", root, json=body)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == expected
    assert names(hub, root) == {"untitled.py": "file", "Untitled Folder": "directory",
                                "Untitled.ipynb": "notebook", "untitled1.py": "file"}


def test_rename_copy_delete(hub: Hub, root: str) -> None:
    hub.put_text("bea", f"{root}/x.txt", "x")
    assert hub.contents("bea", "PATCH", f"{root}/x.txt", json={"path": f"{root}/y.txt"}).status_code == 200
    r = hub.contents("bea", "POST", root, json={"copy_from": f"{root}/y.txt"})
    assert r.status_code == 201 and r.json()["name"] == "y-Copy1.txt"
    assert names(hub, root) == {"y.txt": "file", "y-Copy1.txt": "file"}
    assert hub.contents("bea", "DELETE", f"{root}/y.txt").status_code == 204
    assert hub.contents("bea", "GET", f"{root}/y.txt").status_code == 404
    hub.contents("bea", "PUT", f"{root}/sub", json={"type": "directory"})
    hub.put_text("bea", f"{root}/sub/inner.txt", "i")
    r = hub.contents("bea", "DELETE", f"{root}/sub")  # no trash here: a full folder stays
    assert r.status_code == 400 and "not empty" in r.json()["message"]
    assert hub.contents("bea", "DELETE", f"{root}/sub/inner.txt").status_code == 204
    assert hub.contents("bea", "DELETE", f"{root}/sub").status_code == 204
    assert "sub" not in names(hub, root)


def test_missing_things_are_404(hub: Hub, root: str) -> None:
    assert hub.contents("bea", "GET", f"{root}/nope.txt").status_code == 404
    assert hub.put_text("bea", f"{root}/no/such/folder.txt", "x").status_code == 404
    assert hub.contents("bea", "DELETE", f"{root}/nope.txt").status_code == 404
    hub.put_text("bea", f"{root}/here.txt", "h")
    r = hub.contents("bea", "PATCH", f"{root}/here.txt", json={"path": f"{root}/no/such/here.txt"})
    assert r.status_code == 404, r.text
    assert names(hub, root) == {"here.txt": "file"}
    assert hub.contents("bea", "GET", f"{root}", params={"type": "file"}).status_code == 400


def test_hidden_files_are_not_listed(hub: Hub, root: str) -> None:
    hub.put_text("bea", f"{root}/seen.txt", "s")
    r = hub.contents("bea", "PUT", f"{root}/.hidden", json={"type": "file", "format": "text", "content": "h"})
    assert r.status_code == 400  # jupyter_server refuses hidden names unless allowed
    assert ".hidden" not in names(hub, root)


def test_chunked_upload_and_a_chunk_that_is_not_base64(hub: Hub, root: str) -> None:
    pieces = [bytes([i]) * 300_000 for i in range(3)]

    def upload(name: str, contents: list[str]) -> list[requests.Response]:
        numbers = [*range(1, len(contents)), -1]
        return [hub.contents("bea", "PUT", f"{root}/{name}", json={"type": "file", "format": "base64", "chunk": n,
                                                                     "content": c})
                for n, c in zip(numbers, contents, strict=True)]

    good = [base64.b64encode(p).decode() for p in pieces]
    assert [r.status_code for r in upload("u.bin", good)] == [201, 201, 201]
    got = hub.contents("bea", "GET", f"{root}/u.bin", params={"format": "base64", "type": "file"}).json()
    assert base64.b64decode(got["content"]) == b"".join(pieces) and got["size"] == 900_000
    # A chunk that is not base64: the upload is refused with the reason, and nothing is stored.
    answers = upload("bad.bin", [good[0], "not base64!", good[2]])
    refused = [r for r in answers if r.status_code == 400]
    assert refused and "cannot be read" in refused[0].json()["message"]
    assert hub.contents("bea", "GET", f"{root}/bad.bin").status_code == 404
    assert sorted(names(hub, root)) == ["u.bin"]


def test_mimetypes_are_jupyter_servers(hub: Hub, root: str) -> None:
    """As jupyter_server gives them: guessed from the name, never the storage's Content-Type."""
    hub.put_text("bea", f"{root}/a.txt", "text\n")
    hub.put_text("bea", f"{root}/t.csv", "a,b\n")
    hub.put_text("bea", f"{root}/noext", "x\n")
    listed = {e["name"]: e["mimetype"] for e in hub.contents("bea", "GET", root).json()["content"]}
    assert listed == {"a.txt": "text/plain", "t.csv": "text/csv", "noext": None}
    for name, expected in (("a.txt", "text/plain"), ("t.csv", "text/csv"), ("noext", None)):
        assert hub.contents("bea", "GET", f"{root}/{name}", params={"content": "0"}).json()["mimetype"] == expected
        # With its content, a file the name says nothing about is text/plain (or octet-stream as base64).
        assert hub.contents("bea", "GET", f"{root}/{name}").json()["mimetype"] == (expected or "text/plain")
    for name, expected in (("a.txt", "text/plain"), ("noext", "application/octet-stream")):
        got = hub.contents("bea", "GET", f"{root}/{name}", params={"format": "base64", "type": "file"}).json()
        assert got["mimetype"] == expected
    for name, expected in (("a.txt", "text/plain; charset=UTF-8"), ("t.csv", "text/csv"),
                           ("noext", "application/octet-stream")):
        assert hub.server("bea", "GET", f"files/{root}/{name}").headers["Content-Type"] == expected


def test_copies_are_named_and_placed_as_jupyter_server_does(hub: Hub, root: str) -> None:
    assert hub.contents("bea", "PUT", f"{root}/x.ipynb", json={"type": "notebook", "content": NB}).status_code == 201
    made = []
    for source in ("x.ipynb", "x-Copy1.ipynb", "x-Copy2.ipynb"):
        r = hub.contents("bea", "POST", root, json={"copy_from": f"{root}/{source}"})
        assert r.status_code == 201, r.text
        made.append(r.json()["name"])
    assert made == ["x-Copy1.ipynb", "x-Copy2.ipynb", "x-Copy3.ipynb"]
    hub.contents("bea", "PUT", f"{root}/f", json={"type": "directory"})
    hub.put_text("bea", f"{root}/f/in.txt", "in\n")
    r = hub.contents("bea", "POST", root, json={"copy_from": f"{root}/f"})
    assert r.status_code == 201 and r.json()["name"] == "f-Copy1" and r.json()["type"] == "directory"
    assert hub.contents("bea", "GET", f"{root}/f-Copy1/in.txt").json()["content"] == "in\n"
    # Into a folder that does not exist: refused, and nothing is created.
    for source in (f"{root}/f", f"{root}/f/in.txt"):
        r = hub.contents("bea", "POST", f"{root}/nowhere/deeper", json={"copy_from": source})
        assert r.status_code == 404, r.text
    assert "nowhere" not in names(hub, root)


def test_big_folders_are_not_copied(hub: Hub, root: str) -> None:
    """max_copy_folder_size_mb (1 MB on this hub) holds for every space, before anything is copied."""
    hub.contents("bea", "PUT", f"{root}/big", json={"type": "directory"})
    data = base64.b64encode(b"\x01" * 600_000).decode()
    for name in ("one.bin", "two.bin"):
        body = {"type": "file", "format": "base64", "content": data}
        assert hub.contents("bea", "PUT", f"{root}/big/{name}", json=body).status_code == 201
    r = hub.contents("bea", "POST", root, json={"copy_from": f"{root}/big"})
    assert r.status_code == 400 and "Can't copy folders larger than 1MB" in r.json()["message"], r.text
    assert sorted(names(hub, root)) == ["big"]


def test_moves_that_cannot_be_done_are_refused_with_their_reason(hub: Hub, root: str) -> None:
    hub.contents("bea", "PUT", f"{root}/d", json={"type": "directory"})
    hub.contents("bea", "PUT", f"{root}/d/sub", json={"type": "directory"})
    hub.put_text("bea", f"{root}/d/sub/f.txt", "f\n")
    for into in (f"{root}/d/sub/d", f"{root}/d/inside"):
        r = hub.contents("bea", "PATCH", f"{root}/d", json={"path": into})
        assert r.status_code == 409 and "into itself" in r.json()["message"], r.text
    # Nor is a folder copied into itself (it would copy its own copy, deeper and deeper).
    r = hub.contents("bea", "POST", f"{root}/d/sub", json={"copy_from": f"{root}/d"})
    assert r.status_code == 409 and "into itself" in r.json()["message"], r.text
    assert names(hub, f"{root}/d") == {"sub": "directory"} and names(hub, f"{root}/d/sub") == {"f.txt": "file"}
    r = hub.contents("bea", "PATCH", f"{root}/nope.txt", json={"path": f"{root}/other.txt"})
    assert r.status_code == 404, r.text
    assert "other.txt" not in names(hub, root)
    hub.put_text("bea", f"{root}/a.txt", "a")
    hub.put_text("bea", f"{root}/b.txt", "b")
    for source, target in (("a.txt", "b.txt"), ("a.txt", "d"), ("d", "b.txt")):  # onto something: 409
        r = hub.contents("bea", "PATCH", f"{root}/{source}", json={"path": f"{root}/{target}"})
        assert r.status_code == 409, (source, target, r.text)
    assert hub.contents("bea", "GET", f"{root}/b.txt").json()["content"] == "b"
    assert names(hub, root) == {"d": "directory", "a.txt": "file", "b.txt": "file"}


def test_notebooks_are_validated_as_jupyter_server_does(hub: Hub, root: str) -> None:
    bad = {**NB, "cells": [{**NB["cells"][0], "not_a_cell_field": 1}]}
    r = hub.contents("bea", "PUT", f"{root}/bad.ipynb", json={"type": "notebook", "content": bad})
    assert r.status_code == 201 and r.json()["message"].startswith("Notebook validation failed"), r.text
    got = hub.contents("bea", "GET", f"{root}/bad.ipynb").json()
    assert got["message"].startswith("Notebook validation failed") and "not_a_cell_field" in got["message"]
    r = hub.contents("bea", "PUT", f"{root}/good.ipynb", json={"type": "notebook", "content": NB})
    assert r.status_code == 201 and "message" not in r.json()


ODD_NAMES = ["a%41b.txt", "x%2fy.txt", "50% off.txt", "c#1.txt", "why?.txt", "a;b.txt", "two  spaces .txt",
             "é中🙂.txt"]


def test_names_with_odd_characters_round_trip(hub: Hub, root: str) -> None:
    """Names are names on every kind: nothing in them is decoded, or taken for a URL's part."""
    forbidden = next((chars for space, chars in FORBIDDEN.items() if root.startswith(f"{TOPS[space]}/")), "")
    refused = [n for n in ODD_NAMES if set(n) & set(forbidden)]
    if refused:
        # Refused before anything is sent, saying which character, and nothing is stored under another name.
        hub.put_text("bea", f"{root}/plain.txt", "p")
        for name in refused:
            cut = "".join(sorted(set(name) & set(forbidden)))
            r = hub.put_text("bea", quote(f"{root}/{name}"), cut)
            assert r.status_code == 400 and all(c in r.json()["message"] for c in cut), r.text
            r = hub.contents("bea", "PATCH", f"{root}/plain.txt", json={"path": f"{root}/re {name}"})
            assert r.status_code == 400 and all(c in r.json()["message"] for c in cut), r.text
        assert names(hub, root) == {"plain.txt": "file"}
        hub.contents("bea", "DELETE", f"{root}/plain.txt")
    odd = [n for n in ODD_NAMES if n not in refused]
    for name in odd:
        r = hub.contents("bea", "PUT", quote(f"{root}/{name}"), json={"type": "file", "format": "text",
                                                                        "content": name})
        assert r.status_code == 201, (name, r.text)
    assert names(hub, root) == dict.fromkeys(odd, "file")
    for name in odd:
        got = hub.contents("bea", "GET", quote(f"{root}/{name}"))
        assert got.status_code == 200 and got.json()["name"] == name and got.json()["content"] == name, got.text
        assert hub.server("bea", "GET", "files/" + quote(f"{root}/{name}")).content == name.encode()
        r = hub.contents("bea", "PATCH", quote(f"{root}/{name}"), json={"path": f"{root}/re {name}"})
        assert r.status_code == 200 and r.json()["name"] == f"re {name}", r.text
    folder = "".join(c for c in "dir #?;%20é" if c not in forbidden)
    assert hub.contents("bea", "PUT", quote(f"{root}/{folder}"), json={"type": "directory"}).status_code == 201
    assert hub.put_text("bea", quote(f"{root}/{folder}/in.txt"), "in").status_code == 201
    assert names(hub, quote(f"{root}/{folder}")) == {"in.txt": "file"}
    assert names(hub, root) == {**{f"re {n}": "file" for n in odd}, folder: "directory"}


def test_models_are_the_homes_for_the_same_file(hub: Hub, root: str) -> None:
    """Every field but the path and the times, as jupyter_server gives it for the same file in the home."""
    home = f"same-{root.replace('/', '-')}"
    hub.contents("bea", "PUT", home, json={"type": "directory"})
    try:
        files = {"a.txt": {"type": "file", "format": "text", "content": "é\n"},
                 "b.bin": {"type": "file", "format": "base64", "content": base64.b64encode(b"\x00\xff").decode()},
                 "n.ipynb": {"type": "notebook", "content": {**NB, "cells": [{**NB["cells"][0], "id": "c1"}]}}}
        for name, body in files.items():
            for folder in (root, home):
                assert hub.contents("bea", "PUT", f"{folder}/{name}", json=body).status_code == 201

        def fields(model: dict) -> dict:
            out = {k: v for k, v in model.items() if k not in ("path", "created", "last_modified")}
            if out["format"] == "base64":  # the same bytes (the home's base64 has line breaks, ours none)
                out["content"] = base64.b64decode(out["content"])
            return out

        for name in files:
            for params in ({"content": "0"}, {}, {"content": "1", "hash": "1"}):
                ours = hub.contents("bea", "GET", f"{root}/{name}", params=params).json()
                theirs = hub.contents("bea", "GET", f"{home}/{name}", params=params).json()
                assert fields(ours) == fields(theirs), (name, params)
        listed = {e["name"]: fields(e) for e in hub.contents("bea", "GET", root).json()["content"]}
        assert listed == {e["name"]: fields(e) for e in hub.contents("bea", "GET", home).json()["content"]}
    finally:
        for name in ("a.txt", "b.bin", "n.ipynb"):
            hub.contents("bea", "DELETE", f"{home}/{name}")
        hub.contents("bea", "DELETE", home)


def test_the_terminal_command_asks_each_field_as_its_type_says(hub: Hub,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """`nbspaces login` by the space's name: the user name typed, the password skipped (optional),
    the private key read from the file the user names, the passphrase skipped."""
    key_file = tmp_path_factory.mktemp("key") / "id_ed25519"
    login, key = hub.ssh_login  # type: ignore[attr-defined]
    key_file.write_text(key.read_text())
    out = run_code(hub, "bea", f"""
import os, subprocess, sys
bin = os.path.join(os.path.dirname(sys.executable), "nbspaces")
print(subprocess.run([bin, "logout", "files"], capture_output=True, text=True).stdout.strip())
answers = "{login}\\n" + "\\n" + "{key_file}\\n" + "\\n"
r = subprocess.run([bin, "login", "files"], input=answers, capture_output=True, text=True)
print(r.returncode, r.stdout.strip().splitlines()[-1])
""")
    lines = out.splitlines()
    assert lines[0] == "files: needs-credentials"
    assert lines[1] == "0 files: mounted", out


def test_no_secret_of_any_kind_appears_anywhere(hub: Hub) -> None:
    """Not in the hub's log, the API's answers, the plan, any server's or kernel's argv or environment,
    nor in what the user accepted (an SFTP host key is public)."""
    out = run_code(hub, "bea", "import nbspaces; print(type(nbspaces.filesystem('bucket').ls('')).__name__)")
    assert out.strip() == "list"  # a kernel has used the S3 space: its driver holds the keys
    secrets = [s.encode() for s in hub.secrets_in_use]  # type: ignore[attr-defined]
    assert not any(s in hub.log().encode() for s in secrets)
    answers = [hub.server("bea", "GET", "nbspaces/api/spaces").content,
               *(hub.server("bea", "GET", f"nbspaces/api/spaces/{n}").content for n in ("bucket", "share", "files"))]
    assert not any(s in a for s in secrets for a in answers)
    home = hub.data_dir / "homes" / "bea" / ".nbspaces"
    for plain in (home / "spaces.json", home / "accepted.json"):
        assert not any(s in plain.read_bytes() for s in secrets), plain
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            blobs = [Path(f"/proc/{pid}/cmdline").read_bytes(), Path(f"/proc/{pid}/environ").read_bytes()]
        except OSError:
            continue
        if any(b"jupyterhub" in b or b"singleuser" in b or b"ipykernel" in b for b in blobs):
            assert not any(s in b for s in secrets for b in blobs), f"a secret in process {pid}"
