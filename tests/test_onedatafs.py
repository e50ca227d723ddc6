"""`from fs.onedatafs import OnedataFS` as EGI documents it, against the Onedata stand-in."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fs.copy import copy_dir
from fs.errors import DirectoryExists
from fs.osfs import OSFS

from tests.standins.onedata import OnedataStandIn


@pytest.fixture(scope="module")
def od(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnedataStandIn]:
    standin = OnedataStandIn(tmp_path_factory.mktemp("odfs")).start()
    yield standin
    standin.stop()


def run(code: str, env: dict[str, str], pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    if pythonpath:
        full["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, capture_output=True,
                          text=True, timeout=120)


def test_egi_snippet_runs_unchanged(od: OnedataStandIn) -> None:
    user = od.add_user("Grace")
    space = od.add_space("observations", [user])
    od.add_file(space, "2026/readme.txt", b"DataHub file\n")
    env = {"ONEPROVIDER_HOST": od.provider_domain(), "ONECLIENT_ACCESS_TOKEN": od.create_token(user),
           "REQUESTS_CA_BUNDLE": od.ca_file}
    puts = od.count("PUT", "/content")
    result = run("""
        import os
        from fs.onedatafs import OnedataFS

        # create the OnedataFS driver using defaults from env
        odfs = OnedataFS(os.environ['ONEPROVIDER_HOST'],
                         os.environ['ONECLIENT_ACCESS_TOKEN'],
                         force_direct_io=True)

        # use it to open a file
        f = odfs.open("/observations/2026/readme.txt")
        print(f.read().strip())
        print(odfs.listdir("/"))
        with odfs.open("/observations/2026/out.csv", "w") as out:
            for i in range(20000):
                out.write(f"{i},{i * i}\\n")
        print(type(odfs).__module__)
    """, env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "DataHub file"
    assert "observations" in lines[1]
    assert lines[2] == "nbspaces.onedatafs"
    written = (od.space_dir(space) / "2026" / "out.csv").read_text().splitlines()
    assert len(written) == 20000 and written[-1] == "19999,399960001"
    assert od.count("PUT", "/content") - puts <= 3  # 20,000 small writes, grouped into large requests


def test_the_native_plugin_wins_where_installed(tmp_path: Path) -> None:
    """A native fs.onedatafs (deb or conda) is never shadowed by nbspaces'."""
    native = tmp_path / "fs" / "onedatafs"
    native.mkdir(parents=True)
    (tmp_path / "fs" / "__init__.py").write_text('__import__("pkg_resources").declare_namespace(__name__)\n')
    (native / "__init__.py").write_text("NATIVE = True\nclass OnedataFS: pass\n")
    result = run("import fs.onedatafs as m; print(getattr(m, 'NATIVE', False), m.__name__)", {}, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True"


@pytest.fixture(scope="module")
def odfs(od: OnedataStandIn) -> Iterator[tuple[Any, Path]]:
    """EGI's snippet's filesystem, in this process, and the folder of its one space ("lab")."""
    from fs.onedatafs import OnedataFS

    user = od.add_user("Ada")
    space = od.add_space("lab", [user])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REQUESTS_CA_BUNDLE", str(od.ca_file))
        filesystem = OnedataFS(od.provider_domain(), od.create_token(user), force_direct_io=True)
    yield filesystem, od.space_dir(space)
    filesystem.close()


# Each step: ("io", n) reads n bytes (writes n bytes in write modes), ("seek", offset, whence),
# ("truncate", size).
SEEKS = [
    [("io", 3), ("seek", -5, io.SEEK_END), ("io", 2)],
    [("io", 3), ("seek", -2, io.SEEK_CUR), ("io", 2)],
    [("io", 10), ("seek", -5, io.SEEK_CUR), ("io", 2)],
    [("seek", 4, io.SEEK_SET), ("seek", -3, io.SEEK_CUR), ("io", 2)],
    [("seek", 3, io.SEEK_END), ("io", 2)],
    [("seek", -50, io.SEEK_END)],
    [("seek", -1, io.SEEK_CUR)],
    [("io", 8), ("truncate", 3), ("io", 2)],
    [("seek", 1, io.SEEK_SET), ("truncate", 12), ("io", 2), ("seek", 0, io.SEEK_END)],
    [("truncate", 0), ("io", 2)],
]


def _play(f: Any, steps: list[tuple[Any, ...]], writing: bool) -> list[Any]:
    """What a user sees of each step, until one is refused."""
    seen: list[Any] = []
    for step in steps:
        try:
            if step[0] == "seek":
                seen.append(f.seek(step[1], step[2]))
            elif step[0] == "truncate":
                seen.append(f.truncate(step[1]))
            else:
                seen.append(f.write(b"abcdefghij"[:step[1]]) if writing else f.read(step[1]))
            seen.append(f.tell())
        except (OSError, ValueError):
            return [*seen, "refused"]
    return seen


@pytest.mark.parametrize("buffering", [-1, 0], ids=["buffered", "raw"])
@pytest.mark.parametrize("mode", ["r", "r+", "w", "a"])
def test_files_seek_and_truncate_as_local_files_do(odfs: tuple[Any, Path], tmp_path: Path, mode: str,
                                                   buffering: int) -> None:
    """The PyFilesystem contract is Python's: seeks back from the end or the current position and past
    the end, truncation that keeps the position, appends at the end, "w" that empties the file."""
    filesystem, space = odfs
    local = OSFS(str(tmp_path))
    for n, steps in enumerate(SEEKS):
        name = f"seek-{mode}-{buffering}-{n}.bin"
        (space / name).write_bytes(b"0123456789")
        (tmp_path / name).write_bytes(b"0123456789")
        with filesystem.openbin(f"/lab/{name}", mode, buffering=buffering) as f:
            got = _play(f, steps, mode != "r")
        with local.openbin(name, mode, buffering=buffering) as f:
            expected = _play(f, steps, mode != "r")
        assert got == expected, steps
        assert (space / name).read_bytes() == (tmp_path / name).read_bytes(), steps


def test_makedirs_in_a_space_and_upload(odfs: tuple[Any, Path], tmp_path: Path) -> None:
    """A space's own folder exists: makedirs(..., recreate=True) and copies into it go on."""
    filesystem, space = odfs
    filesystem.makedirs("/lab", recreate=True)
    filesystem.makedir("/lab", recreate=True)
    filesystem.makedirs("/lab/a/b", recreate=True)
    filesystem.makedirs("/lab/a/b", recreate=True)
    with pytest.raises(DirectoryExists):
        filesystem.makedir("/lab")
    (tmp_path / "up" / "sub").mkdir(parents=True)
    (tmp_path / "up" / "sub" / "data.csv").write_text("x,y\n")
    copy_dir(OSFS(str(tmp_path / "up")), "/", filesystem, "/lab")
    copy_dir(OSFS(str(tmp_path / "up")), "/", filesystem, "/lab/a/b")
    assert (space / "a" / "b").is_dir()
    assert (space / "sub" / "data.csv").read_text() == "x,y\n"
    assert (space / "a" / "b" / "sub" / "data.csv").read_text() == "x,y\n"
