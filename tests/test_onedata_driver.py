"""The Onedata driver against the Onezone/Oneprovider stand-in (itself checked against Onedata's
own client in test_onedata_standin.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbspaces.drivers import DriverError, Problem, onedata
from nbspaces.drivers.onedata import BLOCK, OnedataDriver
from tests.standins.onedata import OnedataStandIn
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def od(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnedataStandIn]:
    standin = OnedataStandIn(tmp_path_factory.mktemp("od")).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def world(od: OnedataStandIn) -> dict[str, str]:
    user = od.add_user("Ada")
    space = od.add_space("climate", [user])
    od.add_space("genomics", [user])
    return {"user": user, "space": space, "token": od.create_token(user)}


def driver(od: OnedataStandIn, token: str, **settings: object) -> OnedataDriver:
    # Only the Oneprovider is given: the driver finds the Onezone from its configuration.
    return OnedataDriver({"oneprovider": od.provider_domain(), "verify_tls": od.verify, **settings}, {"token": token})


def test_spaces_are_folders_and_listing_follows_pages(od: OnedataStandIn, world: dict[str, str]) -> None:
    d = driver(od, world["token"])
    d.check()
    assert sorted(e.name for e in d.list("")) == ["climate", "genomics"]
    for i in range(5000):
        od.add_file(world["space"], f"many/f{i:05d}.txt", b"x")
    before, lookups = od.count("GET", "/children"), od.count("POST", "/lookup-file-id")
    names = {e.name for e in d.list("climate/many")}
    assert len(names) == 5000 and "f04999.txt" in names  # past the first 1,000
    assert od.count("GET", "/children") - before <= 6  # one request per page of 1,000
    assert od.count("POST", "/lookup-file-id") - lookups == 1  # the folder's path once, not once a page
    # The contents manager stats a folder before it lists it: the stat finds the folder's id.
    lookups = od.count("POST", "/lookup-file-id")
    assert d.stat("climate/many").is_dir and len(d.list("climate/many")) == 5000
    assert od.count("POST", "/lookup-file-id") - lookups == 1


def test_reads_stream_in_ranged_blocks_and_writes_go_in_large_blocks(
        od: OnedataStandIn, world: dict[str, str]) -> None:
    d = driver(od, world["token"])
    data = os.urandom(2 * BLOCK + 123)
    writes = od.count("PUT", "/content")
    d.write("climate/big.bin", (data[i:i + 65536] for i in range(0, len(data), 65536)), len(data))
    assert od.count("PUT", "/content") - writes == 3  # 3 blocks, not 321 small writes
    stored = od.space_dir(world["space"]) / "big.bin"
    assert stored.read_bytes() == data
    assert not [p for p in stored.parent.iterdir() if "nbspaces-upload" in p.name]
    gets = od.count("GET", "/content")
    pieces = list(d.read("climate/big.bin"))
    assert b"".join(pieces) == data
    assert od.count("GET", "/content") - gets == 1  # a whole read is one streamed GET
    assert max(len(p) for p in pieces) <= 1024 * 1024  # in pieces, never a whole block in memory
    assert b"".join(d.read("climate/big.bin", BLOCK - 5, BLOCK + 4)) == data[BLOCK - 5:BLOCK + 5]
    assert b"".join(d.read("climate/big.bin", 0, 99)) == data[:100]  # a head, as a browser asks for it
    assert od.download_ranges[-1] == "bytes=0-99"  # one small ranged GET, not the whole file's stream
    assert b"".join(d.read("climate/big.bin", len(data) - 10)) == data[-10:]  # to the end
    assert b"".join(d.read("climate/big.bin", BLOCK, 3 * BLOCK)) == data[BLOCK:]  # past the end: up to it
    assert d.stat("climate/big.bin").size == len(data)
    # Replaced by a write, the path names another file: a read gets the new bytes, not the old id's.
    d.write("climate/big.bin", [b"new"], 3)
    assert b"".join(d.read("climate/big.bin")) == b"new"


def test_a_moved_file_is_not_read_under_its_old_name(od: OnedataStandIn, world: dict[str, str]) -> None:
    """Onedata keeps a file's id when it moves, so an id the driver remembers must go with the move."""
    d = driver(od, world["token"])
    d.write("climate/before.txt", [b"moved"], 5)
    assert d.stat("climate/before.txt").size == 5  # the driver now knows its id
    d.move("climate/before.txt", "climate/after.txt")
    with pytest.raises(DriverError) as err:
        b"".join(d.read("climate/before.txt"))
    assert err.value.problem is Problem.NOT_FOUND
    assert b"".join(d.read("climate/after.txt")) == b"moved"
    d.delete("climate/after.txt")


def test_remembered_file_ids_are_bounded(od: OnedataStandIn, world: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onedata, "ID_CACHE_MAX", 8)  # 1,024 in use; 8 keeps the test short
    d = driver(od, world["token"])
    for i in range(12):
        od.add_file(world["space"], f"ids/f{i:02d}.txt", b"x")
        assert d.stat(f"climate/ids/f{i:02d}.txt").size == 1
    assert 0 < len(d._ids) <= 8  # a long-running server does not keep every id it saw


def test_folders_rename_delete(od: OnedataStandIn, world: dict[str, str]) -> None:
    d = driver(od, world["token"])
    d.mkdir("climate/runs")
    d.write("climate/runs/a.txt", [b"a"], 1)
    d.move("climate/runs/a.txt", "climate/runs/b.txt")
    assert [e.name for e in d.list("climate/runs")] == ["b.txt"]
    with pytest.raises(DriverError) as err:
        d.move("climate/runs/b.txt", "climate/big.bin")
    assert err.value.problem is Problem.EXISTS
    d.copy("climate/runs", "genomics/runs-copy")
    assert [e.name for e in d.list("genomics/runs-copy")] == ["b.txt"]
    d.delete("climate/runs/b.txt")
    assert d.list("climate/runs") == []
    with pytest.raises(DriverError) as err:
        d.stat("climate/nope.txt")
    assert err.value.problem is Problem.NOT_FOUND


def test_revoked_token_and_offline_provider(od: OnedataStandIn, world: dict[str, str], tmp_path: Path) -> None:
    token = od.create_token(world["user"], name="to-revoke")
    d = driver(od, token)
    d.check()
    od.revoke_token(token)
    with pytest.raises(DriverError) as err:
        d.list("climate")
    assert err.value.problem is Problem.AUTH and "log out and in again" in err.value.message
    d = driver(od, world["token"])
    od.go_offline(how="no_onezone")
    try:
        with pytest.raises(DriverError) as err:
            d.list("climate")
        assert err.value.problem is Problem.UNAVAILABLE
    finally:
        od.go_online()
    # It recovers on a retry, once the client's cached view of the providers (2 s) is renewed.
    wait_until(lambda: d.list("climate"), "the listing works again", 10, interval=0.5, ignore=(DriverError,))


def test_a_replace_whose_last_move_fails_keeps_the_old_version(od: OnedataStandIn, world: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The new file takes the name in a move; if that move fails, the old file still has the name
    (the driver removed the old file first, and lost both versions)."""
    d = driver(od, world["token"])
    d.write("climate/keep.txt", iter([b"the old version"]))
    client = d.client()
    real_move = client.move

    def move(space: str, src: str, dst_space: str, dst: str) -> Any:
        if src.endswith(".nbspaces-upload"):  # the new version taking its name: the provider fails
            raise ConnectionError("the provider went away")
        return real_move(space, src, dst_space, dst)

    monkeypatch.setattr(client, "move", move)
    with pytest.raises((DriverError, ConnectionError)):
        d.write("climate/keep.txt", iter([b"the new version"]))
    monkeypatch.undo()
    assert b"".join(d.read("climate/keep.txt")) == b"the old version"
    assert sorted(e.name for e in d.list("climate") if e.name.startswith(".keep")) == []
