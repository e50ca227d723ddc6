"""Drivers: one client per remote kind, imported only when a space of that kind is used."""

from __future__ import annotations

import importlib

from .base import Driver, DriverError, Entry, Problem, Usage, clean_path

# kind -> "module:Class"; heavy client libraries load only for kinds in use.
KINDS: dict[str, str] = {
    "webdav": "nbspaces.drivers.webdav:WebDAVDriver",
    "d4science": "nbspaces.drivers.d4science:D4ScienceDriver",
    "onedata": "nbspaces.drivers.onedata:OnedataDriver",
}


def driver_class(kind: str) -> type[Driver]:
    try:
        module, _, cls = KINDS[kind].partition(":")
    except KeyError:
        raise DriverError(Problem.INVALID, f"unknown kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}") from None
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except ImportError as e:
        raise DriverError(Problem.INVALID, f"{kind} spaces need the package {e.name or e}: install "
                                           f"nbspaces[{kind}] in this environment") from None


__all__ = ["KINDS", "Driver", "DriverError", "Entry", "Problem", "Usage", "clean_path", "driver_class"]
