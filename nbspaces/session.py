"""The spaces of this server, as code in a kernel or terminal sees them.

Built from what the spawner gave the server (NBSPACES_PLAN, HOME) and what the user stored
in the home (their own spaces; credentials, encrypted). One driver per remote space is kept
for the life of the process, so its connection is reused.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import tokens
from .credentials import STORE_NAME, CredentialStore, write_private
from .drivers import Driver, DriverError, Problem, clean_path, driver_class
from .keys import fetch_key
from .plan import Plan, Space

USER_SPACES = ".nbspaces/spaces.json"
# Settings the user accepted after checking them (an SFTP server's host key), per space name.
ACCEPTED = ".nbspaces/accepted.json"


def load_user_spaces(home: Path, plan: Plan) -> list[Space]:
    """The spaces the user added, of kinds the admins still allow."""
    try:
        data = json.loads((home / USER_SPACES).read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [Space(name=name, kind=spec["kind"], mount=spec["mount"], mode="rw",
                  settings=spec.get("settings", {}), origin="user")
            for name, spec in data.items() if spec.get("kind") in plan.user_kinds]


def save_user_spaces(home: Path, spaces: list[Space]) -> None:
    data = {s.name: {"kind": s.kind, "mount": s.mount, "settings": s.settings} for s in spaces}
    write_private(home / USER_SPACES, json.dumps(data, indent=1).encode())


def load_accepted(home: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((home / ACCEPTED).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def save_accepted(home: Path, accepted: dict[str, dict[str, Any]]) -> None:
    write_private(home / ACCEPTED, json.dumps(accepted, indent=1).encode())


def with_accepted(space: Space, accepted: dict[str, dict[str, Any]]) -> Space:
    """The space with what the user accepted for it; an admin's setting is never replaced (an
    admin-pinned host key stays the only one trusted)."""
    extra = {k: v for k, v in accepted.get(space.name, {}).items() if k not in space.settings}
    return replace(space, settings={**space.settings, **extra}) if extra else space


@dataclass(frozen=True)
class Resolved:
    space: Space
    driver: Driver | None  # None: a local space (home, shared folder)
    path: str  # the absolute local path, or the path inside the remote space
    writable: bool


class Session:
    def __init__(self, plan: Plan, home: str | os.PathLike[str], key: bytes | None = None):
        """``key`` opens the credential store; by default the hub's nbspaces service gives it."""
        self.plan = plan
        self._key = key
        self.home = Path(home)
        accepted = load_accepted(self.home)
        self.spaces = [with_accepted(s, accepted) for s in [*plan.spaces, *load_user_spaces(self.home, plan)]]
        self._drivers: dict[str, Driver] = {}
        self._lock = threading.Lock()

    def mounts(self) -> list[str]:
        return [s.mount for s in self.spaces if s.mount]

    def space(self, name_or_mount: str) -> Space:
        for s in self.spaces:
            if name_or_mount in (s.name, s.mount) and s.kind != "home":
                return s
        raise KeyError(f"no space named {name_or_mount!r}; spaces: {', '.join(self.mounts())}")

    def driver(self, space: Space) -> Driver:
        cls = driver_class(space.kind)
        if cls.login_token:
            # Login tokens expire while a kernel runs: the hub's current one, at most 30 s old.
            token = tokens.fetch().get(cls.login_token)
            if not token:
                raise DriverError(Problem.AUTH, f"your login gave no {cls.login_token} token; log in again")
            with self._lock:
                if space.name not in self._drivers:
                    self._drivers[space.name] = cls(dict(space.settings), {"token": token})
                self._drivers[space.name].credentials = {"token": token}
                return self._drivers[space.name]
        with self._lock:
            if space.name not in self._drivers:
                credentials = None
                if cls.credential_fields:
                    store = CredentialStore(self.home / STORE_NAME, self._key or fetch_key())
                    credentials = store.get(space.name)
                    if not credentials:
                        raise DriverError(Problem.AUTH, f"'{space.mount}' needs your credentials: connect it "
                                                        f"first, e.g. `nbspaces login {space.name}` in a terminal")
                self._drivers[space.name] = cls(dict(space.settings), credentials)
            return self._drivers[space.name]

    def resolve(self, path: str) -> Resolved:
        rel = clean_path(path.strip("/"))
        head, _, rest = rel.partition("/")
        space = next((s for s in self.spaces if s.mount and s.mount == head), None)
        if space is None:
            home = next(s for s in self.spaces if s.kind == "home")
            return Resolved(home, None, str(self.home / rel) if rel else str(self.home), True)
        writable = space.mode == "rw"
        if space.kind == "shared":
            return Resolved(space, None, str(self.home / rel), writable)
        return Resolved(space, self.driver(space), rest, writable)


_current: Session | None = None


def current() -> Session:
    """The session of this process, from its environment."""
    global _current
    if _current is None:
        plan = Plan.from_env()
        if plan is None:
            raise RuntimeError("this process does not run in a server started by nbspaces (no NBSPACES_PLAN)")
        _current = Session(plan, os.environ.get("HOME", os.getcwd()))
    return _current


def describe() -> list[dict[str, Any]]:
    return [{"name": s.name, "kind": s.kind, "mount": s.mount or ".", "mode": s.mode} for s in current().spaces]
