"""Supply ``fs.onedatafs`` when Onedata's native plugin is not installed.

Imported at interpreter start by ``nbspaces-onedatafs.pth``, so it imports nothing heavy.
The finder sits at the END of sys.meta_path: Python's own finders look first, so the native
``fs.onedatafs`` (conda or deb python3-fs-plugin-onedatafs) always wins where it exists.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

NAME = "fs.onedatafs"


class _OnedataFSFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname != NAME:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin="nbspaces.onedatafs")

    def create_module(self, spec: Any) -> ModuleType:
        import nbspaces.onedatafs as module

        return module

    def exec_module(self, module: ModuleType) -> None:
        """Already executed as nbspaces.onedatafs."""


def install() -> None:
    if not any(isinstance(f, _OnedataFSFinder) for f in sys.meta_path):
        sys.meta_path.append(_OnedataFSFinder())


install()
