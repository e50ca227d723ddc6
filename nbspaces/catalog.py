"""The catalog: what the admins declared, validated before anyone spawns.

The hub admin writes the catalog in the hub's traitlets config (``c.NBSpaces.home`` and
``c.NBSpaces.shared``). Community admins adjust their own group's shared folders at run
time through the group's properties (see :mod:`nbspaces.plan`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .sizes import parse_size

DEFAULT_HOME_SIZE = 20 * 2**30
EVERYONE = "*"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # \Z: "$" also matches before a final newline
# JupyterHub group and user names are free-form, but we refuse the ones that cannot be real.
PRINCIPAL_RE = re.compile(r"[^\s/]{1,255}\Z")
# Names a shared folder cannot take: they would hide the user's own configuration.
RESERVED_NAMES = frozenset({"home", ".nbspaces", ".local", ".jupyter", ".ipython", ".config"})


class Mode(StrEnum):
    """Access mode of a shared folder for one group or user."""

    OFF = "off"
    RO = "ro"
    RW = "rw"

    @property
    def rank(self) -> int:
        return {"off": 0, "ro": 1, "rw": 2}[self.value]


class CatalogError(ValueError):
    """The catalog is wrong. The message names every wrong key and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "nbspaces catalog is not valid:\n  - " + "\n  - ".join(problems)
        )


@dataclass(frozen=True)
class HomeSpec:
    size: int = DEFAULT_HOME_SIZE
    users: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)

    def size_for(self, user: str, groups: list[str]) -> int:
        """Per-user override first, then the largest size among the user's groups."""
        if user in self.users:
            return self.users[user]
        sizes = [self.groups[g] for g in groups if g in self.groups]
        return max(sizes) if sizes else self.size


@dataclass(frozen=True)
class SharedFolder:
    name: str
    groups: Mapping[str, Mode]
    users: Mapping[str, Mode]
    source: str | None = None
    volume: Mapping[str, Any] | None = None
    sub_path: str | None = None
    description: str = ""

    def offered_to(self, group: str) -> bool:
        """True if the catalog lists this group, so its community admins may manage it."""
        return group in self.groups


@dataclass(frozen=True)
class RemoteSpace:
    """A remote space the admins pre-define: users only add their credentials."""

    name: str
    kind: str
    mount: str
    settings: Mapping[str, Any]
    groups: Mapping[str, Mode]
    users: Mapping[str, Mode]
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    home: HomeSpec
    shared: Mapping[str, SharedFolder]
    remote: Mapping[str, RemoteSpace] = field(default_factory=dict)
    # Kinds of remote space users may add themselves.
    user_kinds: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        home: Mapping[str, Any] | None,
        shared: Mapping[str, Any] | None,
        *,
        need: str | None = None,
        check_sources: bool = False,
        remote: Mapping[str, Any] | None = None,
        user_kinds: list[str] | tuple[str, ...] = (),
    ) -> Catalog:
        """Validate the admin's dicts and build a catalog, or raise CatalogError.

        ``need`` is ``"source"`` (one machine: a host path) or ``"volume"`` (Kubernetes:
        a volume source); ``check_sources`` also checks that host paths exist.
        """
        problems: list[str] = []
        home_spec = _parse_home(home or {}, problems)
        folders: dict[str, SharedFolder] = {}
        if not isinstance(shared or {}, Mapping):
            problems.append("shared: must be a dict of folder name -> settings")
            shared = {}
        for name, spec in (shared or {}).items():
            folder = _parse_folder(str(name), spec, problems, need, check_sources)
            if folder is not None:
                folders[folder.name] = folder
        spaces: dict[str, RemoteSpace] = {}
        for name, spec in (remote or {}).items():
            space = _parse_remote(str(name), spec, problems)
            if space is not None:
                spaces[space.name] = space
        mounts = [f.name for f in folders.values()] + [r.mount for r in spaces.values()]
        for taken in sorted({m for m in mounts if mounts.count(m) > 1}):
            problems.append(f"two spaces appear at '{taken}'; give each its own 'mount'")
        from .drivers import known_kinds

        for kind in user_kinds:
            if kind not in known_kinds():
                problems.append(f"user_kinds: unknown kind {kind!r}; known kinds: {', '.join(known_kinds())}")
        if problems:
            raise CatalogError(problems)
        return cls(home=home_spec, shared=folders, remote=spaces, user_kinds=tuple(user_kinds))


_HOME_KEYS = ("size", "users", "groups")
_FOLDER_KEYS = ("source", "volume", "sub_path", "groups", "users", "description")
_VOLUME_KINDS = (
    "persistentVolumeClaim",
    "nfs",
    "hostPath",
    "cephfs",
    "csi",
    "azureFile",
    "configMap",
)


def _unknown(where: str, spec: Mapping[str, Any], allowed: tuple[str, ...], problems: list[str]) -> None:
    for key in spec:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}; allowed keys: {', '.join(allowed)}")


def _size(where: str, value: Any, problems: list[str]) -> int | None:
    try:
        return parse_size(value)
    except ValueError as e:
        problems.append(f"{where}: {e}")
        return None


def _parse_home(spec: Mapping[str, Any], problems: list[str]) -> HomeSpec:
    if not isinstance(spec, Mapping):
        problems.append("home: must be a dict with keys size, users, groups")
        return HomeSpec()
    _unknown("home", spec, _HOME_KEYS, problems)
    size = _size("home.size", spec["size"], problems) if "size" in spec else DEFAULT_HOME_SIZE
    overrides: dict[str, dict[str, int]] = {}
    for key in ("users", "groups"):
        table = spec.get(key, {})
        overrides[key] = {}
        if not isinstance(table, Mapping):
            problems.append(f"home.{key}: must be a dict of {key[:-1]} name -> size")
            continue
        for who, value in table.items():
            parsed = _size(f"home.{key}.{who}", value, problems)
            if parsed is not None:
                overrides[key][str(who)] = parsed
    return HomeSpec(size=size or DEFAULT_HOME_SIZE, users=overrides["users"], groups=overrides["groups"])


def _parse_modes(where: str, value: Any, problems: list[str]) -> dict[str, Mode]:
    """A list of names (read-only) or a dict name -> 'ro' | 'rw' | 'off'."""
    if isinstance(value, (list, tuple)):
        value = {name: Mode.RO.value for name in value}
    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a list of names or a dict name -> 'ro', 'rw' or 'off'")
        return {}
    modes: dict[str, Mode] = {}
    for who, mode in value.items():
        who = str(who)
        if not PRINCIPAL_RE.match(who):
            problems.append(f"{where}: {who!r} is not a valid name")
            continue
        try:
            modes[who] = Mode(mode)
        except ValueError:
            problems.append(f"{where}.{who}: unknown mode {mode!r}; allowed modes: ro, rw, off")
    return modes


def _parse_folder(
    name: str, spec: Any, problems: list[str], need: str | None, check_sources: bool
) -> SharedFolder | None:
    where = f"shared.{name}"
    if not NAME_RE.match(name) or name.lower() in RESERVED_NAMES:
        problems.append(
            f"{where}: {name!r} cannot name a folder; use letters, digits, '.', '_' or '-' "
            f"(64 at most, not {', '.join(sorted(RESERVED_NAMES))})"
        )
        return None
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: must be a dict with keys {', '.join(_FOLDER_KEYS)}")
        return None
    before = len(problems)
    _unknown(where, spec, _FOLDER_KEYS, problems)
    source = spec.get("source")
    volume = spec.get("volume")
    if source is not None and (not isinstance(source, str) or not source.startswith("/")):
        problems.append(f"{where}.source: must be an absolute host path, not {source!r}")
    if volume is not None and (
        not isinstance(volume, Mapping) or len(volume) != 1 or next(iter(volume)) not in _VOLUME_KINDS
    ):
        problems.append(
            f"{where}.volume: must be one Kubernetes volume source, e.g. "
            f"{{'persistentVolumeClaim': {{'claimName': 'climate-data'}}}}; allowed kinds: "
            f"{', '.join(_VOLUME_KINDS)}"
        )
    if source is None and volume is None:
        problems.append(
            f"{where}: says nowhere where the data lives; give 'source' (a host path) "
            "or 'volume' (a Kubernetes volume source)"
        )
    elif need == "source" and source is None:
        problems.append(f"{where}: needs 'source', a host path, on one machine")
    elif need == "volume" and volume is None:
        problems.append(f"{where}: needs 'volume', a Kubernetes volume source, on Kubernetes")
    if check_sources and isinstance(source, str) and source.startswith("/") and not os.path.isdir(source):
        problems.append(f"{where}.source: {source} does not exist or is not a folder; create it first")
    sub_path = spec.get("sub_path")
    if sub_path is not None and (
        not isinstance(sub_path, str) or sub_path.startswith("/") or ".." in sub_path.split("/")
    ):
        problems.append(f"{where}.sub_path: must be a relative path without '..'")
    groups = _parse_modes(f"{where}.groups", spec.get("groups", {}), problems)
    users = _parse_modes(f"{where}.users", spec.get("users", {}), problems)
    if not groups and not users and len(problems) == before:
        problems.append(f"{where}: no group or user gets this folder; add 'groups': {{'*': 'ro'}} for everyone")
    description = spec.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: must be text")
    if len(problems) > before:
        return None
    return SharedFolder(
        name=name,
        groups=groups,
        users=users,
        source=source,
        volume=dict(volume) if volume else None,
        sub_path=sub_path,
        description=description,
    )


_REMOTE_KEYS = ("kind", "mount", "groups", "users", "description")


def _parse_remote(name: str, spec: Any, problems: list[str]) -> RemoteSpace | None:
    from .drivers import DriverError, driver_class, known_kinds

    where = f"remote.{name}"
    if not NAME_RE.match(name):
        problems.append(f"{where}: {name!r} cannot name a space; use letters, digits, '.', '_' or '-'")
        return None
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: must be a dict with keys kind, mount, groups, users and the kind's settings")
        return None
    before = len(problems)
    kind = spec.get("kind")
    if kind not in known_kinds():
        problems.append(f"{where}.kind: {kind!r} is not a known kind; known kinds: {', '.join(known_kinds())}")
        return None
    try:
        driver = driver_class(kind)
    except DriverError as e:
        problems.append(f"{where}: {e.message}")
        return None
    allowed = (*_REMOTE_KEYS, *driver.setting_fields)
    _unknown(where, spec, allowed, problems)
    mount = spec.get("mount", name)
    if not isinstance(mount, str) or not NAME_RE.match(mount) or mount.lower() in RESERVED_NAMES:
        problems.append(f"{where}.mount: {mount!r} cannot name a top-level folder")
    groups = _parse_modes(f"{where}.groups", spec.get("groups", {}), problems)
    users = _parse_modes(f"{where}.users", spec.get("users", {}), problems)
    if not groups and not users and len(problems) == before:
        problems.append(f"{where}: no group or user gets this space; add 'groups': {{'*': 'rw'}} for everyone")
    settings = {k: v for k, v in spec.items() if k in driver.setting_fields}
    try:
        driver(dict(settings), None)  # the driver checks its settings (a URL's form, say)
    except DriverError as e:
        problems.append(f"{where}: {e.message}")
    if len(problems) > before:
        return None
    return RemoteSpace(name=name, kind=kind, mount=mount, settings=settings, groups=groups, users=users,
                       description=str(spec.get("description", "")))
