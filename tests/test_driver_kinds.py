"""Kinds come from the built-in table and from packages' entry points (group nbspaces.drivers).

A real distribution is put on sys.path for the test (its .dist-info with an entry_points.txt, and
its module), as pip would install one; importlib.metadata finds it as it finds any other.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbspaces import drivers
from nbspaces.catalog import Catalog, CatalogError
from nbspaces.drivers import DriverError, Problem, driver_class, known_kinds

MODULE = '''
from nbspaces.drivers.base import Driver, Field


class IRODSDriver(Driver):
    kind = "irods"
    kind_label = "iRODS zone"
    setting_fields = {"host": Field("Host", required=True)}

    def check(self): pass
    def list(self, path): return []
    def stat(self, path): raise NotImplementedError
    def read(self, path, start=0, end=None): return iter(())
    def write(self, path, chunks, size=None): pass
    def mkdir(self, path): pass
    def delete(self, path): pass
    def move(self, src, dst): pass
    def copy(self, src, dst): pass
'''


def install(site: Path, name: str, entry_points: str, module: str | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nbspaces.drivers]\n{entry_points}\n")
    if module is not None:
        (site / "mysite_irods.py").write_text(module)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    drivers._plugins.cache_clear()
    yield tmp_path
    drivers._plugins.cache_clear()
    sys.modules.pop("mysite_irods", None)


def test_a_package_adds_a_kind(site: Path) -> None:
    install(site, "mysite-irods", "irods = mysite_irods:IRODSDriver", MODULE)
    assert "irods" in known_kinds() and {"webdav", "s3", "smb", "sftp"} <= set(known_kinds())
    assert driver_class("irods").kind_label == "iRODS zone"
    catalog = Catalog.parse(None, None, remote={"zone": {"kind": "irods", "host": "irods.example.org",
                                                               "groups": {"*": "rw"}}},
                            user_kinds=["irods"])
    assert catalog.remote["zone"].kind == "irods" and catalog.user_kinds == ("irods",)


def test_a_kind_that_cannot_load_says_which_package_to_install(site: Path) -> None:
    install(site, "mysite-irods", "irods = mysite_irods:IRODSDriver")  # its module is missing
    with pytest.raises(DriverError) as err:
        driver_class("irods")
    assert err.value.problem is Problem.INVALID and "reinstall mysite-irods" in err.value.message


def test_a_package_cannot_take_a_built_in_kind(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    install(site, "mysite-irods", "webdav = mysite_irods:IRODSDriver", MODULE)
    assert known_kinds().count("webdav") == 1 and driver_class("webdav").kind_label == "WebDAV"
    assert "declares the kind 'webdav', which is built in" in caplog.text


def test_an_unknown_kind_says_how_kinds_are_added(site: Path) -> None:
    with pytest.raises(DriverError) as err:
        driver_class("ftp")
    assert "known kinds: d4science, onedata, s3, sftp, smb, webdav" in err.value.message
    assert "nbspaces.drivers" in err.value.message
    with pytest.raises(CatalogError) as bad:
        Catalog.parse(None, None, user_kinds=["ftp"])
    assert "user_kinds: unknown kind 'ftp'" in str(bad.value)
