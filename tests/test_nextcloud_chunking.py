"""B2DROP (Nextcloud) uploads go through Nextcloud's chunked upload v2, against a Nextcloud stand-in.

The stand-in (tests/standins/nextcloud.py) also reproduces the bug the chunking avoids: a PUT with
chunked transfer encoding is answered 201 and stored as an empty file, as Nextcloud behind php-fpm does.
"""

from __future__ import annotations

import hashlib
import math
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nbspaces.drivers.base import DriverError, Problem
from nbspaces.drivers.webdav import WebDAVDriver
from tests.standins.nextcloud import MIN_CHUNK, NextcloudStandIn
from tests.webdav_servers import wsgidav

MIB = 1024 * 1024
CHUNK_MIB = 10  # the driver's default


@pytest.fixture(scope="module")
def nc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NextcloudStandIn]:
    with NextcloudStandIn(tmp_path_factory.mktemp("nextcloud")) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_log(nc: NextcloudStandIn) -> None:
    nc.reset_log()


def driver(nc: NextcloudStandIn, url: str | None = None, **settings: object) -> WebDAVDriver:
    return WebDAVDriver({"url": url or nc.legacy_url, "label": "B2DROP", **settings},
                        {"username": nc.login, "password": nc.password})


def pieces(mib: int, fail_after: int | None = None) -> Iterator[bytes]:
    """``mib`` pieces of 1 MiB, made one at a time (as JupyterLab's chunks arrive)."""
    for i in range(1, mib + 1):
        if fail_after is not None and i > fail_after:
            raise RuntimeError("the browser went away")
        yield hashlib.sha256(str(i).encode()).digest() * (MIB // 32)


def digest_of(mib: int) -> str:
    h = hashlib.sha256()
    for piece in pieces(mib):
        h.update(piece)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def chunk_puts(nc: NextcloudStandIn) -> list[dict]:
    return [r for r in nc.requests() if r["method"] == "PUT" and r["path"].startswith("/remote.php/dav/uploads/")]


def test_a_64_mib_upload_goes_in_chunks_and_arrives_whole(nc: NextcloudStandIn) -> None:
    d = driver(nc)
    tracemalloc.start()
    try:
        d.write("big.bin", pieces(64))  # size unknown: the case a streamed PUT loses on Nextcloud
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert file_digest(nc.files / "big.bin") == digest_of(64)
    puts = chunk_puts(nc)
    assert len(puts) == math.ceil(64 / CHUNK_MIB) == 7
    assert [r["stored"] for r in puts] == [CHUNK_MIB * MIB] * 6 + [4 * MIB]
    assert [r["path"].rsplit("/", 1)[1] for r in puts] == [f"{n:05d}" for n in range(1, 8)]
    upload = puts[0]["path"].rsplit("/", 1)[0]
    assert upload.startswith("/remote.php/dav/uploads/alice/")
    # Every chunk with a Content-Length (never chunked encoding) and the final file as Destination.
    final = f"{nc.files_url}/big.bin"
    assert all(r["transfer_encoding"] is None and r["destination"] == final for r in puts)
    methods = [(r["method"], r["status"]) for r in nc.requests()]
    assert methods[0] == ("MKCOL", 201) and methods[-2:] == [("MOVE", 201), ("PROPFIND", 207)]
    move = nc.requests()[-2]
    assert move["path"] == f"{upload}/.file" and move["destination"] == final
    assert move["total_length"] == str(64 * MIB)
    assert nc.count("PUT") == 7  # no PUT of the whole file anywhere, no temporary name
    assert nc.staging() == []
    assert sorted(p.name for p in nc.files.iterdir() if p.name.startswith(".")) == []
    # The client held about one chunk, never the file.
    assert peak < 3 * CHUNK_MIB * MIB, f"peak {peak / MIB:.1f} MiB"
    print(f"\n64 MiB upload: {len(puts)} chunk PUTs, tracemalloc peak {peak / MIB:.1f} MiB")


def test_an_interrupted_upload_leaves_nothing(nc: NextcloudStandIn) -> None:
    d = driver(nc)
    with pytest.raises(RuntimeError, match="went away"):
        d.write("half.bin", pieces(64, fail_after=25))
    assert not (nc.files / "half.bin").exists()
    assert nc.staging() == []
    assert len(chunk_puts(nc)) == 2  # 20 MiB went, the next 5 MiB were never sent
    deletes = [r for r in nc.requests() if r["method"] == "DELETE"]
    assert len(deletes) == 1 and deletes[0]["path"].startswith("/remote.php/dav/uploads/alice/")
    assert deletes[0]["status"] == 204


def test_replacing_an_existing_file_with_a_known_size(nc: NextcloudStandIn) -> None:
    (nc.files / "results").mkdir(exist_ok=True)
    (nc.files / "results" / "run.bin").write_bytes(b"old contents")
    d = driver(nc, nc.files_url, chunk_mib=5)  # the /remote.php/dav/files/<user> form
    d.write("results/run.bin", pieces(12), size=12 * MIB)
    assert file_digest(nc.files / "results" / "run.bin") == digest_of(12)
    puts = chunk_puts(nc)
    assert [r["stored"] for r in puts] == [5 * MIB, 5 * MIB, 2 * MIB]
    assert all(r["total_length"] == str(12 * MIB) for r in puts)
    move = next(r for r in nc.requests() if r["method"] == "MOVE")
    assert move["status"] == 204 and move["destination"] == f"{nc.files_url}/results/run.bin"
    assert nc.staging() == []
    assert d.stat("results/run.bin").size == 12 * MIB


def test_small_and_empty_files(nc: NextcloudStandIn) -> None:
    d = driver(nc)
    d.write("note.txt", [b"t,v\n", b"1,2\n"])
    d.write("empty.txt", [])
    d.write("sized-empty.txt", iter([b""]), size=0)
    assert (nc.files / "note.txt").read_bytes() == b"t,v\n1,2\n"
    assert (nc.files / "empty.txt").read_bytes() == b"" and (nc.files / "sized-empty.txt").read_bytes() == b""
    assert [r["length"] for r in chunk_puts(nc)] == ["8", "0", "0"]  # one chunk each, with its length
    assert nc.staging() == []
    assert b"".join(d.read("note.txt")) == b"t,v\n1,2\n"


def test_a_missing_folder_fails_and_leaves_no_chunks(nc: NextcloudStandIn) -> None:
    with pytest.raises(DriverError) as e:
        driver(nc).write("no/such/folder/f.bin", pieces(1))
    assert e.value.problem is Problem.NOT_FOUND and "the folder of 'no/such/folder/f.bin'" in e.value.message
    assert nc.staging() == []


def test_a_login_that_is_not_the_user_id_uses_the_user_of_the_files_url(tmp_path: Path) -> None:
    with NextcloudStandIn(tmp_path, user="u4711", login="ada@example.org") as other:
        d = WebDAVDriver({"url": other.files_url}, {"username": "ada@example.org", "password": other.password})
        d.write("a.bin", pieces(11))
        assert file_digest(other.files / "a.bin") == digest_of(11)
        assert len(chunk_puts(other)) == 2 and chunk_puts(other)[0]["path"].startswith("/remote.php/dav/uploads/u4711/")
        # The legacy URL knows only the login: its uploads folder is 404, so the driver falls back
        # to the streamed upload, which works with a known size ...
        legacy = WebDAVDriver({"url": other.legacy_url}, {"username": "ada@example.org", "password": other.password})
        legacy.write("b.bin", pieces(3), size=3 * MIB)
        assert file_digest(other.files / "b.bin") == digest_of(3)
        # ... and with an unknown size meets the bug, which its size check turns into an error.
        with pytest.raises(DriverError, match="kept 0 of the 3145728 bytes"):
            legacy.write("c.bin", pieces(3))
        assert not (other.files / "c.bin").exists() and other.staging() == []


# -- the bug the chunking avoids ------------------------------------------------------


def test_the_standin_stores_a_streamed_put_as_an_empty_file(nc: NextcloudStandIn) -> None:
    r = requests.put(f"{nc.legacy_url}/streamed.bin", data=pieces(3), auth=nc.auth, timeout=30)
    assert r.status_code == 201  # success, says the server ...
    assert (nc.files / "streamed.bin").stat().st_size == 0  # ... and keeps nothing
    logged = nc.requests()[-1]
    assert logged["transfer_encoding"] == "chunked" and logged["dropped"] == 3 * MIB
    # The same bytes with a Content-Length are kept.
    r = requests.put(f"{nc.files_url}/sized.bin", data=b"".join(pieces(3)), auth=nc.auth, timeout=30)
    assert r.status_code == 201 and (nc.files / "sized.bin").stat().st_size == 3 * MIB


def test_the_streamed_path_still_catches_the_bug_by_its_size_check(nc: NextcloudStandIn) -> None:
    d = driver(nc, nc.alias_url)  # Nextcloud behind a URL the driver cannot tell is Nextcloud's
    with pytest.raises(DriverError) as e:
        d.write("lost.bin", pieces(3))
    assert e.value.problem is Problem.OTHER and "B2DROP kept 0 of the 3145728 bytes sent" in e.value.message
    assert not (nc.files / "lost.bin").exists()
    assert [p.name for p in nc.files.iterdir() if "nbspaces-upload" in p.name] == []
    assert nc.count("MKCOL") == 0 and nc.count(contains="/uploads/") == 0
    # While the Nextcloud URL of the same server stores the same upload whole.
    driver(nc).write("lost.bin", pieces(3))
    assert file_digest(nc.files / "lost.bin") == digest_of(3)


# -- the stand-in holds clients to chunking v2's rules ------------------------------------


def test_standin_enforces_the_chunking_v2_rules(nc: NextcloudStandIn) -> None:
    s = requests.Session()
    s.auth = nc.auth
    upload = f"{nc.server_url}/remote.php/dav/uploads/alice/rules-test"
    dest = {"Destination": f"{nc.files_url}/rules.bin"}
    assert s.request("MKCOL", upload).status_code == 400  # no Destination
    assert s.request("MKCOL", upload, headers={"Destination": f"{nc.legacy_url}/rules.bin"}).status_code == 403
    assert s.request("MKCOL", upload, headers=dest).status_code == 201
    assert s.request("MKCOL", upload, headers=dest).status_code == 405
    assert s.put(f"{upload}/00001", data=b"x").status_code == 400  # no Destination
    bad_name = s.put(f"{upload}/first", data=b"x", headers=dest)
    assert bad_name.status_code == 400 and "must be numeric between 1 and 10000" in bad_name.text
    assert s.put(f"{upload}/10001", data=b"x", headers=dest).status_code == 400
    assert s.put(f"{upload}/00001", data=b"a" * 1000, headers=dest).status_code == 201
    assert s.put(f"{upload}/00002", data=b"b" * 10, headers=dest).status_code == 201
    assert s.get(f"{upload}/00001").status_code == 405
    small = s.request("MOVE", f"{upload}/.file", headers=dest)
    assert small.status_code == 400 and "Chunk too small" in small.text
    assert s.put(f"{upload}/1", data=b"a" * MIN_CHUNK, headers=dest).status_code == 201  # 1 is 00001
    wrong = s.request("MOVE", f"{upload}/.file", headers={**dest, "OC-Total-Length": "5"})
    assert wrong.status_code == 400 and "do not sum up to 5" in wrong.text
    assert not (nc.files / "rules.bin").exists()
    done = s.request("MOVE", f"{upload}/.file", headers={**dest, "OC-Total-Length": str(MIN_CHUNK + 10)})
    assert done.status_code == 201
    assert (nc.files / "rules.bin").read_bytes() == b"a" * MIN_CHUNK + b"b" * 10
    assert nc.staging() == []
    assert s.request("MOVE", f"{upload}/.file", headers=dest).status_code == 404
    assert s.request("MKCOL", f"{nc.server_url}/remote.php/dav/uploads/bob/x", headers=dest).status_code == 404
    assert requests.request("MKCOL", upload, headers=dest, auth=(nc.login, "wrong")).status_code == 401


def test_chunk_mib_is_a_validated_setting(nc: NextcloudStandIn) -> None:
    assert "chunk_mib" in WebDAVDriver.setting_fields
    for bad in (4, 1025, "10", 7.5, True, 0):
        with pytest.raises(DriverError) as e:
            WebDAVDriver({"url": nc.legacy_url, "chunk_mib": bad}, None)
        assert e.value.problem is Problem.INVALID and "chunk_mib" in e.value.message
    assert WebDAVDriver({"url": nc.legacy_url, "chunk_mib": 5}, None).chunk_size == 5 * MIB
    assert WebDAVDriver({"url": nc.legacy_url, "chunk_mib": 1024}, None).chunk_size == 1024 * MIB
    assert WebDAVDriver({"url": nc.legacy_url}, None).chunk_size == CHUNK_MIB * MIB
    assert WebDAVDriver({"url": nc.legacy_url, "chunk_mib": None}, None).chunk_size == CHUNK_MIB * MIB


def test_a_refused_login_names_nextclouds_app_password(nc: NextcloudStandIn, tmp_path: Path) -> None:
    """B2DROP (Nextcloud) asks for an app password; other WebDAV servers take a plain password."""
    wrong = WebDAVDriver({"url": nc.legacy_url, "label": "B2DROP"}, {"username": nc.login, "password": "wrong"})
    with pytest.raises(DriverError) as e:
        wrong.check()
    assert e.value.problem is Problem.AUTH and e.value.message == "B2DROP refused the user name or app password"
    plain = wsgidav(tmp_path)
    try:
        other = WebDAVDriver({"url": plain.url, "label": "My WebDAV"}, {"username": plain.user, "password": "wrong"})
        with pytest.raises(DriverError) as e:
            other.check()
        assert e.value.problem is Problem.AUTH and e.value.message == "My WebDAV refused the user name or password"
    finally:
        plain.stop()
