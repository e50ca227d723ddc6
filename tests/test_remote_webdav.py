"""Remote WebDAV spaces through a real hub and single-user server, against real WebDAV servers.

B2DROP is pre-defined in the catalog and served here by wsgidav; users add their own
WebDAV space, served by rclone serve webdav.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.kernel import run_code
from tests.realhub import Hub, plan_of, start_hub
from tests.waiting import wait_until
from tests.webdav_servers import DavServer, rclone, wsgidav


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, DavServer, DavServer]]:
    base = tmp_path_factory.mktemp("webdav")
    # A long socket timeout: a download the server forgets to stop stays open (cheroot's own 10 s would close it).
    dav, other = wsgidav(base, log_requests=True, socket_timeout=120), rclone(base)
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.remote = {{"b2drop": {{"kind": "webdav", "url": "{dav.url}", "label": "B2DROP",
                                        "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.user_kinds = ["webdav"]
        c.NBSpaces.cull_timeout = 0
    """)
    hub.ensure_user("ada")
    hub.spawn("ada")
    try:
        yield hub, dav, other
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()
        dav.stop()
        other.stop()


def spaces(hub: Hub) -> dict[str, dict]:
    return {s["name"]: s for s in plan_of(hub, "ada")["spaces"]}


def connect(hub: Hub, dav: DavServer) -> requests.Response:
    return hub.server("ada", "PUT", "nbspaces/api/spaces/b2drop/credentials",
                      json={"username": dav.user, "password": dav.password})


def own_space(hub: Hub, other: DavServer, name: str) -> None:
    """A space of ada's own on the rclone server, added unless this module added it already."""
    if name not in spaces(hub):
        body = {"name": name, "kind": "webdav", "settings": {"url": other.url},
                "credentials": {"username": other.user, "password": other.password}}
        r = hub.server("ada", "POST", "nbspaces/api/spaces", json=body)
        assert r.status_code == 201, r.text


def test_credentials_are_tested_before_they_are_stored(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    assert spaces(hub)["b2drop"]["status"] == "needs-credentials"
    fields = spaces(hub)["b2drop"]["credential_fields"]
    assert {f["name"]: f["secret"] for f in fields} == {"username": False, "password": True}
    r = hub.server("ada", "PUT", "nbspaces/api/spaces/b2drop/credentials",
                   json={"username": dav.user, "password": "not-the-password"})
    # B2DROP is served by wsgidav here, not a Nextcloud: no app password (test_nextcloud_chunking has that one).
    assert r.status_code == 400 and r.json()["message"] == "B2DROP refused the user name or password"
    assert not (hub.data_dir / "homes" / "ada" / ".nbspaces" / "credentials").exists()  # nothing stored
    assert spaces(hub)["b2drop"]["status"] == "needs-credentials"
    r = connect(hub, dav)
    assert r.status_code == 200 and r.json()["status"] == "mounted"
    assert dav.password not in r.text
    stored = (hub.data_dir / "homes" / "ada" / ".nbspaces" / "credentials")
    assert stored.stat().st_mode & 0o777 == 0o600 and dav.password.encode() not in stored.read_bytes()


def test_contents_operations_on_webdav(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    root = {e["name"]: e for e in hub.contents("ada", "GET", "").json()["content"]}
    assert root["b2drop"]["type"] == "directory"
    assert hub.contents("ada", "PUT", "b2drop/results", json={"type": "directory"}).status_code == 201
    assert hub.put_text("ada", "b2drop/results/run.csv", "t,v\n1,2\n").status_code == 201
    assert (dav.root / "results" / "run.csv").read_text() == "t,v\n1,2\n"
    model = hub.contents("ada", "GET", "b2drop/results/run.csv").json()
    assert model["content"] == "t,v\n1,2\n" and model["format"] == "text" and model["writable"] is True
    r = hub.contents("ada", "PATCH", "b2drop/results/run.csv", json={"path": "b2drop/results/renamed.csv"})
    assert r.status_code == 200
    assert not (dav.root / "results" / "run.csv").exists() and (dav.root / "results" / "renamed.csv").exists()
    # New untitled file in the remote folder, as the file browser's "New File" does.
    r = hub.contents("ada", "POST", "b2drop/results", json={"type": "file", "ext": ".txt"})
    assert r.status_code == 201 and r.json()["path"] == "b2drop/results/untitled.txt"
    # Copy between spaces, both ways, streamed.
    assert hub.put_text("ada", "local.txt", "from home\n").status_code == 201
    assert hub.contents("ada", "POST", "b2drop", json={"copy_from": "local.txt"}).status_code == 201
    assert (dav.root / "local.txt").read_text() == "from home\n"
    r = hub.contents("ada", "POST", "", json={"copy_from": "b2drop/results/renamed.csv"})
    assert r.status_code == 201, r.text
    assert (hub.data_dir / "homes" / "ada" / "renamed.csv").read_text() == "t,v\n1,2\n"
    # Move from the home into the space: gone from the home, there on the server.
    r = hub.contents("ada", "PATCH", "local.txt", json={"path": "b2drop/moved.txt"})
    assert r.status_code == 200, r.text
    assert not (hub.data_dir / "homes" / "ada" / "local.txt").exists() and (dav.root / "moved.txt").exists()
    assert hub.contents("ada", "DELETE", "b2drop/moved.txt").status_code == 204
    # A whole folder moves between spaces too.
    hub.contents("ada", "PUT", "project", json={"type": "directory"})
    hub.put_text("ada", "project/a.txt", "a\n")
    assert hub.contents("ada", "PATCH", "project", json={"path": "b2drop/project"}).status_code == 200
    assert (dav.root / "project" / "a.txt").read_text() == "a\n"
    assert not (hub.data_dir / "homes" / "ada" / "project").exists()
    assert not (dav.root / "moved.txt").exists()
    assert hub.contents("ada", "DELETE", "b2drop").status_code == 403  # the space itself


def test_notebooks_in_webdav_have_checkpoints(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# remote"}], "metadata": {},
          "nbformat": 4, "nbformat_minor": 5}
    assert hub.contents("ada", "PUT", "b2drop/a.ipynb", json={"type": "notebook", "content": nb}).status_code == 201
    assert "".join(json.loads((dav.root / "a.ipynb").read_text())["cells"][0]["source"]) == "# remote"
    got = hub.contents("ada", "GET", "b2drop/a.ipynb").json()
    assert got["type"] == "notebook" and got["content"]["cells"][0]["source"] == "# remote"
    cp = hub.contents("ada", "POST", "b2drop/a.ipynb/checkpoints")
    assert cp.status_code == 201
    nb["cells"][0]["source"] = "# changed"
    hub.contents("ada", "PUT", "b2drop/a.ipynb", json={"type": "notebook", "content": nb})
    assert hub.contents("ada", "GET", "b2drop/a.ipynb/checkpoints").json()[0]["id"] == cp.json()["id"]
    assert hub.contents("ada", "POST", f"b2drop/a.ipynb/checkpoints/{cp.json()['id']}").status_code == 204
    assert "".join(json.loads((dav.root / "a.ipynb").read_text())["cells"][0]["source"]) == "# remote"


def test_big_chunked_upload_is_byte_identical(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    chunk_size, chunks = 1024 * 1024, 200  # 200 MiB, as JupyterLab sends it: 1 MiB base64 chunks
    digest = hashlib.sha256()
    session = requests.Session()
    session.headers["Authorization"] = f"token {hub.user_token('ada')}"
    url = f"{hub.url}/user/ada/api/contents/b2drop/big.bin"
    for i in range(1, chunks + 1):
        piece = hashlib.sha256(str(i).encode()).digest() * (chunk_size // 32)
        digest.update(piece)
        number = -1 if i == chunks else i
        r = session.put(url, json={"type": "file", "format": "base64", "chunk": number,
                                   "content": base64.b64encode(piece).decode()}, timeout=120)
        assert r.status_code == 201, r.text  # a new file, every chunk as in the home
        if i == 1:
            assert not (dav.root / "big.bin").exists()  # nothing under its name until the end
    with open(dav.root / "big.bin", "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == digest.hexdigest()
    assert [p.name for p in dav.root.iterdir() if "nbspaces-upload" in p.name] == []


def test_interrupted_upload_leaves_no_partial_file(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    piece = base64.b64encode(os.urandom(1024 * 1024)).decode()
    for i in (1, 2):
        r = hub.contents("ada", "PUT", "b2drop/half.bin",
                         json={"type": "file", "format": "base64", "chunk": i, "content": piece})
        assert r.status_code == 201
    assert not (dav.root / "half.bin").exists()
    # The user starts the same upload again: the abandoned one is dropped, the new one arrives.
    for i in (1, -1):
        hub.contents("ada", "PUT", "b2drop/half.bin", json={"type": "file", "format": "base64", "chunk": i,
                                                            "content": piece})
    assert (dav.root / "half.bin").stat().st_size == 2 * 1024 * 1024


def test_files_handler_streams_with_range(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (dav.root / "blob.bin").write_bytes(data)
    head = hub.server("ada", "HEAD", "files/b2drop/blob.bin")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    assert head.headers["Accept-Ranges"] == "bytes"
    part = hub.server("ada", "GET", "files/b2drop/blob.bin", headers={"Range": "bytes=1048570-1048589"})
    assert part.status_code == 206 and part.content == data[1048570:1048590]
    assert part.headers["Content-Range"] == f"bytes 1048570-1048589/{len(data)}"
    tail = hub.server("ada", "GET", "files/b2drop/blob.bin", headers={"Range": "bytes=-7"})
    assert tail.content == data[-7:]
    whole = hub.server("ada", "GET", "files/b2drop/blob.bin")
    assert whole.content == data
    bad = hub.server("ada", "GET", "files/b2drop/blob.bin", headers={"Range": f"bytes={len(data) + 10}-"})
    assert bad.status_code == 416


def test_range_downloads_across_pieces_are_byte_exact(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    data = os.urandom(5 * 1024 * 1024 + 17)  # more pieces than the handler reads ahead
    (dav.root / "pieces.bin").write_bytes(data)
    for first, last in ((0, len(data) - 1), (1000, 3 * 1024 * 1024 + 999), (len(data) - 1, len(data) - 1),
                        (4 * 1024 * 1024 - 1, 4 * 1024 * 1024)):
        r = hub.server("ada", "GET", "files/b2drop/pieces.bin", headers={"Range": f"bytes={first}-{last}"})
        assert r.status_code == 206 and r.content == data[first:last + 1]
        assert int(r.headers["Content-Length"]) == last - first + 1
    assert hub.server("ada", "GET", "files/b2drop/pieces.bin").content == data


def test_a_dropped_download_releases_the_storage_stream(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    big = dav.root / "dropped.bin"
    with open(big, "wb") as f:
        f.truncate(512 * 1024 * 1024)  # far more than every buffer on the way holds
    r = hub.server("ada", "GET", "files/b2drop/dropped.bin", stream=True)
    assert r.status_code == 200 and len(r.raw.read(1024 * 1024)) == 1024 * 1024
    assert dav.has_open(big)  # the server is still reading it for us
    r.close()  # the user cancels the download
    wait_until(lambda: not dav.has_open(big), "the server stops reading a download no one receives")
    assert hub.server("ada", "HEAD", "files/b2drop/dropped.bin").status_code == 200  # the server is fine


def test_an_upload_under_way_costs_no_request_per_chunk(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    piece = os.urandom(64 * 1024)
    chunks = [1, 2, 3, 4, 5, 6, 7, -1]
    before = len(dav.logged_requests())
    statuses = [hub.contents("ada", "PUT", "b2drop/counted.bin",
                             json={"type": "file", "format": "base64", "chunk": i,
                                   "content": base64.b64encode(piece).decode()}).status_code for i in chunks]
    # jupyter_server asks whether the file exists before every chunk: nbspaces answers from its
    # own upload, not with a PROPFIND each time (one for jupyter_server's first question, one when
    # the upload starts, one for the model of the stored file).
    asked = [r for r in dav.logged_requests()[before:] if r == ("PROPFIND", "/counted.bin")]
    assert len(asked) <= 3
    assert statuses == [201] * len(chunks)  # a new file, as in the home
    assert (dav.root / "counted.bin").read_bytes() == piece * len(chunks)
    # Uploaded again over itself: it exists now, so every chunk is a save (200), as in the home.
    statuses = [hub.contents("ada", "PUT", "b2drop/counted.bin",
                             json={"type": "file", "format": "base64", "chunk": i,
                                   "content": base64.b64encode(piece[::-1]).decode()}).status_code for i in (1, -1)]
    assert statuses == [200, 200] and (dav.root / "counted.bin").read_bytes() == piece[::-1] * 2


def test_a_folder_of_ten_thousand_files_lists_completely(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    many = dav.root / "many"
    many.mkdir()
    for i in range(10_000):
        (many / f"f{i:05d}.txt").write_bytes(b"x")
    listing = hub.contents("ada", "GET", "b2drop/many")
    assert listing.status_code == 200
    names = {e["name"] for e in listing.json()["content"]}
    assert len(names) == 10_000 and "f09999.txt" in names


def test_paths_that_leave_the_space_are_refused(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    # '/' encoded, so that no client on the way resolves the dots before the server sees them.
    for path in ("b2drop/a/..%2F..%2F..%2Fetc/passwd", "b2drop/..%2F..%2Fetc"):
        r = hub.contents("ada", "GET", path)
        assert r.status_code == 400 and "leaves the space" in r.json()["message"], (path, r.status_code, r.text)


def test_a_stopped_webdav_server_fails_only_its_space(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    dav.stop()
    try:
        r = hub.contents("ada", "GET", "b2drop")
        assert r.status_code == 503 and "cannot be reached" in r.json()["message"]
        retry = hub.server("ada", "POST", "nbspaces/api/spaces/b2drop/retry").json()
        assert retry["status"] == "error" and "B2DROP cannot be reached" in retry["reason"]
        assert hub.put_text("ada", "still-works.txt", "home is fine\n").status_code == 201
        assert hub.contents("ada", "GET", "").status_code == 200  # the file browser still lists
    finally:
        dav.start()
    assert hub.server("ada", "POST", "nbspaces/api/spaces/b2drop/retry").json()["status"] == "mounted"
    assert hub.contents("ada", "GET", "b2drop").status_code == 200


def test_users_add_their_own_space_of_an_allowed_kind(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, _, other = site
    body = {"name": "mydav", "kind": "webdav", "settings": {"url": other.url, "label": "My WebDAV"},
            "credentials": {"username": other.user, "password": "wrong"}}
    r = hub.server("ada", "POST", "nbspaces/api/spaces", json=body)
    assert r.status_code == 400 and "My WebDAV refused" in r.json()["message"]
    assert "mydav" not in spaces(hub)
    body["credentials"]["password"] = other.password
    r = hub.server("ada", "POST", "nbspaces/api/spaces", json=body)
    assert r.status_code == 201 and r.json()["status"] == "mounted"
    assert hub.put_text("ada", "mydav/note.txt", "mine\n").status_code == 201
    assert (other.root / "note.txt").read_text() == "mine\n"
    r = hub.server("ada", "POST", "nbspaces/api/spaces", json={"name": "s3x", "kind": "s3", "settings": {}})
    assert r.status_code == 403 and "do not let users add 's3' spaces" in r.json()["message"], r.text


def test_remembered_spaces_come_back_with_no_browser_open(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, other = site
    connect(hub, dav)
    own_space(hub, other, "kept")
    hub.stop_server("ada")
    hub.spawn("ada")
    def both_mounted() -> bool:
        current = spaces(hub)
        return current["b2drop"]["status"] == "mounted" and current.get("kept", {}).get("status") == "mounted"

    wait_until(both_mounted, "b2drop and the remembered space are connected again", 20, interval=0.3)


def test_secrets_appear_nowhere(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, other = site
    connect(hub, dav)
    own_space(hub, other, "kept")  # both servers' passwords are in use
    secrets = [dav.password.encode(), other.password.encode()]
    assert not any(s in hub.log().encode() for s in secrets)
    assert not any(s in hub.server("ada", "GET", "nbspaces/api/spaces").content for s in secrets)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            blobs = [Path(f"/proc/{pid}/cmdline").read_bytes(), Path(f"/proc/{pid}/environ").read_bytes()]
        except OSError:
            continue
        if any(b"jupyterhub" in b or b"singleuser" in b for b in blobs):
            assert not any(s in b for s in secrets for b in blobs), f"a secret in process {pid}"
    forget = hub.server("ada", "DELETE", "nbspaces/api/spaces/b2drop/credentials")
    assert forget.json()["status"] == "needs-credentials"
    assert hub.contents("ada", "GET", "b2drop").status_code == 503


def test_python_api_in_a_kernel_uses_the_same_spaces(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    (dav.root / "table.csv").write_text("a,b\n1,2\n3,4\n")
    out = run_code(hub, "ada", """
import nbspaces, fsspec
print(sorted(s["name"] for s in nbspaces.spaces()))
with nbspaces.open("b2drop/table.csv") as f:
    print(f.read().splitlines()[2])
with nbspaces.open("b2drop/from-kernel.txt", "w") as f:
    f.write("written by a kernel\\n")
fs = nbspaces.filesystem("b2drop")
print(sorted(fs.ls("", detail=False))[:2])
with fsspec.open("nbspaces://b2drop/table.csv", "rb") as f:
    f.seek(4)
    print(f.read(3))
with nbspaces.open("datasets-free-home.txt", "w") as f:
    f.write("home\\n")
""")
    lines = out.splitlines()
    assert "b2drop" in lines[0] and "home" in lines[0]
    assert lines[1] == "3,4"
    assert lines[3] == "b'1,2'"
    assert (dav.root / "from-kernel.txt").read_text() == "written by a kernel\n"
    assert (hub.data_dir / "homes" / "ada" / "datasets-free-home.txt").read_text() == "home\n"


def test_terminal_command_sees_the_same_registry(site: tuple[Hub, DavServer, DavServer]) -> None:
    hub, dav, _ = site
    connect(hub, dav)
    out = run_code(hub, "ada", """
import subprocess, sys, os
bin = os.path.join(os.path.dirname(sys.executable), "nbspaces")
for args in (["list"], ["umount", "B2DROP"], ["list"], ["mount", "b2drop"], ["logout", "nosuch"]):
    r = subprocess.run([bin, *args], capture_output=True, text=True)
    print(r.returncode, r.stdout.strip().replace("\\n", " | "), r.stderr.strip())
""")
    runs = out.splitlines()
    assert runs[0].startswith("0 NAME") and "b2drop" in runs[0] and "mounted" in runs[0]
    assert runs[1] == "0 b2drop: unmounted (disconnected by you) "  # by its label, as the Data panel shows it
    assert "unmounted" in runs[2]
    assert runs[3] == "0 b2drop: mounted "
    assert runs[4] == "1  nbspaces: there is no space named or labelled 'nosuch'; `nbspaces list` shows them"


async def test_a_notebook_is_validated_once_as_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As jupyter_server reads one: nbformat validates while it reads, and the model takes that result."""
    import nbformat
    from jupyter_server.services.contents import manager
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    from nbspaces.server_extension.remote import RemoteContents
    from tests.test_faults import registry

    validations: list[object] = []

    def counted(nb: object, *args: object, **kwargs: object) -> None:
        validations.append(nb)
        return real(nb, *args, **kwargs)

    real = nbformat.validate
    monkeypatch.setattr(nbformat, "validate", counted)
    monkeypatch.setattr(manager, "validate_nb", counted)
    dav = wsgidav(tmp_path)
    try:
        (dav.root / "n.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        reg = registry(tmp_path / "home", dav.url)
        mount = await reg.set_credentials("dav", {"username": dav.user, "password": dav.password})
        cm = AsyncLargeFileManager(root_dir=str(tmp_path / "home"))
        model = await RemoteContents(reg, allow_hidden=False).get(mount, "n.ipynb", "dav/n.ipynb", True, None, None, cm)
        assert model["type"] == "notebook" and "message" not in model
        assert len(validations) == 1
    finally:
        dav.stop()


def test_a_folder_copied_within_a_space_is_copied_by_the_server(site: tuple[Hub, DavServer, DavServer]) -> None:
    """One COPY request, not every file downloaded and uploaded again through the notebook server
    (10,000 small files: 74 s that way on wsgidav, 3 s this way)."""
    hub, dav, _ = site
    connect(hub, dav)
    (dav.root / "tree" / "sub").mkdir(parents=True)
    for i in range(50):
        (dav.root / "tree" / "sub" / f"f{i}.txt").write_text(str(i))
    before = len(dav.logged_requests())
    r = hub.contents("ada", "POST", "b2drop", json={"copy_from": "b2drop/tree"})
    assert r.status_code == 201 and r.json()["path"] == "b2drop/tree-Copy1", r.text
    made = dav.logged_requests()[before:]
    assert [m for m, _ in made if m in ("COPY", "PUT", "GET", "MOVE")] == ["COPY"]
    assert sorted(p.name for p in (dav.root / "tree-Copy1" / "sub").iterdir()) == sorted(f"f{i}.txt" for i in range(50))


async def test_a_file_copied_onto_a_taken_name_replaces_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As jupyter_server's copy(from, to) does, for Python callers of the contents manager (the REST API
    refuses a POST to a file before)."""
    from tests.test_home_contents import make_site, with_webdav_space

    dav = wsgidav(tmp_path)
    try:
        cm = await with_webdav_space(make_site(tmp_path, monkeypatch), monkeypatch, dav, "rw")
        (dav.root / "a.txt").write_text("a")
        (dav.root / "b.txt").write_text("b")
        assert (await cm.copy("dav/a.txt", "dav/b.txt"))["path"] == "dav/b.txt"
        assert (dav.root / "b.txt").read_text() == "a"
    finally:
        dav.stop()
