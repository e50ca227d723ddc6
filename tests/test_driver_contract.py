"""The driver contract (nbspaces/drivers/base.py), one suite run against every kind, as fsspec's
abstract tests are against every filesystem: WebDAV (wsgidav, rclone), Onedata and D4Science
(their stand-ins), S3 (rclone serve s3, moto), SMB (Samba's smbd), SFTP (OpenSSH's sshd, rclone
serve sftp). A kind added later adds its servers to SITES and keeps every behaviour here.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import boto3
import pytest

from nbspaces.drivers import Driver, DriverError, Problem
from nbspaces.drivers.d4science import D4ScienceDriver
from nbspaces.drivers.onedata import OnedataDriver
from nbspaces.drivers.s3 import S3Driver
from nbspaces.drivers.sftp import HostKeyUnknown, SFTPDriver
from nbspaces.drivers.smb import FORBIDDEN_CHARACTERS, SMBDriver
from nbspaces.drivers.webdav import WebDAVDriver
from tests.standins.d4science import StorageHubStandIn
from tests.standins.onedata import OnedataStandIn
from tests.storage_servers import moto_s3, rclone_s3, rclone_sftp, smbd, sshd
from tests.webdav_servers import rclone, wsgidav

MIB = 1024 * 1024


@dataclass
class Site:
    """A server of some kind, and how to get drivers for it."""

    name: str
    make: Callable[[bool], Driver]  # a driver with the right (True) or wrong (False) credentials
    top: str = ""  # the folder of the driver the tests work in ("climate" for a Onedata space)
    stop: Callable[[], None] | None = None  # stop and start again on the same address, for fault tests
    start: Callable[[], None] | None = None
    checks_credentials: bool = True  # moto's S3 takes any keys
    forbidden: str = ""  # characters the kind does not allow in names
    closers: list[Callable[[], None]] = field(default_factory=list)


def _sites(base: Path) -> Iterator[Site]:
    dav = wsgidav(base / "wsgidav")
    yield Site("webdav-wsgidav", lambda ok: WebDAVDriver(
        {"url": dav.url}, {"username": dav.user, "password": dav.password if ok else "wrong"}),
        forbidden="?;",  # WsgiDAV cuts a MOVE's destination at '?' and ';' (mar10/wsgidav#139): refused up front
        stop=dav.stop, start=dav.start, closers=[dav.stop])
    rdav = rclone(base / "rclone-webdav")
    yield Site("webdav-rclone", lambda ok: WebDAVDriver(
        {"url": rdav.url}, {"username": rdav.user, "password": rdav.password if ok else "wrong"}),
        stop=rdav.stop, start=rdav.start, closers=[rdav.stop])
    od = OnedataStandIn(base / "onedata").start()
    user = od.add_user("Ada")
    od.add_space("climate", [user])
    token = od.create_token(user)
    yield Site("onedata", lambda ok: OnedataDriver({"oneprovider": od.provider_domain(), "verify_tls": od.verify},
                                                   {"token": token if ok else token[:-4] + "AAAA"}),
               top="climate", closers=[od.stop])
    sh = StorageHubStandIn(base / "d4science")
    d4_token = sh.add_token()
    yield Site("d4science", lambda ok: D4ScienceDriver({"url": sh.url}, {"token": d4_token if ok else "wrong"}),
               stop=sh.go_offline, start=sh.go_online, closers=[sh.stop])
    rs3 = rclone_s3(base / "rclone-s3")
    rs3.bucket("contract")
    yield Site("s3-rclone", lambda ok: S3Driver(
        {"endpoint": rs3.url, "bucket": "contract"},
        {"access_key_id": rs3.user, "secret_access_key": rs3.password if ok else "wrong"}),
        stop=rs3.stop, start=rs3.start, closers=[rs3.stop])
    moto = moto_s3(base / "moto")
    boto3.client("s3", endpoint_url=moto.url, aws_access_key_id="k", aws_secret_access_key="s",
                 region_name="us-east-1").create_bucket(Bucket="contract")
    yield Site("s3-moto", lambda ok: S3Driver(
        {"endpoint": moto.url, "bucket": "contract"}, {"access_key_id": moto.user, "secret_access_key": moto.password}),
        checks_credentials=False, closers=[moto.stop])
    smb = smbd(base / "smbd")
    yield Site("smb", lambda ok: SMBDriver(
        {"host": "127.0.0.1", "port": smb.port, "share": smb.share},
        {"username": smb.user, "password": smb.password if ok else "wrong"}),
        forbidden=FORBIDDEN_CHARACTERS, stop=smb.stop, start=smb.start, closers=[smb.stop])
    for server in (sshd(base / "sshd"), rclone_sftp(base / "rclone-sftp")):
        settings = {"host": "127.0.0.1", "port": server.port, "host_key": server.host_public_key,
                    "folder": str(server.root) if server.name == "sshd" else ""}
        if server.client_key is not None:
            good = {"username": server.user, "private_key": server.client_key.read_text()}
            bad = {"username": "nobody", "private_key": good["private_key"]}
        else:
            good = {"username": server.user, "password": server.password}
            bad = {**good, "password": "wrong"}
        yield Site(f"sftp-{server.name.split()[0]}",
                   lambda ok, s=settings, g=good, b=bad: SFTPDriver(s, g if ok else b),
                   stop=server.stop, start=server.start, closers=[server.stop])


SITE_NAMES = ["webdav-wsgidav", "webdav-rclone", "onedata", "d4science", "s3-rclone", "s3-moto", "smb",
              "sftp-sshd", "sftp-rclone"]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    base = tmp_path_factory.mktemp("servers")
    made: dict[str, Site] = {}
    try:
        for site in _sites(base):
            made[site.name] = site
        yield made
    finally:
        for site in made.values():
            for close in site.closers:
                close()


@dataclass
class Space:
    """A fresh folder of a site for one test: ``p(name)`` is a path in it."""

    site: Site
    driver: Driver
    folder: str

    def p(self, *names: str) -> str:
        return "/".join([self.folder, *names])

    def leftovers(self) -> list[str]:
        return sorted(e.name for e in self.driver.list(self.folder) if e.name.startswith("."))


@pytest.fixture(params=SITE_NAMES)
def space(request: pytest.FixtureRequest, sites: dict[str, Site]) -> Iterator[Space]:
    site = sites[request.param]
    driver = site.make(True)
    folder = "/".join(p for p in (site.top, f"t-{secrets.token_hex(3)}") if p)
    driver.mkdir(folder)
    yield Space(site, driver, folder)
    try:
        driver.delete(folder)
    finally:
        driver.close()


def pieces(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def read(space: Space, name: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(space.driver.read(space.p(name), start, end))


# -- files ----------------------------------------------------------------------------------


def test_a_file_written_in_pieces_reads_back_the_same_and_is_listed(space: Space) -> None:
    data = os.urandom(3 * MIB + 7)
    space.driver.write(space.p("data.bin"), pieces(data), len(data))
    assert hashlib.sha256(read(space, "data.bin")).digest() == hashlib.sha256(data).digest()
    entry = space.driver.stat(space.p("data.bin"))
    assert (entry.name, entry.is_dir, entry.size) == ("data.bin", False, len(data))
    assert entry.modified is None or entry.modified.tzinfo == UTC  # in UTC (HTTP dates need it)
    listed = {e.name: e for e in space.driver.list(space.folder)}
    assert listed["data.bin"].size == len(data) and not listed["data.bin"].is_dir
    space.driver.write(space.p("empty.txt"), iter([]), 0)
    assert read(space, "empty.txt") == b"" and space.driver.stat(space.p("empty.txt")).size == 0


def test_ranges_are_inclusive_and_stop_at_the_end(space: Space) -> None:
    data = os.urandom(2 * MIB + 11)
    space.driver.write(space.p("r.bin"), pieces(data), len(data))
    for start, end in [(0, 0), (5, 9), (MIB - 3, MIB + 3), (len(data) - 4, None), (len(data) - 4, len(data) + 100)]:
        assert read(space, "r.bin", start, end) == data[start:None if end is None else end + 1], (start, end)


def test_a_write_replaces_a_file_whole_and_leaves_nothing_beside_it(space: Space) -> None:
    space.driver.write(space.p("v.txt"), iter([b"version one, longer"]))
    space.driver.write(space.p("v.txt"), iter([b"v2"]))
    assert read(space, "v.txt") == b"v2"
    assert space.leftovers() == []


def test_a_failed_write_changes_nothing(space: Space) -> None:
    space.driver.write(space.p("keep.txt"), iter([b"the old version"]))

    def cut() -> Iterator[bytes]:
        yield os.urandom(6 * MIB)  # past one multipart part or upload block
        raise ConnectionAbortedError("the upload was cut")

    for name in ("keep.txt", "new.txt"):
        with pytest.raises((ConnectionAbortedError, DriverError)):
            space.driver.write(space.p(name), cut())
    assert read(space, "keep.txt") == b"the old version"
    with pytest.raises(DriverError) as missing:
        space.driver.stat(space.p("new.txt"))
    assert missing.value.problem is Problem.NOT_FOUND
    assert space.leftovers() == []


def test_what_a_killed_process_left_is_tidied(space: Space) -> None:
    """An unfinished upload is deleted; a version moved aside by a replace that was cut off gets
    its name back (or is deleted if a newer file has the name)."""
    d = space.driver
    d.write(space.p(".a.txt.0123abcd.nbspaces-upload"), iter([b"part of a"]))
    d.write(space.p(".b.txt.89abcdef.nbspaces-old"), iter([b"b before the cut"]))
    d.write(space.p(".c.txt.deadbeef.nbspaces-old"), iter([b"c before"]))
    d.write(space.p("c.txt"), iter([b"c after"]))
    d.clean_uploads(space.folder)
    assert space.leftovers() == []
    assert read(space, "b.txt") == b"b before the cut" and read(space, "c.txt") == b"c after"
    assert {e.name for e in d.list(space.folder)} == {"b.txt", "c.txt"}


# -- folders ---------------------------------------------------------------------------------


def test_folders_are_made_copied_moved_and_deleted(space: Space) -> None:
    d = space.driver
    d.mkdir(space.p("f"))
    with pytest.raises(DriverError) as again:
        d.mkdir(space.p("f"))
    assert again.value.problem is Problem.EXISTS
    d.write(space.p("f", "a.txt"), iter([b"a"]))
    d.mkdir(space.p("f", "sub"))
    d.write(space.p("f", "sub", "b.txt"), iter([b"b"]))
    d.copy(space.p("f"), space.p("g"))
    assert sorted(e.name for e in d.list(space.p("g"))) == ["a.txt", "sub"]
    assert read(space, "g/sub/b.txt") == b"b" and read(space, "f/sub/b.txt") == b"b"
    d.move(space.p("g", "a.txt"), space.p("moved.txt"))
    assert read(space, "moved.txt") == b"a" and "a.txt" not in {e.name for e in d.list(space.p("g"))}
    d.move(space.p("g"), space.p("h"))
    assert read(space, "h/sub/b.txt") == b"b"
    d.delete(space.p("h"))
    assert {e.name for e in d.list(space.folder)} == {"f", "moved.txt"}


def test_moves_and_copies_onto_an_existing_name_are_refused_and_change_nothing(space: Space) -> None:
    d = space.driver
    d.write(space.p("one.txt"), iter([b"1"]))
    d.write(space.p("two.txt"), iter([b"2"]))
    for transfer in (d.move, d.copy):
        with pytest.raises(DriverError) as refused:
            transfer(space.p("one.txt"), space.p("two.txt"))
        assert refused.value.problem is Problem.EXISTS and "two.txt" in refused.value.message
    assert read(space, "one.txt") == b"1" and read(space, "two.txt") == b"2"


def test_what_does_not_exist_is_not_found(space: Space) -> None:
    d = space.driver
    for call in (lambda: d.stat(space.p("nope")), lambda: read(space, "nope"), lambda: d.list(space.p("nope")),
                 lambda: d.delete(space.p("nope")), lambda: d.move(space.p("nope"), space.p("x")),
                 lambda: d.copy(space.p("nope"), space.p("x"))):
        with pytest.raises(DriverError) as missing:
            call()
        assert missing.value.problem is Problem.NOT_FOUND and "nope" in missing.value.message
    # Into a folder that does not exist: nothing is made on the way (object stores would).
    d.write(space.p("here.txt"), iter([b"x"]))
    for call in (lambda: d.write(space.p("nope", "x.txt"), iter([b"x"])), lambda: d.mkdir(space.p("nope", "sub")),
                 lambda: d.move(space.p("here.txt"), space.p("nope", "x.txt")),
                 lambda: d.copy(space.p("here.txt"), space.p("nope", "x.txt"))):
        with pytest.raises(DriverError) as missing:
            call()
        assert missing.value.problem is Problem.NOT_FOUND, missing.value.message
    assert "nope" not in {e.name for e in d.list(space.folder)}


NAMES = ["a%41b.txt", "x%2fy.txt", "50% off.txt", "#hash.txt", "what?.txt", "sp ace.txt", "été ünï.txt",
         "a+b&c=d.txt", "a;b.txt", "中文.txt"]


def test_names_with_special_characters_round_trip(space: Space) -> None:
    d = space.driver
    allowed = [n for n in NAMES if not set(n) & set(space.site.forbidden)]
    for i, name in enumerate(allowed):
        d.write(space.p(name), iter([f"{i}".encode()]))
    assert sorted(e.name for e in d.list(space.folder)) == sorted(allowed)
    for i, name in enumerate(allowed):
        assert read(space, name) == f"{i}".encode() and d.stat(space.p(name)).name == name
    renamed = "".join(c for c in "re why? %20 #1.txt" if c not in space.site.forbidden)
    d.move(space.p(allowed[0]), space.p(renamed))
    d.copy(space.p(renamed), space.p(f"copy {renamed}"))
    assert read(space, renamed) == b"0" and read(space, f"copy {renamed}") == b"0"
    for name in set(NAMES) - set(allowed):  # refused with a reason that names the character, nothing made
        with pytest.raises(DriverError) as refused:
            d.write(space.p(name), iter([b"x"]))
        bad = set(name) & set(space.site.forbidden)
        assert refused.value.problem is Problem.INVALID and all(c in refused.value.message for c in bad)
    assert space.leftovers() == []


# -- credentials and faults ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SITE_NAMES)
def test_wrong_credentials_are_refused_as_such(name: str, sites: dict[str, Site]) -> None:
    site = sites[name]
    if not site.checks_credentials:
        pytest.skip(f"{name} takes any credentials")
    driver = site.make(False)
    with pytest.raises(DriverError) as refused:
        driver.check()
    assert refused.value.problem is Problem.AUTH, refused.value.message


@pytest.mark.parametrize("name", SITE_NAMES)
def test_a_stopped_server_is_unavailable_and_works_again_when_back(name: str, sites: dict[str, Site]) -> None:
    site = sites[name]
    if site.stop is None or site.start is None:
        pytest.skip(f"{name}'s server cannot be restarted at the same address")
    driver = site.make(True)
    driver.check()
    site.stop()
    try:
        fresh = site.make(True)
        with pytest.raises(DriverError) as down:
            fresh.check()
        assert down.value.problem is Problem.UNAVAILABLE and "try again" in down.value.message
    finally:
        site.start()
    driver.check()  # the same driver recovers: no restart of the user's server needed
    driver.close()


def test_an_sftp_server_not_seen_before_shows_its_key_for_acceptance(sites: dict[str, Site]) -> None:
    known = sites["sftp-sshd"].make(True)
    assert isinstance(known, SFTPDriver)
    settings = {k: v for k, v in known.settings.items() if k != "host_key"}
    with pytest.raises(HostKeyUnknown) as unknown:
        SFTPDriver(settings, known.credentials).check()
    assert unknown.value.problem is Problem.UNTRUSTED
    assert unknown.value.offer == {"host_key": known.settings["host_key"]}
    assert unknown.value.fingerprint in unknown.value.message and unknown.value.fingerprint.startswith("SHA256:")


@pytest.mark.parametrize("name", SITE_NAMES)
def test_a_server_that_stops_mid_transfer_fails_cleanly_and_recovers(name: str, sites: dict[str, Site]) -> None:
    """Stopped mid-download: the read fails with the driver's error (not a raw client one, not a
    short file passed off as whole). Stopped mid-upload: the write fails, and nothing has the name."""
    site = sites[name]
    if site.stop is None or site.start is None:
        pytest.skip(f"{name}'s server cannot be restarted at the same address")
    driver = site.make(True)
    folder = "/".join(p for p in (site.top, f"cut-{secrets.token_hex(3)}") if p)
    driver.mkdir(folder)
    data = os.urandom(40 * MIB)
    driver.write(f"{folder}/big.bin", pieces(data, MIB), len(data))
    reader = driver.read(f"{folder}/big.bin")
    got = len(next(reader))
    site.stop()
    try:
        with pytest.raises(DriverError) as cut:
            for piece in reader:
                got += len(piece)
        assert cut.value.problem in (Problem.UNAVAILABLE, Problem.OTHER) and got < len(data), cut.value.message
    finally:
        site.start()

    def stops_midway() -> Iterator[bytes]:
        for i in range(40):
            if i == 4:
                site.stop()
            yield data[i * MIB:(i + 1) * MIB]

    try:
        with pytest.raises(DriverError):
            driver.write(f"{folder}/up.bin", stops_midway(), len(data))
    finally:
        site.start()
    fresh = site.make(True)
    try:
        assert "up.bin" not in {e.name for e in fresh.list(folder)}
        assert read(Space(site, fresh, folder), "big.bin") == data  # back, and what was there is whole
    finally:
        fresh.delete(folder)
        fresh.close()
        driver.close()
