"""The plan: the catalog resolved for one user at spawn.

A plan says which spaces a server gets, where (``mount``, relative to the root of the
user's file tree) and in which mode. It never holds a secret: it travels to the server in
the ``NBSPACES_PLAN`` environment variable and is shown back to the user.

Community admins change their group's shared folders through the group's properties::

    {"nbspaces": {"shared": {"climate-data": "rw", "old-campaign": "off"}}}

Only folders whose catalog entry lists that group can be changed this way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .catalog import EVERYONE, Catalog, Mode

PLAN_ENV = "NBSPACES_PLAN"
PROPERTIES_KEY = "nbspaces"
PLAN_VERSION = 1


@dataclass(frozen=True)
class Space:
    """One space of one user's server."""

    name: str
    kind: str
    mount: str
    mode: str = Mode.RW.value
    quota_bytes: int | None = None
    # "filesystem" where the kernel refuses writes past the quota, "server" where the
    # contents manager is the only guard.
    quota_enforced_by: str | None = None
    description: str = ""
    # Remote spaces: the kind's settings (never a secret), and who declared the space.
    settings: dict[str, Any] = field(default_factory=dict)
    origin: str = "catalog"

    @property
    def read_only(self) -> bool:
        return self.mode == Mode.RO.value


@dataclass(frozen=True)
class Plan:
    user: str
    isolation: str
    spaces: tuple[Space, ...] = field(default_factory=tuple)
    user_kinds: tuple[str, ...] = ()
    # May remote spaces also be mounted as folders (FUSE) in this server? If not, why not.
    posix: bool = False
    posix_reason: str = ""
    version: int = PLAN_VERSION

    @property
    def home(self) -> Space:
        return next(s for s in self.spaces if s.kind == "home")

    def space(self, name: str) -> Space | None:
        return next((s for s in self.spaces if s.name == name), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        if data.get("version") != PLAN_VERSION:
            raise ValueError(
                f"plan version {data.get('version')!r} is not {PLAN_VERSION}; "
                "the hub and the user environment run different nbspaces versions"
            )
        spaces = tuple(Space(**s) for s in data["spaces"])
        return cls(user=data["user"], isolation=data["isolation"], spaces=spaces,
                   user_kinds=tuple(data.get("user_kinds", ())), posix=bool(data.get("posix", False)),
                   posix_reason=str(data.get("posix_reason", "")))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Plan | None:
        text = (os.environ if environ is None else environ).get(PLAN_ENV)
        return cls.from_json(text) if text else None


def community_modes(
    catalog: Catalog, group: str, properties: Mapping[str, Any] | None
) -> tuple[dict[str, Mode], list[str]]:
    """The shared-folder modes a group's community admins set, and what was wrong in them.

    Wrong entries are reported and ignored, so a typo by a community admin never stops a
    member's server from starting.
    """
    problems: list[str] = []
    section = (properties or {}).get(PROPERTIES_KEY)
    if section is None:
        return {}, problems
    where = f"group {group!r} properties[{PROPERTIES_KEY!r}]"
    if not isinstance(section, Mapping):
        return {}, [f"{where}: must be a dict like {{'shared': {{'folder': 'rw'}}}}"]
    for key in section:
        if key != "shared":
            problems.append(f"{where}: unknown key {key!r}; allowed keys: shared")
    shared = section.get("shared", {})
    if not isinstance(shared, Mapping):
        return {}, [*problems, f"{where}['shared']: must be a dict folder -> 'ro', 'rw' or 'off'"]
    modes: dict[str, Mode] = {}
    for name, value in shared.items():
        folder = catalog.shared.get(name)
        if folder is None or not folder.offered_to(group):
            problems.append(
                f"{where}['shared'][{name!r}]: the catalog offers no folder {name!r} to group {group!r}"
            )
            continue
        try:
            modes[name] = Mode(value)
        except ValueError:
            problems.append(f"{where}['shared'][{name!r}]: unknown mode {value!r}; allowed: ro, rw, off")
    return modes, problems


def resolve(
    catalog: Catalog,
    user: str,
    groups: Mapping[str, Mapping[str, Any] | None],
    *,
    isolation: str,
    quota_enforced_by: str,
    posix: bool = False,
    posix_reason: str = "",
) -> tuple[Plan, list[str]]:
    """Resolve the catalog for ``user``, a member of ``groups`` (name -> group properties).

    Returns the plan and the problems found in community settings (for the hub's log).
    Mode rules: a per-user entry of a folder wins outright; otherwise the most permissive of
    the everyone entry and of each of the user's groups (the community admins' setting
    replacing the catalog's for that group). A folder whose result is "off" is not in the plan.
    """
    problems: list[str] = []
    overrides: dict[str, dict[str, Mode]] = {}
    for group, props in sorted(groups.items()):
        overrides[group], found = community_modes(catalog, group, props)
        problems.extend(found)

    home = Space(
        name="home",
        kind="home",
        mount="",
        mode=Mode.RW.value,
        quota_bytes=catalog.home.size_for(user, sorted(groups)),
        quota_enforced_by=quota_enforced_by,
        description="Your persistent home: kept across stops and idle culling.",
    )
    spaces = [home]
    for folder in sorted(catalog.shared.values(), key=lambda f: f.name):
        mode = _mode_for(folder.name, folder.users, folder.groups, user, groups, overrides)
        if mode is not None and mode is not Mode.OFF:
            spaces.append(
                Space(
                    name=folder.name,
                    kind="shared",
                    mount=folder.name,
                    mode=mode.value,
                    description=folder.description,
                )
            )
    for remote in sorted(catalog.remote.values(), key=lambda r: r.name):
        mode = _mode_for(remote.name, remote.users, remote.groups, user, groups, {})
        if mode is not None and mode is not Mode.OFF:
            spaces.append(Space(name=remote.name, kind=remote.kind, mount=remote.mount, mode=mode.value,
                                description=remote.description, settings=dict(remote.settings)))
    plan = Plan(user=user, isolation=isolation, spaces=tuple(spaces), user_kinds=catalog.user_kinds,
                posix=posix, posix_reason="" if posix else posix_reason)
    return plan, problems


def _mode_for(
    name: str,
    users: Mapping[str, Mode],
    catalog_groups: Mapping[str, Mode],
    user: str,
    groups: Iterable[str],
    overrides: Mapping[str, Mapping[str, Mode]],
) -> Mode | None:
    if user in users:
        return users[user]
    candidates: list[Mode] = []
    if EVERYONE in catalog_groups:
        candidates.append(catalog_groups[EVERYONE])
    for group in groups:
        if group in catalog_groups:
            candidates.append(overrides.get(group, {}).get(name, catalog_groups[group]))
    return max(candidates, key=lambda m: m.rank) if candidates else None
