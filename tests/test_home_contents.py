"""The home's contents manager, in-process: quota, checkpoints, links, moves, names, uploads.

Each test builds the manager a spawned server builds (a plan in NBSPACES_PLAN, a home with the
shared folders linked in, as basic isolation makes them) and checks what a user would: the
answer's status and message, and what is on disk afterwards, in the home and elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from tornado.web import HTTPError

from nbspaces.plan import PLAN_ENV, Plan, Space
from nbspaces.server_extension import contents
from nbspaces.server_extension.contents import SpacesContentsManager
from tests.webdav_servers import DavServer, wsgidav

MiB = 2**20


@dataclass
class Site:
    home: Path
    datasets: Path  # read-only for the user
    team: Path  # read-write for the user
    other: Path  # another user's home
    plan: Plan

    def manager(self, **kwargs: Any) -> SpacesContentsManager:
        """The contents manager of a (re)started server."""
        return SpacesContentsManager(root_dir=str(self.home), **kwargs)


def make_site(base: Path, monkeypatch: pytest.MonkeyPatch, quota: int = 5 * MiB,
              enforced_by: str = "server", home: Path | None = None) -> Site:
    home = home or base / "home"
    datasets, team, other = base / "src" / "datasets", base / "src" / "team", base / "other"
    for folder in (home, datasets, team, other):
        folder.mkdir(parents=True, exist_ok=True)
    (datasets / "stations.csv").write_text("station,lat\nPAY,46.81\n")
    (other / "private.txt").write_text("bob's secret\n")
    (home / "datasets").symlink_to(datasets)
    (home / "team").symlink_to(team)
    plan = Plan(user="ada", isolation="basic", spaces=(
        Space("home", "home", "", quota_bytes=quota, quota_enforced_by=enforced_by),
        Space("datasets", "shared", "datasets", mode="ro"),
        Space("team", "shared", "team", mode="rw"),
    ))
    monkeypatch.setenv(PLAN_ENV, plan.to_json())
    return Site(home, datasets, team, other, plan)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    return make_site(tmp_path, monkeypatch)


def b64(data: bytes) -> dict[str, Any]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}


def home_bytes(home: Path) -> int:
    """Bytes in the home as du would count them, shared folders left out."""
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file() and not p.is_symlink()
               and not any(part in ("datasets", "team") for part in p.relative_to(home).parts[:1]))


async def status(coro: Any) -> int:
    try:
        await coro
    except HTTPError as e:
        return e.status_code
    return 200


# -- §4 quotas --------------------------------------------------------------------------------


async def test_concurrent_saves_cannot_together_pass_the_quota(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(os.urandom(3 * MiB)), "old.bin")
    answers = await asyncio.gather(*(status(cm.save(b64(os.urandom(3 * MiB // 2)), f"new{i}.bin"))
                                     for i in range(4)))
    assert sorted(answers) == [200, 507, 507, 507]
    assert home_bytes(site.home) <= 5 * MiB
    assert not [p for p in site.home.iterdir() if p.name.startswith(".nbspaces-write-")]


async def test_a_save_that_exactly_fills_the_home_is_accepted_one_byte_more_refused(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (2 * MiB)), "a.bin")
    await cm.save(b64(b"b" * (3 * MiB)), "b.bin")  # exactly 5 MiB
    with pytest.raises(HTTPError) as e:
        await cm.save(b64(b"c"), "c.bin")
    assert e.value.status_code == 507 and "over its 5 MiB quota" in e.value.log_message
    await cm.save(b64(b"b" * (3 * MiB)), "b.bin")  # the same size again: no growth


async def test_a_move_from_a_shared_folder_into_exactly_the_room_left_is_accepted(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
    (site.team / "two.bin").write_bytes(b"t" * (2 * MiB))
    await cm.rename("team/two.bin", "two.bin")
    assert (site.home / "two.bin").stat().st_size == 2 * MiB and not (site.team / "two.bin").exists()
    (site.team / "one.bin").write_bytes(b"1")
    assert await status(cm.rename("team/one.bin", "one.bin")) == 507
    assert (site.team / "one.bin").exists() and not (site.home / "one.bin").exists()


async def test_no_stale_figure_either_way(site: Site) -> None:
    cm = site.manager(usage_max_age=0.2)
    await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
    assert await status(cm.save(b64(b"b" * (3 * MiB)), "b.bin")) == 507
    await asyncio.sleep(0.3)  # a walk later, nothing freed: still refused
    assert await status(cm.save(b64(b"b" * (3 * MiB)), "b.bin")) == 507
    cm = site.manager(usage_max_age=3600)
    assert await status(cm.save(b64(b"b" * (3 * MiB)), "b.bin")) == 507
    (site.home / "a.bin").unlink()  # freed by code in a kernel, which the API does not see
    assert await status(cm.save(b64(b"b" * (3 * MiB)), "b.bin")) == 200


async def test_checkpoints_count_against_the_quota(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
    with pytest.raises(HTTPError) as e:
        await cm.create_checkpoint("a.bin")
    assert e.value.status_code == 507 and "quota" in e.value.log_message
    assert not (site.home / ".ipynb_checkpoints").exists() or not any((site.home / ".ipynb_checkpoints").iterdir())
    await cm.save(b64(b"s" * MiB), "small.bin")
    await cm.create_checkpoint("small.bin")  # 3 + 1 + 1 MiB: fits exactly
    assert await status(cm.save(b64(b"x"), "x.bin")) == 507


async def test_a_notebook_saved_with_no_room_for_its_first_checkpoint_is_saved(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (2 * MiB)), "a.bin")
    nb = {"cells": [{"cell_type": "markdown", "id": "c1", "metadata": {}, "source": "x" * (2 * MiB)}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    model = await cm.save({"type": "notebook", "content": nb}, "n.ipynb")  # 4 MiB used: no room for 2 more
    assert model["name"] == "n.ipynb" and (site.home / "n.ipynb").stat().st_size > 2 * MiB
    assert await cm.list_checkpoints("n.ipynb") == []
    assert await status(cm.create_checkpoint("n.ipynb")) == 507  # asked for: the user is told


async def test_copies_count_against_the_quota(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
    assert await status(cm.copy("a.bin", "")) == 507
    await cm.save({"type": "directory"}, "d")
    await cm.save(b64(b"d" * (3 * MiB // 2)), "d/in.bin")
    assert await status(cm.copy("d", "")) == 507  # a folder: 1.5 MiB, 0.5 MiB left
    assert sorted(p.name for p in site.home.iterdir() if not p.is_symlink()) == ["a.bin", "d"]


async def test_abandoned_first_chunks_over_a_file_do_not_free_its_bytes(site: Site) -> None:
    cm = site.manager()
    await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
    for _ in range(3):
        await cm.save({**b64(b"four"), "chunk": 1}, "a.bin")
    assert (site.home / "a.bin").stat().st_size == 3 * MiB
    assert await status(cm.save(b64(b"b" * (9 * MiB // 2)), "b.bin")) == 507
    assert await status(cm.save(b64(b"b" * (3 * MiB // 2)), "b.bin")) == 200


async def test_an_abandoned_spool_counts_until_it_is_cleaned(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    cm = site.manager()
    await cm.save({**b64(b"u" * (3 * MiB)), "chunk": 1}, "up.bin")
    assert await status(cm.save(b64(b"b" * (5 * MiB // 2)), "b.bin")) == 507  # 3 + 2.5 MiB
    # The next upload cleans uploads abandoned for UPLOAD_IDLE.
    monkeypatch.setattr(contents, "UPLOAD_IDLE", 0.1)
    await asyncio.sleep(0.2)
    await cm.save({**b64(b"v"), "chunk": 1}, "other.bin")
    assert [p.name for p in site.home.iterdir() if p.name.startswith(".nbspaces-upload-")] != []  # other.bin's
    assert await status(cm.save(b64(b"b" * (5 * MiB // 2)), "b.bin")) == 200


async def test_spools_of_a_stopped_server_go_when_the_server_starts(site: Site) -> None:
    cm = site.manager()
    await cm.save({**b64(b"u" * (3 * MiB)), "chunk": 1}, "up.bin")
    spools = [p for p in site.home.iterdir() if p.name.startswith(".nbspaces-upload-")]
    assert len(spools) == 1
    (site.home / "sub").mkdir()
    (site.home / "sub" / ".nbspaces-write-0123456789ab").write_bytes(b"w" * MiB)  # killed while saving
    cm = site.manager()  # the server restarted
    assert not spools[0].exists() and list((site.home / "sub").iterdir()) == []
    assert await status(cm.save(b64(b"b" * (9 * MiB // 2)), "b.bin")) == 200


async def test_strong_isolation_checkpoint_past_the_filesystem_quota(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the filesystem enforces the quota: a clear 507, and no half-written checkpoint."""
    home = tmp_path / "fs"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(home)], check=True)
    try:
        site = make_site(tmp_path, monkeypatch, quota=8 * MiB, enforced_by="filesystem", home=home)
        (home / "big.bin").write_bytes(b"b" * (5 * MiB))  # written by code: the filesystem allowed it
        cm = site.manager()
        with pytest.raises(HTTPError) as e:
            await cm.create_checkpoint("big.bin")
        assert e.value.status_code == 507 and "quota" in e.value.log_message
        leftovers = [p for p in home.rglob("*") if p.is_file() and p.name != "big.bin"]
        assert leftovers == []
    finally:
        subprocess.run(["umount", str(home)], check=True)


# -- §5 checkpoints ---------------------------------------------------------------------------


@pytest.fixture
def linked(site: Site) -> Iterator[Site]:
    """nb2/.ipynb_checkpoints made a link to another user's home, as one ln -s in a terminal does."""
    (site.home / "nb2").mkdir()
    (site.home / "nb2" / "x.txt").write_text("mine\n")
    (site.other / "x-checkpoint.txt").write_text("bob's file\n")
    (site.home / "nb2" / ".ipynb_checkpoints").symlink_to(site.other)
    yield site


async def test_checkpoints_do_not_follow_a_link_out_of_the_home(linked: Site) -> None:
    cm = linked.manager()
    before = sorted(p.name for p in linked.other.iterdir())
    for call in (cm.create_checkpoint("nb2/x.txt"), cm.restore_checkpoint("checkpoint", "nb2/x.txt"),
                 cm.delete_checkpoint("checkpoint", "nb2/x.txt"), cm.list_checkpoints("nb2/x.txt")):
        with pytest.raises(HTTPError) as e:
            await call
        assert e.value.status_code == 403 and "leads out" in e.value.log_message
    assert sorted(p.name for p in linked.other.iterdir()) == before
    assert (linked.other / "x-checkpoint.txt").read_text() == "bob's file\n"
    assert (linked.home / "nb2" / "x.txt").read_text() == "mine\n"


async def test_checkpoint_ids_are_checked(site: Site) -> None:
    cm = site.manager()
    await cm.save({"type": "file", "format": "text", "content": "x"}, "x.txt")
    await cm.create_checkpoint("x.txt")
    for bad in ("../../other/private", "a/b", "..", "\u2024\u2024", "x" * 100):
        assert await status(cm.restore_checkpoint(bad, "x.txt")) == 400
        assert await status(cm.delete_checkpoint(bad, "x.txt")) == 400
    assert await status(cm.restore_checkpoint("other", "x.txt")) == 404
    assert await status(cm.restore_checkpoint("checkpoint", "x.txt")) == 200


async def test_a_checkpoint_of_a_missing_file_is_404(site: Site) -> None:
    cm = site.manager()
    for path in ("nope.txt", "etc/passwd", "..\\..\\etc\\passwd", "\uff0e\uff0e/\uff0e\uff0e/etc/passwd"):
        assert await status(cm.create_checkpoint(path)) == 404
    assert await status(cm.create_checkpoint("../other/private.txt")) in (403, 404)
    assert sorted(p.name for p in site.other.iterdir()) == ["private.txt"]


async def test_checkpoints_of_shared_files_live_in_the_users_home(site: Site) -> None:
    cm = site.manager()
    (site.datasets / ".ipynb_checkpoints").mkdir()
    (site.datasets / ".ipynb_checkpoints" / "stations-checkpoint.csv").write_text("the admin's\n")
    (site.team / "t.txt").write_text("team\n")
    # A reader checkpoints a read-only file: their own copy, in their home.
    await cm.create_checkpoint("datasets/stations.csv")
    assert (site.home / ".nbspaces/checkpoints/datasets/stations.csv").read_text().startswith("station")
    # Restoring would write the read-only file: refused.
    assert await status(cm.restore_checkpoint("checkpoint", "datasets/stations.csv")) == 403
    # Deleting removes the reader's own checkpoint, never the admin's.
    await cm.delete_checkpoint("checkpoint", "datasets/stations.csv")
    assert await status(cm.delete_checkpoint("checkpoint", "datasets/stations.csv")) == 404
    assert (site.datasets / ".ipynb_checkpoints" / "stations-checkpoint.csv").read_text() == "the admin's\n"
    # A member of a read-write folder: the checkpoint is theirs too, and restores.
    await cm.create_checkpoint("team/t.txt")
    (site.team / "t.txt").write_text("changed\n")
    await cm.restore_checkpoint("checkpoint", "team/t.txt")
    assert (site.team / "t.txt").read_text() == "team\n"
    assert not (site.team / ".ipynb_checkpoints").exists()


# -- §5 links and moves -----------------------------------------------------------------------


async def test_one_link_out_leaves_the_rest_of_the_folder_listed(site: Site) -> None:
    cm = site.manager()
    (site.home / "proj").mkdir()
    (site.home / "proj" / "a.py").write_text("print(1)\n")
    (site.home / "proj" / "share").symlink_to("/usr/share")
    (site.home / "proj" / "inside").symlink_to(site.home / "proj" / "a.py")
    listing = await cm.get("proj")
    assert sorted(e["name"] for e in listing["content"]) == ["a.py", "inside"]  # the link out is not listed
    assert await status(cm.get("proj/share")) == 403


async def test_a_refused_move_changes_nothing(site: Site) -> None:
    cm = site.manager()
    assert await status(cm.rename("datasets/stations.csv", "stations.csv")) == 403
    assert not (site.home / "stations.csv").exists() and (site.datasets / "stations.csv").exists()
    await cm.save({"type": "file", "format": "text", "content": "mine"}, "mine.txt")
    assert await status(cm.rename("mine.txt", "datasets/mine.txt")) == 403
    assert (site.home / "mine.txt").exists() and not (site.datasets / "mine.txt").exists()
    (site.team / "big.bin").write_bytes(b"b" * (6 * MiB))
    assert await status(cm.rename("team/big.bin", "big.bin")) == 507
    assert (site.team / "big.bin").stat().st_size == 6 * MiB and not (site.home / "big.bin").exists()


async def with_webdav_space(site: Site, monkeypatch: pytest.MonkeyPatch, dav: DavServer,
                            mode: str) -> SpacesContentsManager:
    """The site's contents manager with the WebDAV server ``dav`` as the space 'dav', connected."""
    space = Space("dav", "webdav", "dav", mode=mode, settings={"url": dav.url})
    monkeypatch.setenv(PLAN_ENV, Plan(user="ada", isolation="basic", spaces=(*site.plan.spaces, space)).to_json())
    cm = site.manager()
    assert cm.registry is not None
    monkeypatch.setattr(cm.registry, "_key", Fernet.generate_key)  # the hub service's key, as a server gets it
    await cm.registry.set_credentials("dav", {"username": dav.user, "password": dav.password})
    return cm


async def test_a_refused_move_to_or_from_a_remote_space_changes_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    dav = wsgidav(tmp_path)
    try:
        site = make_site(tmp_path, monkeypatch)
        cm = await with_webdav_space(site, monkeypatch, dav, "ro")
        (dav.root / "theirs.txt").write_text("read-only data\n")
        assert await status(cm.rename("dav/theirs.txt", "theirs.txt")) == 403
        assert not (site.home / "theirs.txt").exists() and (dav.root / "theirs.txt").exists()
        await cm.save({"type": "file", "format": "text", "content": "mine"}, "mine.txt")
        assert await status(cm.rename("mine.txt", "dav/mine.txt")) == 403
        assert (site.home / "mine.txt").exists() and not (dav.root / "mine.txt").exists()
        assert await status(cm.rename("datasets/stations.csv", "dav/stations.csv")) == 403
        assert not (dav.root / "stations.csv").exists()
    finally:
        dav.stop()


async def test_moves_from_a_remote_space_into_the_home_count_against_the_quota(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dav = wsgidav(tmp_path)
    try:
        site = make_site(tmp_path, monkeypatch)
        cm = await with_webdav_space(site, monkeypatch, dav, "rw")
        await cm.save(b64(b"a" * (3 * MiB)), "a.bin")
        (dav.root / "d").mkdir()
        (dav.root / "d" / "one.bin").write_bytes(b"1" * MiB)
        (dav.root / "d" / "two.bin").write_bytes(b"2" * (3 * MiB // 2))
        assert await status(cm.rename("dav/d", "d")) == 507  # 2.5 MiB, 2 MiB left: nothing moves
        assert not (site.home / "d").exists() and len(list((dav.root / "d").iterdir())) == 2
        used, limit = await cm.home_usage() or (0, 0)  # a.bin and the stored credentials
        (dav.root / "e").mkdir()
        (dav.root / "e" / "one.bin").write_bytes(b"1" * MiB)
        (dav.root / "e" / "three.bin").write_bytes(b"3" * (limit - used - MiB))
        await cm.rename("dav/e", "e")  # exactly the room left
        assert sorted(p.name for p in (site.home / "e").iterdir()) == ["one.bin", "three.bin"]
        assert not (dav.root / "e").exists()
        assert await status(cm.create_checkpoint("a.bin")) == 507
    finally:
        dav.stop()


# -- §6 names -------------------------------------------------------------------------------------


async def test_names_too_long_are_a_clear_400_and_the_longest_work(site: Site) -> None:
    cm = site.manager()
    with pytest.raises(HTTPError) as e:
        await cm.save({"type": "file", "format": "text", "content": "x"}, "n" * 256)
    assert e.value.status_code == 400 and "too long" in e.value.log_message
    await cm.save({"type": "file", "format": "text", "content": "x"}, "n" * 255)
    name = "u" * 246
    await cm.save({**b64(b"first"), "chunk": 1}, name)
    await cm.save({**b64(b"last"), "chunk": -1}, name)
    assert (site.home / name).read_bytes() == b"firstlast"
    await cm.create_checkpoint(name)  # its checkpoint has a name too


# -- §3 chunked uploads -------------------------------------------------------------------------


async def test_an_upload_begun_by_another_server_is_refused(site: Site) -> None:
    cm = site.manager()
    await cm.save({**b64(b"1" * 1000), "chunk": 1}, "up.bin")
    await cm.save({**b64(b"2" * 1000), "chunk": 2}, "up.bin")
    cm = site.manager()  # killed and respawned: the browser goes on with chunk 3
    for chunk in (3, -1):
        with pytest.raises(HTTPError) as e:
            await cm.save({**b64(b"3" * 1000), "chunk": chunk}, "up.bin")
        assert e.value.status_code == 400 and "upload the file again" in e.value.log_message
    assert not (site.home / "up.bin").exists()
    assert not [p for p in site.home.iterdir() if p.name.startswith(".nbspaces-upload-")]


async def test_an_upload_whose_spool_does_not_match_is_refused(site: Site) -> None:
    cm = site.manager()
    await cm.save({**b64(b"1" * 1000), "chunk": 1}, "up.bin")
    spool = next(p for p in site.home.iterdir() if p.name.startswith(".nbspaces-upload-"))
    with spool.open("ab") as f:
        f.write(b"something else")
    assert await status(cm.save({**b64(b"2" * 1000), "chunk": 2}, "up.bin")) == 400
    await cm.save({**b64(b"1" * 1000), "chunk": 1}, "up2.bin")
    assert await status(cm.save({**b64(b"3" * 1000), "chunk": 3}, "up2.bin")) == 400  # chunk 2 missing
    assert not (site.home / "up.bin").exists() and not (site.home / "up2.bin").exists()


async def test_the_last_chunk_answers_after_listings_that_began_before_it(site: Site) -> None:
    """JupyterLab refreshes a folder after each chunk; a refresh asked while one is under way gets
    the one under way. So a listing begun before the file got its name must be answered before the
    last chunk is, or the file shows only at the next poll, 10 s later."""
    cm = site.manager()
    (site.home / "many").mkdir()
    for i in range(3000):
        (site.home / "many" / f"f{i:04}.txt").write_bytes(b"")
    await cm.save({**b64(b"1" * 1000), "chunk": 1}, "many/up.bin")
    listing = asyncio.ensure_future(cm.get("many"))
    await asyncio.sleep(0.01)  # the listing is under way
    await cm.save({**b64(b"2" * 1000), "chunk": -1}, "many/up.bin")
    assert listing.done()
    assert "up.bin" in {e["name"] for e in (await cm.get("many"))["content"]}
