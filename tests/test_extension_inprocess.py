"""The server extension's registry and remote contents, in-process (no Jupyter server), against real WebDAV."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tornado import iostream
from tornado.web import HTTPError

from nbspaces.catalog import Catalog
from nbspaces.plan import Space, resolve
from nbspaces.server_extension import files, remote
from nbspaces.server_extension.registry import Registry
from tests.webdav_servers import wsgidav


async def test_asking_the_hub_for_the_key_never_blocks_the_server(tmp_path: Path) -> None:
    """The first use of the credential store asks the hub's service for its key (a network call of
    up to 15 s). The event loop keeps serving meanwhile: here the key only comes once a task on the
    loop has run, which cannot happen if the key is fetched on the loop."""
    plan, _ = resolve(Catalog.parse(None, None), "ada", {}, isolation="basic", quota_enforced_by="server")
    loop_ran = threading.Event()

    def key() -> bytes:
        assert loop_ran.wait(10), "the event loop was blocked while the key was fetched"
        return b"A" * 43 + b"="

    registry = Registry(plan, str(tmp_path), key)

    async def other_request() -> None:
        loop_ran.set()

    names, _ = await asyncio.gather(registry.stored_credentials(), other_request())
    assert names == set()


async def test_an_abandoned_upload_no_longer_answers_for_its_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """While a chunked upload is under way, nbspaces answers jupyter_server's "does it exist?" itself.
    Once the browser gave up (no chunk for UPLOAD_IDLE), the storage answers again."""
    monkeypatch.setattr(remote, "UPLOAD_IDLE", 0.5)
    dav = wsgidav(tmp_path)
    try:
        catalog = Catalog.parse(None, None, remote={"dav": {"kind": "webdav", "url": dav.url, "groups": {"*": "rw"}}})
        plan, _ = resolve(catalog, "ada", {}, isolation="basic", quota_enforced_by="server")
        registry = Registry(plan, str(tmp_path / "home"), lambda: Fernet.generate_key())
        mount = await registry.set_credentials("dav", {"username": dav.user, "password": dav.password})
        contents = remote.RemoteContents(registry, allow_hidden=False)
        chunk = {"type": "file", "format": "base64", "content": base64.b64encode(b"x" * 1000).decode(), "chunk": 1}
        await contents.save(mount, "big.bin", "dav/big.bin", chunk, None)
        assert not await contents.exists(mount, "big.bin", want_dir=False)  # nothing has the name yet
        (dav.root / "big.bin").write_bytes(b"someone else's")
        assert not await contents.exists(mount, "big.bin", want_dir=False)  # still nbspaces' own answer
        await asyncio.sleep(1.5)  # the browser stopped sending: the upload is abandoned
        assert await contents.exists(mount, "big.bin", want_dir=False)  # the storage's answer
        assert (dav.root / "big.bin").read_bytes() == b"someone else's"
    finally:
        dav.stop()


async def test_downloads_read_ahead_in_pieces_of_at_most_one_mib() -> None:
    """A driver may yield large blocks (Onedata's ranged reads: 8 MiB); the read-ahead holds a few
    pieces of at most 1 MiB, so a download's memory is bounded in bytes."""
    blocks = [os.urandom(8 * 1024 * 1024 + 5), b"tail", os.urandom(1024 * 1024)]
    reader = files.ReadAhead(lambda: iter(blocks))
    pieces = []
    while (piece := await reader.next()) is not None:
        pieces.append(piece)
    assert b"".join(pieces) == b"".join(blocks)
    assert max(len(p) for p in pieces) == files.PIECE_MAX == 1024 * 1024
    assert len(pieces) == 9 + 1 + 1


def test_tornado_still_keeps_unsent_bytes_where_read_ahead_looks() -> None:
    """/files/ reads how much the client has not taken yet from tornado's stream (no public figure
    exists). Without it, downloads fall back to waiting after every piece: slower, never wrong.
    This fails when a tornado upgrade moves it, so that the slowdown does not go unnoticed."""
    with socket.socket() as sock:
        stream = iostream.IOStream(sock)
        assert len(stream._write_buffer) == 0


def test_uploaded_base64_decodes_strictly_fast_and_otherwise_leniently() -> None:
    data = os.urandom(1024 * 1024 + 7)
    assert remote.decode(base64.b64encode(data).decode()) == data  # what JupyterLab sends
    assert remote.decode(base64.encodebytes(data).decode()) == data  # with line breaks: the lenient path
    with pytest.raises(HTTPError) as err:
        remote.decode("aGVsbG8")  # cut short
    assert err.value.status_code == 400 and "cannot be read as base64" in (err.value.log_message or "")


async def test_the_overview_shows_every_space_and_the_forms_to_add_one(tmp_path: Path) -> None:
    """What the Data panel lists: local spaces as the contents manager finds them, remote ones as the
    registry knows them, and a form for each kind the user may add or has."""
    catalog = Catalog.parse(
        {"size": "1GiB"}, {"team": {"source": str(tmp_path), "groups": {"*": "ro"}}}, user_kinds=["webdav"],
        remote={"dav": {"kind": "webdav", "url": "http://127.0.0.1:9/dav", "groups": {"*": "rw"}}})
    plan, _ = resolve(catalog, "ada", {}, isolation="basic", quota_enforced_by="server")
    registry = Registry(plan, str(tmp_path / "home"), lambda: Fernet.generate_key())
    await registry.add("mine", "webdav", None, {"url": "http://127.0.0.1:9/mine", "label": "Mine"})
    seen = []

    def local_status(space: Space) -> tuple[str, str]:
        seen.append(space.name)
        return ("mounted", "") if space.kind == "home" else ("error", "not there")

    overview = await registry.overview(local_status, (5, 2**30))
    spaces = {s["name"]: s for s in overview["spaces"]}
    assert list(spaces) == ["home", "team", "dav", "mine"] and seen == ["home", "team"]
    assert (spaces["home"]["used_bytes"], spaces["home"]["quota_bytes"]) == (5, 2**30)
    assert (spaces["team"]["status"], spaces["team"]["reason"], spaces["team"]["read_only"]) == ("error", "not there",
                                                                                                True)
    assert spaces["dav"]["status"] == spaces["mine"]["status"] == "mounting"  # not connected yet
    assert spaces["mine"]["origin"] == "user" and spaces["mine"]["settings"]["label"] == "Mine"
    assert [f["name"] for f in spaces["dav"]["credential_fields"]] == ["username", "password"]
    assert list(overview["kinds"]) == ["webdav"] and overview["user_kinds"] == ["webdav"]
    assert overview["kinds"]["webdav"]["credential_fields"] == spaces["dav"]["credential_fields"]
    assert await registry.describe(registry.get("mine")) == spaces["mine"]
