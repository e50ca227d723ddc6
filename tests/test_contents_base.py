"""One set of contents API behaviours, run against the home and every remote kind.

Each new remote kind adds its space to SPACES; the behaviours stay the same.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from tests.realhub import Hub, start_hub
from tests.webdav_servers import DavServer, rclone, wsgidav

SPACES = ["home", "webdav-wsgidav", "webdav-rclone"]
NB = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                 "source": "print('é')"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    base = tmp_path_factory.mktemp("base")
    servers: list[DavServer] = [wsgidav(base), rclone(base)]
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.remote = {{"dav1": {{"kind": "webdav", "url": "{servers[0].url}", "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.user_kinds = ["webdav"]
        c.NBSpaces.posix_mounts = False
        c.NBSpaces.cull_timeout = 0
    """)
    hub.ensure_user("bea")
    hub.spawn("bea")
    creds = {"username": servers[0].user, "password": servers[0].password}
    assert hub.server("bea", "PUT", "nbspaces/api/spaces/dav1/credentials", json=creds).status_code == 200
    body = {"name": "dav2", "kind": "webdav", "settings": {"url": servers[1].url},
            "credentials": {"username": servers[1].user, "password": servers[1].password}}
    assert hub.server("bea", "POST", "nbspaces/api/spaces", json=body).status_code == 201
    try:
        yield hub
    finally:
        hub.api("DELETE", "/users/bea/server")
        hub.stop()
        for s in servers:
            s.stop()


@pytest.fixture(params=SPACES)
def root(request: pytest.FixtureRequest, hub: Hub) -> Iterator[str]:
    """A fresh folder for the test in the space under test."""
    top = {"home": "", "webdav-wsgidav": "dav1", "webdav-rclone": "dav2"}[request.param]
    folder = f"{top}/t-{request.node.name.split('[')[0][-20:]}".strip("/")
    assert hub.contents("bea", "PUT", folder, json={"type": "directory"}).status_code in (200, 201)
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
    assert hub.contents("bea", "GET", f"{root}", params={"type": "file"}).status_code == 400


def test_hidden_files_are_not_listed(hub: Hub, root: str) -> None:
    hub.put_text("bea", f"{root}/seen.txt", "s")
    r = hub.contents("bea", "PUT", f"{root}/.hidden", json={"type": "file", "format": "text", "content": "h"})
    assert r.status_code in (201, 400)  # jupyter_server refuses hidden names unless allowed
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
