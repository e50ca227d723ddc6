"""Drivers: one client per remote kind, imported only when a space of that kind is used.

Kinds come from the built-in table below and from the entry-point group ``nbspaces.drivers``,
so a site adds a kind with a package of its own::

    [project.entry-points."nbspaces.drivers"]
    irods = "mysite_irods:IRODSDriver"

A built-in kind keeps its name: an entry point of the same name is ignored (and logged).
"""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points

from .base import Driver, DriverError, Entry, Problem, Usage, clean_path

GROUP = "nbspaces.drivers"
# kind -> ("module:Class", the extra that installs its client); heavy clients load only for kinds in use.
BUILT_IN: dict[str, tuple[str, str | None]] = {
    "webdav": ("nbspaces.drivers.webdav:WebDAVDriver", None),
    "d4science": ("nbspaces.drivers.d4science:D4ScienceDriver", None),
    "onedata": ("nbspaces.drivers.onedata:OnedataDriver", "onedata"),
    "s3": ("nbspaces.drivers.s3:S3Driver", "s3"),
    "smb": ("nbspaces.drivers.smb:SMBDriver", "smb"),
    "sftp": ("nbspaces.drivers.sftp:SFTPDriver", "sftp"),
}


@functools.cache
def _plugins() -> dict[str, tuple[str, str]]:
    """Kinds from installed packages: kind -> ("module:Class", the package that declares it)."""
    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=GROUP):
        package = ep.dist.name if ep.dist is not None else ep.value.partition(":")[0]
        if ep.name in BUILT_IN:
            logging.getLogger("nbspaces").warning("nbspaces: the package %s declares the kind %r, which is "
                                                  "built in; it is ignored", package, ep.name)
            continue
        found[ep.name] = (ep.value, package)
    return found


def known_kinds() -> list[str]:
    """Every kind this environment knows: built in or declared by an installed package."""
    return sorted({*BUILT_IN, *_plugins()})


def driver_class(kind: str) -> type[Driver]:
    """The driver of a kind; DriverError(INVALID) saying what to install when it cannot load."""
    if kind in BUILT_IN:
        target, extra = BUILT_IN[kind]
        install = f"install nbspaces[{extra}]" if extra else "reinstall nbspaces"
    elif kind in _plugins():
        target, package = _plugins()[kind]
        install = f"reinstall {package}, which declares it"
    else:
        raise DriverError(Problem.INVALID, f"unknown kind {kind!r}; known kinds: {', '.join(known_kinds())} (a site "
                                           f"adds kinds with a package declaring an entry point in '{GROUP}')")
    module, _, name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise DriverError(Problem.INVALID, f"{kind} spaces need the package {e.name or e}: {install} in this "
                                           "environment") from None
    except AttributeError:
        raise DriverError(Problem.INVALID, f"{kind} spaces need {target}, which is not there: {install}") from None
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise DriverError(Problem.INVALID, f"{target} is not an nbspaces driver (a subclass of "
                                           "nbspaces.drivers.Driver)")
    return cls


__all__ = ["BUILT_IN", "GROUP", "Driver", "DriverError", "Entry", "Problem", "Usage", "clean_path", "driver_class",
           "known_kinds"]
