"""Supply ``fs.onedatafs`` when Onedata's native plugin is not installed.

Imported at interpreter start by ``nbspaces-onedatafs.pth``, so it imports nothing heavy.
The finder sits at the END of sys.meta_path: Python's own finders look first, so the native
``fs.onedatafs`` (conda or deb python3-fs-plugin-onedatafs) always wins where it exists.
"""

from __future__ import annotations

import sys
import warnings

NAME = "fs.onedatafs"


class _OnedataFSFinder:
    """A meta path finder and loader by duck typing: importlib.abc would cost every start."""

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        if fullname != NAME:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self, origin="nbspaces.onedatafs")

    def create_module(self, spec: object) -> object:
        import nbspaces.onedatafs as module

        return module

    def exec_module(self, module: object) -> None:
        """Already executed as nbspaces.onedatafs."""


def install() -> None:
    # pyfilesystem2 (`fs`, under EGI's snippet) imports pkg_resources, whose setuptools warns in
    # every notebook that runs the snippet; the user cannot act on it (fs needs setuptools < 81).
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API", category=UserWarning,
                            module="fs")
    if not any(isinstance(f, _OnedataFSFinder) for f in sys.meta_path):
        sys.meta_path.append(_OnedataFSFinder())


install()
