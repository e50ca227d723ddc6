"""The home's contents API through a real hub and proxy: bad paths get a clear 4xx, never a 500;
checkpoints and /files/ keep to the user's spaces; a chunked upload shows at once, quietly."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realhub import Hub, start_hub


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Path]]:
    root = tmp_path_factory.mktemp("home-http")
    datasets = root / "src" / "datasets"
    (datasets / ".ipynb_checkpoints").mkdir(parents=True)
    (datasets / "stations.csv").write_text("station,lat\nPAY,46.81\n")
    (datasets / ".ipynb_checkpoints" / "stations-checkpoint.csv").write_text("the admin's\n")
    hub = start_hub(root / "hub", f"""
        c.NBSpaces.home = {{"size": "20MiB"}}
        c.NBSpaces.shared = {{"datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}}}}
        c.NBSpaces.cull_timeout = 0
    """)
    for name in ("hana", "ivo"):
        hub.ensure_user(name)
    hub.spawn("hana")
    try:
        yield hub, datasets
    finally:
        for name in ("hana", "ivo"):
            hub.api("DELETE", f"/users/{name}/server")
        hub.stop()


def test_encoded_and_missing_paths_through_checkpoints_are_4xx(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    for path in ("%2fetc%2fpasswd", "..%5c..%5cetc%5cpasswd", "%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/etc/passwd",
                 "nope.txt"):
        r = hub.server("hana", "POST", f"api/contents/{path}/checkpoints")
        assert r.status_code == 404, (path, r.status_code, r.text)
    hub.put_text("hana", "x.txt", "x")
    for cp in ("..%2f..%2fx", "%2e%2e", "other"):
        r = hub.server("hana", "DELETE", f"api/contents/x.txt/checkpoints/{cp}")
        assert r.status_code in (400, 404, 405), (cp, r.status_code, r.text)  # %2e%2e: the client's '..'

    assert hub.server("hana", "GET", "files/a%00b.txt").status_code == 400
    assert hub.contents("hana", "GET", "a%00b.txt").status_code == 400


def test_files_do_not_follow_a_link_out_of_the_home(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    home = hub.data_dir / "homes" / "hana"
    (home / "escape").symlink_to("/etc")
    try:
        r = hub.server("hana", "GET", "files/escape/hostname")
        assert r.status_code == 403 and "leads out" in r.text
    finally:
        (home / "escape").unlink()


def test_checkpoints_do_not_reach_another_users_home(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("ivo")
    assert hub.put_text("ivo", "x-checkpoint.txt", "ivo's own\n").status_code == 201
    home, other = hub.data_dir / "homes" / "hana", hub.data_dir / "homes" / "ivo"
    assert hub.contents("hana", "PUT", "nb2", json={"type": "directory"}).status_code == 201
    hub.put_text("hana", "nb2/x.txt", "hana's\n")
    (home / "nb2" / ".ipynb_checkpoints").symlink_to(other)
    for method, url in (("POST", "checkpoints"), ("POST", "checkpoints/checkpoint"),
                        ("DELETE", "checkpoints/checkpoint")):
        r = hub.contents("hana", method, f"nb2/x.txt/{url}")
        assert r.status_code == 403 and "leads out" in r.json()["message"], (method, url, r.text)
    assert (other / "x-checkpoint.txt").read_text() == "ivo's own\n"
    assert (home / "nb2" / "x.txt").read_text() == "hana's\n"
    assert sorted(p.name for p in other.iterdir() if p.is_file()) == ["x-checkpoint.txt"]


def test_a_reader_never_deletes_the_admins_checkpoint(site: tuple[Hub, Path]) -> None:
    hub, datasets = site
    r = hub.contents("hana", "DELETE", "datasets/stations.csv/checkpoints/checkpoint")
    assert r.status_code == 404
    assert hub.contents("hana", "POST", "datasets/stations.csv/checkpoints").status_code == 201
    assert hub.contents("hana", "DELETE", "datasets/stations.csv/checkpoints/checkpoint").status_code == 204
    assert (datasets / ".ipynb_checkpoints" / "stations-checkpoint.csv").read_text() == "the admin's\n"


def test_a_chunked_upload_is_listed_at_once_and_logs_no_warning(site: tuple[Hub, Path]) -> None:
    """JupyterLab lists the folder after every chunk, and a refresh asked while a listing is under way
    gets that listing: the listing under way when the last chunk is answered must have the file."""
    hub, _ = site
    assert hub.contents("hana", "PUT", "ups", json={"type": "directory"}).status_code == 201
    home = hub.data_dir / "homes" / "hana" / "ups"
    for i in range(1000):
        (home / f"f{i:04}.txt").write_text("x")
    stop = threading.Event()
    listings: list[tuple[float, float, set[str]]] = []  # asked, answered, names

    def lister() -> None:
        while not stop.is_set():
            asked = time.monotonic()
            names = {e["name"] for e in hub.contents("hana", "GET", "ups").json()["content"]}
            listings.append((asked, time.monotonic(), names))

    thread = threading.Thread(target=lister)
    thread.start()
    answered = {}
    try:
        for n in range(8):
            for chunk in (1, 2, -1):
                model = {"type": "file", "format": "base64", "chunk": chunk,
                         "content": base64.b64encode(b"p" * (100_000 if chunk != -1 else 10)).decode()}
                assert hub.contents("hana", "PUT", f"ups/u{n}.bin", json=model).status_code in (200, 201)
            answered[f"u{n}.bin"] = time.monotonic()
    finally:
        stop.set()
        thread.join()
    # A listing answered within 50 ms of the chunk may be read second by this client's two threads.
    late = [name for name, at in answered.items()
            for asked, got, names in listings if asked < at < got - 0.05 and name not in names]
    assert late == []
    assert "nbspaces-upload" not in hub.log()
