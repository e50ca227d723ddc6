"""`from fs.onedatafs import OnedataFS` as EGI documents it, against the Onedata stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

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
