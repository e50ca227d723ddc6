"""The D4Science workspace driver against a StorageHub stand-in (tests/standins/d4science.py)."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbspaces.drivers import DriverError, Problem, driver_class
from nbspaces.drivers.d4science import PAGE, D4ScienceDriver
from tests.standins.d4science import StorageHubStandIn
from tests.waiting import wait_until

MIB = 1024 * 1024


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[StorageHubStandIn]:
    server = StorageHubStandIn(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def driver(hub: StorageHubStandIn) -> Iterator[D4ScienceDriver]:
    d = D4ScienceDriver({"url": hub.url}, {"token": hub.add_token()})
    yield d
    d.close()


def pieces(seed: int, count: int, size: int = MIB) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        yield rng.randbytes(size)


def digest(chunks: Iterator[bytes]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def test_the_kind_is_registered_with_defaults() -> None:
    cls = driver_class("d4science")
    assert cls is D4ScienceDriver
    d = cls({}, {"token": "t"})  # as login will build it: no settings, the token only
    assert d.url == "https://api.d4science.org/workspace" and d.label == "D4Science workspace"
    assert cls.credential_fields["token"].secret and tuple(cls.setting_fields) == ("url", "label", "verify_tls")


def test_list_and_stat(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    (hub.disk("data")).mkdir()
    hub.disk("data/table.csv").write_bytes(b"a,b\n1,2\n")
    hub.disk("notes.txt").write_text("hello")
    driver.check()
    root = {e.name: e for e in driver.list("")}
    # The Workspace's Trash and MySpecialFolders are not children, as in StorageHub.
    assert set(root) == {"data", "notes.txt"}
    assert root["data"].is_dir and root["data"].size is None
    assert not root["notes.txt"].is_dir and root["notes.txt"].size == 5
    assert root["notes.txt"].mimetype == "text/plain" and root["notes.txt"].modified is not None
    entry = driver.stat("data/table.csv")
    assert (entry.name, entry.size, entry.mimetype, entry.is_dir) == ("table.csv", 8, "text/csv", False)
    assert driver.stat("").is_dir
    with pytest.raises(DriverError) as e:
        driver.stat("data/nothing.csv")
    assert e.value.problem == Problem.NOT_FOUND and "'data/nothing.csv' does not exist" in e.value.message
    with pytest.raises(DriverError) as e:
        driver.list("notes.txt")
    assert e.value.problem == Problem.INVALID


def test_a_big_folder_lists_in_pages(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    big = hub.disk("big")
    big.mkdir()
    for i in range(3000):
        (big / f"f{i:05d}.txt").write_bytes(b"x" * (i % 7))
    before = len(hub.calls)
    entries = driver.list("big")
    assert len(entries) == 3000 and len({e.name for e in entries}) == 3000
    assert {e.size for e in entries} == set(range(7))
    pages = hub.count("GET", "/children/paged")
    assert pages == 3000 // PAGE + 1  # one request per page, never one per entry
    assert len(hub.calls) - before == pages + 1  # and one to find the folder


def test_read_whole_and_ranges(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    data = random.Random(1).randbytes(3 * MIB + 17)
    hub.disk("blob.bin").write_bytes(data)
    assert b"".join(driver.read("blob.bin")) == data
    assert b"".join(driver.read("blob.bin", 10, 19)) == data[10:20]
    assert b"".join(driver.read("blob.bin", 2 * MIB + 5)) == data[2 * MIB + 5:]
    assert b"".join(driver.read("blob.bin", MIB - 3, 2 * MIB + 3)) == data[MIB - 3:2 * MIB + 4]
    assert b"".join(driver.read("blob.bin", len(data) - 1, len(data) + 100)) == data[-1:]
    assert all(len(p) <= 256 * 1024 for p in driver.read("blob.bin"))
    with pytest.raises(DriverError) as e:
        driver.read("missing.bin")
    assert e.value.problem == Problem.NOT_FOUND
    with pytest.raises(DriverError) as e:
        driver.read("")  # StorageHub would send a ZIP: a folder is not read as a file
    assert e.value.problem == Problem.INVALID


@pytest.mark.parametrize(("status", "body", "problem"), [
    # Old gx-rest answers 406 for every exception: the exception class decides.
    (406, '{"message": "item already exists", "exceptionClass": "o.g.ItemAlreadyExistsException"}', Problem.EXISTS),
    (400, '{"message": "item already exists", "exceptionClass": "o.g.ItemAlreadyExistsException"}', Problem.EXISTS),
    (500, '{"message": "javax.jcr.PathNotFoundException: /Home/a/Workspace/x",'
          ' "exceptionClass": "o.g.BackendGenericError"}', Problem.NOT_FOUND),
    (404, '{"message": "Item with id 1 not found", "exceptionClass": "o.g.IdNotFoundException"}', Problem.NOT_FOUND),
    (406, '{"message": "not allowed", "exceptionClass": "o.g.UserNotAuthorizedException"}', Problem.FORBIDDEN),
    (403, "Forbidden", Problem.FORBIDDEN),
    (401, "", Problem.AUTH),
    (503, "<html>Service Unavailable</html>", Problem.UNAVAILABLE),
    (400, '{"message": "invalid name", "exceptionClass": "o.g.InvalidCallParameters"}', Problem.INVALID),
    (500, '{"message": "generic error in the backend", "exceptionClass": "o.g.BackendGenericError"}', Problem.OTHER),
])
def test_errors_are_mapped_from_status_and_exception_class(status: int, body: str, problem: Problem) -> None:
    error = D4ScienceDriver({}, {"token": "t"})._error(status, body, "read", "x")
    assert error.problem == problem and "<html>" not in error.message


def test_write_streams_20_mib_from_a_generator(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    driver.mkdir("up")
    tracemalloc.start()
    try:
        driver.write("up/big.bin", pieces(7, 20), 20 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"the upload held {peak / MIB:.1f} MiB"
    stored = hub.disk("up/big.bin")
    assert stored.stat().st_size == 20 * MIB
    assert digest(iter([stored.read_bytes()])) == digest(pieces(7, 20))
    assert [e.name for e in driver.list("up")] == ["big.bin"]  # no temporary name left behind


def test_write_of_unknown_size_is_spooled_then_streamed(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    tracemalloc.start()
    try:
        driver.write("spooled.bin", pieces(3, 12))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB
    assert digest(iter([hub.disk("spooled.bin").read_bytes()])) == digest(pieces(3, 12))


def test_write_replaces_a_file_and_leaves_nothing_else(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    driver.write("a.txt", [b"first"], 5)
    driver.write("a.txt", [b"second", b" version"], 14)
    assert hub.disk("a.txt").read_bytes() == b"second version"
    assert [e.name for e in driver.list("")] == ["a.txt"]
    assert hub.trash_items() == []  # the replaced file went for good, not to the trash
    driver.mkdir("d")
    with pytest.raises(DriverError) as e:
        driver.write("d", [b"x"], 1)
    assert e.value.problem == Problem.EXISTS
    assert [e.name for e in driver.list("")] == ["a.txt", "d"]


def test_a_failed_upload_leaves_no_file(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * MIB
        raise TimeoutError("the upload stopped sending")

    with pytest.raises(TimeoutError):  # the caller's own failure comes out as itself
        driver.write("half.bin", broken(), 4 * MIB)
    with pytest.raises(DriverError) as e:
        driver.write("short.bin", [b"abc"], 10)
    assert e.value.problem == Problem.INVALID
    with pytest.raises(TimeoutError):
        driver.write("spooled.bin", broken())
    assert driver.list("") == []
    # The stand-in drops what it staged once it sees the cut.
    wait_until(lambda: list(hub.staging.iterdir()) == [], "the staged upload is dropped", 5, interval=0.05)


def test_mkdir_rename_move_copy_delete(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    driver.mkdir("a")
    driver.mkdir("a/b")
    driver.write("a/b/f.txt", [b"content"], 7)
    with pytest.raises(DriverError) as e:
        driver.mkdir("a")
    assert e.value.problem == Problem.EXISTS

    driver.move("a/b/f.txt", "a/b/g.txt")  # a rename
    driver.move("a/b/g.txt", "a/g.txt")  # a move
    driver.write("a/b/g.txt", [b"other"], 5)
    driver.move("a/g.txt", "a/b/h.txt")  # a move and a rename, past an item with the old name
    assert sorted(e.name for e in driver.list("a/b")) == ["g.txt", "h.txt"]
    assert b"".join(driver.read("a/b/h.txt")) == b"content"
    with pytest.raises(DriverError) as e:
        driver.move("a/b/g.txt", "a/b/h.txt")
    assert e.value.problem == Problem.EXISTS
    with pytest.raises(DriverError) as e:
        driver.move("a", "a/b/a")
    assert e.value.problem == Problem.INVALID

    driver.copy("a/b/h.txt", "copy.txt")
    driver.copy("a", "a2")  # folders are copied file by file
    assert b"".join(driver.read("copy.txt")) == b"content"
    assert sorted(e.name for e in driver.list("a2/b")) == ["g.txt", "h.txt"]
    assert b"".join(driver.read("a2/b/g.txt")) == b"other"
    with pytest.raises(DriverError) as e:
        driver.copy("copy.txt", "a2")
    assert e.value.problem == Problem.EXISTS

    driver.delete("copy.txt")
    driver.delete("a2")
    assert sorted(e.name for e in driver.list("")) == ["a"]
    trashed = {t["holds"][0]: t for t in hub.trash_items()}
    assert set(trashed) == {"copy.txt", "a2"}  # deleted items land in the trash
    assert trashed["a2"]["folder"] and not trashed["copy.txt"]["folder"]
    assert trashed["copy.txt"]["deletedFrom"] == "/Home/alice/Workspace"
    with pytest.raises(DriverError) as e:
        driver.delete("")
    assert e.value.problem == Problem.FORBIDDEN


def test_trash_and_vre_folders_as_storagehub_serves_them(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    driver.write("gone.txt", [b"x"], 1)
    driver.delete("gone.txt")
    session, base = driver.session, hub.url
    auth = {"Authorization": f"Bearer {driver.credentials['token']}"}
    trash = session.get(f"{base}/trash", headers=auth).json()["item"]
    assert trash["name"] == "Trash" and trash["@class"].endswith(".FolderItem")
    (holder,) = session.get(f"{base}/items/{trash['id']}/children", headers=auth).json()["itemlist"]
    assert holder["@class"].endswith(".TrashItem") and holder["lenght"] == 1
    (inside,) = session.get(f"{base}/items/{holder['id']}/children", headers=auth).json()["itemlist"]
    assert inside["name"] == "gone.txt" and inside["trashed"]
    (vre,) = session.get(f"{base}/vrefolders", headers=auth).json()["itemlist"]
    assert vre["@class"].endswith(".VreFolder") and vre["name"] == "gcube-devsec-devVRE"


def test_a_revoked_token_asks_to_log_in_again(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    driver.check()
    hub.revoke(driver.credentials["token"])
    for call in (driver.check, lambda: driver.list(""), lambda: driver.write("x.txt", [b"x"], 1)):
        with pytest.raises(DriverError) as e:
            call()
        assert e.value.problem == Problem.AUTH
        assert e.value.message == "D4Science refused the access token; log in again"
    assert driver.credentials["token"] not in e.value.message
    with pytest.raises(DriverError) as e:
        D4ScienceDriver({"url": hub.url}, None).check()
    assert e.value.problem == Problem.AUTH


def test_an_offline_service_is_unavailable(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    hub.disk("f.txt").write_text("x")
    driver.check()  # a pooled connection exists
    hub.go_offline()
    for call in (driver.check, lambda: driver.stat("f.txt"), lambda: driver.write("y.txt", [b"y"], 1)):
        with pytest.raises(DriverError) as e:
            call()
        assert e.value.problem == Problem.UNAVAILABLE
        assert "cannot be reached" in e.value.message and "try again later" in e.value.message
    hub.go_online()
    assert driver.stat("f.txt").size == 1


def test_connections_closed_by_the_server_are_opened_again(hub: StorageHubStandIn, driver: D4ScienceDriver) -> None:
    hub.disk("f.txt").write_text("x")
    for _ in range(5):
        driver.check()
        hub.drop_connections()
        assert driver.stat("f.txt").size == 1
        assert b"".join(driver.read("f.txt")) == b"x"
