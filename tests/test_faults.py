"""Faults of remote spaces are noticed, bounded and cleaned up; user-given URLs reach only what admins allow.

Against real WebDAV servers (wsgidav) that are stopped and restarted, and tiny servers of the
test's own (one that accepts and never answers, one that redirects elsewhere).
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tornado.web import HTTPError

from nbspaces.catalog import Catalog
from nbspaces.drivers import DriverError, Problem
from nbspaces.drivers.base import AddressGuard, Network
from nbspaces.drivers.webdav import DISCARD_AGAIN, WebDAVDriver
from nbspaces.plan import resolve
from nbspaces.server_extension.registry import Registry, RegistryError
from nbspaces.server_extension.remote import RemoteContents
from tests.realhub import Hub, plan_of, start_hub
from tests.waiting import await_until, wait_until
from tests.webdav_servers import BusyFront, DavServer, wsgidav


def registry(home: Path, url: str | None = None) -> Registry:
    remote = {"dav": {"kind": "webdav", "url": url, "label": "The DAV", "groups": {"*": "rw"}}} if url else None
    catalog = Catalog.parse(None, None, remote=remote, user_kinds=["webdav"])
    plan, _ = resolve(catalog, "ada", {}, isolation="basic", quota_enforced_by="server")
    return Registry(plan, str(home), lambda: Fernet.generate_key())


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/dav"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        sock.close()


async def test_a_service_that_never_answers_times_out_and_tests_do_not_queue(tmp_path: Path, silent: str) -> None:
    reg = registry(tmp_path, silent)
    reg.network = Network(connect_timeout=1, read_timeout=1)
    first = asyncio.ensure_future(reg.set_credentials("dav", {"username": "ada", "password": "pw"}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    for second in (reg.set_credentials("dav", {"username": "ada", "password": "other"}), reg.mount("dav")):
        with pytest.raises(RegistryError) as err:
            await second
        assert err.value.status == 409 and "already" in err.value.message and "wait for it" in err.value.message
    assert time.monotonic() - started < 0.5  # refused at once, not queued
    with pytest.raises(RegistryError) as err:
        await asyncio.wait_for(first, 10)
    assert err.value.status == 502 and "timed out" in err.value.message, err.value.message
    assert not reg.mounts["dav"].driver  # nothing was stored or connected


async def test_an_unreachable_space_turns_error_at_once_and_the_health_check_sees_it_back(tmp_path: Path) -> None:
    dav = wsgidav(tmp_path)
    try:
        reg = registry(tmp_path / "home", dav.url)
        mount = await reg.set_credentials("dav", {"username": dav.user, "password": dav.password})
        contents = RemoteContents(reg, allow_hidden=False)
        (dav.root / "sub").mkdir()
        assert [e.name for e in await contents.list(mount, "")] == ["sub"]
        dav.stop()
        with pytest.raises(HTTPError) as err:
            await contents.list(mount, "sub")  # what the file browser asks when a folder is opened
        assert err.value.status_code == 503 and "cannot be reached" in (err.value.log_message or "")
        assert mount.status == "error" and "The DAV cannot be reached" in mount.reason  # at once
        with pytest.raises(HTTPError) as err:
            await contents.list(mount, "")  # no listing from before the fault
        assert err.value.status_code == 503 and "not available" in (err.value.log_message or "")
        await reg.check_health()
        assert mount.status == "error"
        dav.start()
        await reg.check_health()
        assert mount.status == "mounted" and mount.reason == ""
        assert [e.name for e in await contents.list(mount, "sub")] == []
        # Without any operation: the health check alone notices.
        dav.stop()
        await reg.check_health()
        assert mount.status == "error" and "cannot be reached" in mount.reason
    finally:
        dav.stop()


async def test_a_space_whose_credentials_are_refused_needs_them_at_once(tmp_path: Path) -> None:
    dav = wsgidav(tmp_path)
    try:
        reg = registry(tmp_path / "home", dav.url)
        mount = await reg.set_credentials("dav", {"username": dav.user, "password": dav.password})
        contents = RemoteContents(reg, allow_hidden=False)
        dav.stop()  # the password is changed on the service
        config = tmp_path / "wsgidav.yaml"
        config.write_text(config.read_text().replace(dav.password, "a-new-one"))
        dav.password = "a-new-one"
        dav.start()
        with pytest.raises(HTTPError) as err:
            await contents.list(mount, "")
        assert err.value.status_code == 403
        assert mount.status == "needs-credentials" and mount.reason == "The DAV refused the user name or password"
    finally:
        dav.stop()


# -- user-given URLs --------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/dav",
                                 "http://[::ffff:169.254.169.254]/dav", "http://2852039166/dav"])
async def test_a_user_space_at_a_cloud_metadata_address_is_refused(tmp_path: Path, url: str) -> None:
    reg = registry(tmp_path)
    with pytest.raises(RegistryError) as err:
        await reg.add("meta", "webdav", None, {"url": url})
    assert err.value.status == 400 and "your admins do not let spaces you add reach" in err.value.message
    assert reg.mounts == {}


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Counts the requests it gets; with ``redirect`` set, answers each with a redirect there."""

    hits: list[str]
    redirect: str | None = None

    def do_any(self) -> None:
        self.hits.append(f"{self.command} {self.path}")
        if self.redirect:
            self.send_response(307)
            self.send_header("Location", self.redirect)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PROPFIND = do_PUT = do_any

    def log_message(self, *args: object) -> None:
        pass


def _serve(redirect: str | None) -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    hits: list[str] = []
    handler = type("Handler", (_Recorder,), {"hits": hits, "redirect": redirect})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


async def test_redirects_to_another_port_are_not_followed(tmp_path: Path) -> None:
    target, target_hits = _serve(None)
    port = target.server_address[1]
    redirector, hits = _serve(f"http://127.0.0.1:{port}/dav/")
    try:
        reg = registry(tmp_path)
        await reg.add("mine", "webdav", None, {"url": f"http://127.0.0.1:{redirector.server_address[1]}/dav"})
        with pytest.raises(RegistryError) as err:
            await reg.set_credentials("mine", {"username": "ada", "password": "secret"})
        assert err.value.status == 400 and "redirects to another server" in err.value.message
        assert f"http://127.0.0.1:{port}" in err.value.message and "secret" not in err.value.message
        assert hits == ["PROPFIND /dav/"] and target_hits == []  # never followed
    finally:
        for server in (target, redirector):
            server.shutdown()
            server.server_close()


def test_each_connection_is_checked_where_it_really_goes() -> None:
    """A name is resolved at each connection, and the address connected to checked: loopback is
    allowed by default (tests and `make run` serve WebDAV there) and can be denied."""
    server, hits = _serve(None)
    try:
        url = f"http://localhost:{server.server_address[1]}/dav"
        guard = AddressGuard.parse([], ["127.0.0.0/8", "::1"])
        driver = WebDAVDriver({"url": url}, {"username": "ada", "password": "pw"}, Network(guard=guard))
        with pytest.raises(DriverError) as err:
            driver.check()
        assert err.value.problem is Problem.INVALID and "localhost is at 127.0.0.1" in err.value.message
        assert hits == []
        # A more specific allowed network wins over a denied one.
        guard = AddressGuard.parse(["127.0.0.1/32"], ["127.0.0.0/8"])
        with pytest.raises(DriverError) as err:
            WebDAVDriver({"url": url}, None, Network(guard=guard)).check()
        assert err.value.problem is Problem.NOT_FOUND and hits == ["PROPFIND /dav/"]
    finally:
        server.shutdown()
        server.server_close()


# -- through a real hub: the periodic health check --------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, DavServer]]:
    base = tmp_path_factory.mktemp("faults")
    dav = wsgidav(base)
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.remote = {{"b2drop": {{"kind": "webdav", "url": "{dav.url}", "label": "B2DROP",
                                        "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.cull_timeout = 0
        c.Spawner.args = ["--SpacesApp.health_check_interval=1", "--SpacesApp.read_timeout=5"]
    """)
    hub.ensure_user("ada")
    hub.spawn("ada")
    try:
        yield hub, dav
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()
        dav.stop()


def _status_becomes(hub: Hub, status: str, timeout: float = 15) -> dict:
    def space() -> dict | None:
        found = {s["name"]: s for s in plan_of(hub, "ada")["spaces"]}["b2drop"]
        return found if found["status"] == status else None

    return wait_until(space, f"b2drop's status becomes {status}", timeout, interval=0.3)


def test_a_space_whose_server_goes_away_is_shown_in_error_and_back(site: tuple[Hub, DavServer]) -> None:
    hub, dav = site
    r = hub.server("ada", "PUT", "nbspaces/api/spaces/b2drop/credentials",
                   json={"username": dav.user, "password": dav.password})
    assert r.status_code == 200 and r.json()["status"] == "mounted"
    dav.stop()
    space = _status_becomes(hub, "error")  # nobody touched the space: the health check noticed
    assert space["status"] == "error" and "B2DROP cannot be reached" in space["reason"]
    r = hub.contents("ada", "GET", "b2drop")
    assert r.status_code == 503 and "B2DROP cannot be reached" in r.json()["message"]
    dav.start()
    space = _status_becomes(hub, "mounted")
    assert space["status"] == "mounted" and space["reason"] == ""
    assert hub.contents("ada", "GET", "b2drop").status_code == 200


# -- uploads that never finished ----------------------------------------------------------


def _leftovers(dav: DavServer) -> list[str]:
    return sorted(p.name for p in dav.root.iterdir() if p.name.endswith(".nbspaces-upload"))


async def test_what_interrupted_uploads_leave_on_a_webdav_server_is_removed(tmp_path: Path) -> None:
    dav = wsgidav(tmp_path)
    try:
        # A server killed in the middle of uploads left these: one a day old, one of the file uploaded next.
        old, mine, fresh = (dav.root / f".{name}.nbspaces-upload"
                            for name in ("old.csv.0123abcd", "big.bin.89abcdef", "other.csv.deadbeef"))
        for path in (old, mine, fresh):
            path.write_bytes(b"part of a file")
        os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
        reg = registry(tmp_path / "home", dav.url)
        mount = await reg.set_credentials("dav", {"username": dav.user, "password": dav.password})
        await asyncio.gather(*reg._tasks)
        assert _leftovers(dav) == [mine.name, fresh.name]  # at connection: only what is over a day old
        contents = RemoteContents(reg, allow_hidden=False)
        chunk = {"type": "file", "format": "base64", "content": base64.b64encode(b"x" * 100_000).decode(), "chunk": 1}
        await contents.save(mount, "big.bin", "dav/big.bin", chunk, None)
        assert mine.name not in _leftovers(dav) and fresh.name in _leftovers(dav)  # the next upload of that name
        # An upload aborted mid-way leaves nothing behind.
        await contents.save(mount, "big.bin", "dav/big.bin", {**chunk, "chunk": 2}, None)
        contents._uploads[("dav", "big.bin")].abort()
        await await_until(lambda: _leftovers(dav) == [fresh.name], "the aborted upload's file is removed", 10)
        assert not (dav.root / "big.bin").exists()
    finally:
        dav.stop()



def test_a_failed_upload_leaves_nothing_on_a_server_that_gets_to_it_late(tmp_path: Path) -> None:
    """The server handles our abandoned PUT only after the driver gave up on it (seen in CI):
    what it stores then must not stay."""
    dav = wsgidav(tmp_path)
    front = BusyFront(dav, delay=3 + sum(DISCARD_AGAIN))
    try:
        driver = WebDAVDriver({"url": front.url}, {"username": dav.user, "password": dav.password}, Network())

        def pieces() -> Iterator[bytes]:
            yield b"x" * 100_000
            raise ConnectionAbortedError("upload abandoned")

        began = time.monotonic()
        with pytest.raises(ConnectionAbortedError):  # the upload's own error, not "cannot be reached"
            driver.write("big.bin", pieces())
        assert _leftovers(dav) == [] and not (dav.root / "big.bin").exists()
        time.sleep(max(0.0, began + front.delay + 1 - time.monotonic()))  # nothing comes later either
        assert _leftovers(dav) == [] and not (dav.root / "big.bin").exists()
    finally:
        front.close()
        dav.stop()


async def test_credentials_used_once_are_never_stored(tmp_path: Path) -> None:
    """A password typed at mount (`?remember=false`, `nbspaces login --once`) serves until the server
    stops: nothing is written, what was stored before is forgotten, and the next start asks again."""
    dav = wsgidav(tmp_path)
    key = Fernet.generate_key()
    try:
        remote = {"dav": {"kind": "webdav", "url": dav.url, "label": "The DAV", "groups": {"*": "rw"}}}
        plan, _ = resolve(Catalog.parse(None, None, remote=remote), "ada", {}, isolation="basic",
                          quota_enforced_by="server")
        creds = {"username": dav.user, "password": dav.password}
        first = Registry(plan, str(tmp_path / "home"), lambda: key)
        assert (await first.set_credentials("dav", creds)).status == "mounted"  # remembered
        assert await first.stored_credentials() == {"dav"}
        assert (await first.set_credentials("dav", creds, remember=False)).status == "mounted"
        assert await first.stored_credentials() == set()
        restarted = Registry(plan, str(tmp_path / "home"), lambda: key)
        assert (await restarted.mount("dav")).status == "needs-credentials"
    finally:
        dav.stop()
