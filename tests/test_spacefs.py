"""The Python API's filesystem semantics, against a real WebDAV server (wsgidav), with no hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from nbspaces.credentials import STORE_NAME, CredentialStore
from nbspaces.plan import Plan, Space
from nbspaces.session import Session
from nbspaces.spacefs import NBSpacesFileSystem
from tests.webdav_servers import DavServer, wsgidav


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = wsgidav(tmp_path_factory.mktemp("spacefs"))
    yield server
    server.stop()


@pytest.fixture
def fs(dav: DavServer, tmp_path: Path) -> NBSpacesFileSystem:
    settings = {"url": dav.url, "label": "B2DROP"}
    plan = Plan(user="u", isolation="basic", spaces=(
        Space(name="home", kind="home", mount=""),
        Space(name="dav", kind="webdav", mount="dav", settings=settings),
        Space(name="ro", kind="webdav", mount="ro", mode="ro", settings=settings),
        Space(name="nocreds", kind="webdav", mount="nocreds", settings=settings),
    ))
    key = Fernet.generate_key()
    store = CredentialStore(tmp_path / STORE_NAME, key)
    for name in ("dav", "ro"):
        store.set(name, {"username": dav.user, "password": dav.password})
    for child in dav.root.iterdir():
        if child.is_dir():
            import shutil

            shutil.rmtree(child)
        else:
            child.unlink()
    return NBSpacesFileSystem(session=Session(plan, tmp_path, key=key), skip_instance_cache=True)


def test_folder_moves_between_spaces_only_whole(fs: NBSpacesFileSystem, dav: DavServer, tmp_path: Path) -> None:
    fs.makedirs("dav/project/sub", exist_ok=True)
    fs.pipe_file("dav/project/sub/a.txt", b"a")
    fs.pipe_file("dav/project/b.txt", b"b")
    with pytest.raises(IsADirectoryError):
        fs.mv("dav/project", "copy")  # not recursive: refused, and nothing is lost
    assert (dav.root / "project" / "sub" / "a.txt").read_bytes() == b"a"
    fs.mv("dav/project", "copy", recursive=True)
    assert (tmp_path / "copy" / "sub" / "a.txt").read_bytes() == b"a"
    assert (tmp_path / "copy" / "b.txt").read_bytes() == b"b"
    assert not (dav.root / "project").exists()


def test_rm_keeps_folders_with_files_unless_recursive(fs: NBSpacesFileSystem, dav: DavServer) -> None:
    fs.makedirs("dav/keep")
    fs.pipe_file("dav/keep/f.txt", b"f")
    with pytest.raises(OSError, match="not empty"):
        fs.rm("dav/keep")
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir("dav/keep")
    assert (dav.root / "keep" / "f.txt").exists()
    fs.rm("dav/keep", recursive=True)
    assert not (dav.root / "keep").exists()


def test_append_and_exclusive_modes(fs: NBSpacesFileSystem, dav: DavServer) -> None:
    with fs.open("dav/log.txt", "w") as f:
        f.write("one\n")
    with fs.open("dav/log.txt", "a") as f:
        f.write("two\n")
    assert (dav.root / "log.txt").read_text() == "one\ntwo\n"
    with pytest.raises(FileExistsError):
        fs.open("dav/log.txt", "x")
    with fs.open("dav/new.txt", "x") as f:
        f.write("new\n")
    assert (dav.root / "new.txt").read_text() == "new\n"


def test_copy_recursive_and_errors_name_the_destination(fs: NBSpacesFileSystem, dav: DavServer) -> None:
    fs.makedirs("dav/src/inner")
    fs.pipe_file("dav/src/inner/x.txt", b"x")
    fs.copy("dav/src", "dav/dst", recursive=True)
    assert (dav.root / "dst" / "inner" / "x.txt").read_bytes() == b"x"
    fs.pipe_file("dav/taken.txt", b"t")
    with pytest.raises(FileExistsError, match=r"'taken\.txt' already exists"):
        fs.mv("dav/src/inner/x.txt", "dav/taken.txt")


def test_ranged_reads_and_read_only_and_missing_credentials(fs: NBSpacesFileSystem, dav: DavServer) -> None:
    (dav.root / "big.bin").write_bytes(bytes(range(256)) * 4096)
    with fs.open("dav/big.bin", "rb", block_size=4096) as f:
        f.seek(300_000)
        assert f.read(4) == (bytes(range(256)) * 4096)[300_000:300_004]
    with pytest.raises(PermissionError, match="read-only"):
        fs.pipe_file("ro/x.txt", b"x")
    assert fs.cat_file("ro/big.bin", start=0, end=3) == b"\x00\x01\x02"
    with pytest.raises(PermissionError, match="needs your credentials"):
        fs.ls("nocreds")


def test_copy_and_put_create_missing_folders_and_errors_name_the_missing_path(
        fs: NBSpacesFileSystem, dav: DavServer, tmp_path: Path) -> None:
    """As fsspec's put() and object stores do: the target's folders are made on the way."""
    fs.pipe_file("dav/a.txt", b"a")
    (tmp_path / "h.txt").write_bytes(b"h")
    outside = tmp_path.parent / f"{tmp_path.name}-up.txt"
    outside.write_bytes(b"up")
    fs.copy("dav/a.txt", "dav/new/sub/a.txt")  # within a space: one COPY
    fs.copy("dav/a.txt", "fromdav/sub/a.txt")  # remote to home
    fs.copy("h.txt", "dav/fromhome/sub/h.txt")  # home to remote
    fs.copy("h.txt", "inhome/sub/h.txt")  # within the home
    fs.put(str(outside), "dav/put/sub/up.txt")
    fs.put(str(outside), "puthome/sub/up.txt")
    assert (dav.root / "new" / "sub" / "a.txt").read_bytes() == b"a"
    assert (tmp_path / "fromdav" / "sub" / "a.txt").read_bytes() == b"a"
    assert (dav.root / "fromhome" / "sub" / "h.txt").read_bytes() == b"h"
    assert (tmp_path / "inhome" / "sub" / "h.txt").read_bytes() == b"h"
    assert (dav.root / "put" / "sub" / "up.txt").read_bytes() == b"up"
    assert (tmp_path / "puthome" / "sub" / "up.txt").read_bytes() == b"up"
    for src, dst in (("dav/nope.txt", "dav/x/y.txt"), ("dav/nope.txt", "x/y.txt"), ("nope.txt", "dav/x/y.txt")):
        with pytest.raises(FileNotFoundError) as missing:
            fs.cp_file(src, dst)
        assert src in str(missing.value) and "x/y.txt" not in str(missing.value)
        assert not (dav.root / "x").exists() and not (tmp_path / "x").exists()  # a refused copy makes nothing
    with pytest.raises(PermissionError, match="read-only"):
        fs.copy("dav/a.txt", "ro/made/a.txt")
    assert not (dav.root / "made").exists()


def test_mv_makes_missing_folders_and_names_a_missing_source(fs: NBSpacesFileSystem, dav: DavServer,
                                                            tmp_path: Path) -> None:
    fs.pipe_file("dav/m.txt", b"m")
    (tmp_path / "hm.txt").write_bytes(b"hm")
    fs.mv("dav/m.txt", "dav/moved/sub/m.txt")
    fs.mv("hm.txt", "hmoved/sub/hm.txt")
    assert (dav.root / "moved" / "sub" / "m.txt").read_bytes() == b"m"
    assert (tmp_path / "hmoved" / "sub" / "hm.txt").read_bytes() == b"hm"
    with pytest.raises(FileNotFoundError, match=r"dav/m\.txt"):
        fs.mv("dav/m.txt", "dav/again/m.txt")
    assert not (dav.root / "again").exists()


def test_a_folder_never_goes_into_itself(fs: NBSpacesFileSystem, dav: DavServer, tmp_path: Path) -> None:
    """Refused before the storage is asked (WebDAV answered 403, a copy would copy what it copies)."""
    with pytest.raises(FileNotFoundError, match=r"the folder of 'f/a\.txt' does not exist"):  # named as asked
        fs.pipe_file("dav/f/a.txt", b"a")
    fs.makedirs("dav/f")
    fs.pipe_file("dav/f/a.txt", b"a")
    (tmp_path / "hf").mkdir()
    for src, dst in (("dav/f", "dav/f/sub"), ("dav/f", "dav/f"), ("hf", "hf/in")):
        for verb, call in (("moved", fs.mv), ("copied", fs.copy)):
            with pytest.raises(OSError, match=f"cannot be {verb} into itself"):
                call(src, dst, recursive=True)
    assert sorted(p.name for p in (dav.root / "f").iterdir()) == ["a.txt"] and list((tmp_path / "hf").iterdir()) == []
