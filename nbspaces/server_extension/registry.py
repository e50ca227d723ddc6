"""The mount registry: every remote space of this server, its driver and its status.

Status is one of ``mounting`` (while the server starts), ``mounted``, ``needs-credentials``,
``unmounted`` (the user disconnected it) or ``error`` with the reason. One space failing never touches the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import tokens
from ..catalog import NAME_RE, RESERVED_NAMES
from ..credentials import STORE_NAME, CredentialError, CredentialStore
from ..drivers import Driver, DriverError, Problem, Usage, driver_class
from ..drivers.base import AddressGuard, Network, check_addresses, check_fields
from ..keys import KeyUnavailable
from ..plan import Plan, Space
from ..session import load_accepted, load_user_spaces, save_accepted, save_user_spaces, with_accepted
from .posix import LIMITED, PosixMounts, unavailable_reason

USAGE_MAX_AGE = 60.0
STALE_UPLOAD = 86400.0  # seconds after which an upload's leftover is removed when its space connects
STATUSES = ("mounting", "mounted", "needs-credentials", "unmounted", "error")


class RegistryError(Exception):
    """A refused request, with the HTTP status that says why and a message for the user;
    ``offer``: settings the user may accept to go on (see :meth:`Registry.accept`)."""

    def __init__(self, status: int, message: str, offer: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.offer = offer


@dataclass
class Mount:
    space: Space
    status: str = "mounting"
    reason: str = ""
    driver: Driver | None = None
    usage: Usage = field(default_factory=lambda: Usage(None, None))
    usage_at: float = 0.0
    posix: bool = False  # also a real folder (FUSE)
    posix_reason: str = ""  # why not, when mounted without a folder

    @property
    def needs_credentials(self) -> bool:
        return bool(driver_class(self.space.kind).credential_fields)

    @property
    def login_token(self) -> str | None:
        return driver_class(self.space.kind).login_token


class Registry:
    def __init__(self, plan: Plan, home: str, key: Callable[[], bytes], log: logging.Logger | None = None):
        self.plan = plan
        self.home = Path(home)
        self._key = key
        self.log = log or logging.getLogger("nbspaces")
        self._store: CredentialStore | None = None
        self.mounts: dict[str, Mount] = {}
        accepted = load_accepted(self.home)
        for space in plan.spaces:
            if space.kind not in ("home", "shared"):
                self.mounts[space.name] = Mount(with_accepted(space, accepted))
        for space in load_user_spaces(self.home, plan):
            self.mounts.setdefault(space.name, Mount(with_accepted(space, accepted)))
        self._locks: dict[str, asyncio.Lock] = {}
        self._spaces_lock = asyncio.Lock()
        self._checking: set[str] = set()  # spaces whose health check is under way
        self._tasks: set[asyncio.Future[None]] = set()  # background work, kept from the GC
        # Timeouts for every space; spaces the user added also reach only the addresses the guard allows.
        self.network = Network()
        self.user_network = Network(guard=AddressGuard())
        self.login_errors: dict[str, str] = {}  # why the login gave no token, per service
        # POSIX mounts where the admins allow them and this server can do them.
        self.posix_off = ((plan.posix_reason or "your admins have not turned on folder mounts") if not plan.posix
                          else unavailable_reason())
        self.posix = PosixMounts(home, self.log) if self.posix_off is None else None

    # -- persistence --------------------------------------------------------------------

    async def _store_or_error(self) -> CredentialStore:
        """The credential store; the first call asks the hub's service for its key, in a thread."""
        if self._store is None:
            try:
                key = await asyncio.to_thread(self._key)
            except KeyUnavailable as e:
                raise RegistryError(503, f"Credentials cannot be stored or read now: {e}") from None
            self._store = self._store or CredentialStore(self.home / STORE_NAME, key)
        return self._store

    async def _save_user_spaces(self) -> None:
        """Save the user's own spaces as they are now; callers hold ``_spaces_lock``."""
        spaces = [m.space for m in self.mounts.values() if m.space.origin == "user"]
        await asyncio.to_thread(save_user_spaces, self.home, spaces)

    # -- lookups ------------------------------------------------------------------------

    def get(self, name: str) -> Mount:
        if name not in self.mounts:
            raise RegistryError(404, f"There is no space named '{name}'")
        return self.mounts[name]

    async def stored_credentials(self) -> set[str]:
        """Names of the spaces with stored credentials (never the values); empty when the store is unreadable."""
        try:
            return set(await asyncio.to_thread((await self._store_or_error()).names))
        except (RegistryError, CredentialError):
            return set()

    def by_mount(self, mount: str) -> Mount | None:
        return next((m for m in self.mounts.values() if m.space.mount == mount), None)

    def driver(self, mount: Mount) -> Driver:
        if mount.status != "mounted" or mount.driver is None:
            why = {"needs-credentials": "connect it first: it needs your credentials",
                   "unmounted": "you disconnected it; connect it again",
                   "mounting": "it is being connected; try again in a moment"}.get(mount.status, mount.reason)
            raise RegistryError(503, f"'{mount.space.mount}' is not available: {why}")
        return mount.driver

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    @contextlib.asynccontextmanager
    async def _alone(self, name: str, busy: str) -> AsyncIterator[None]:
        """The space's lock, or a 409 at once when a connection or test of it is under way: a
        service that does not answer holds it for a read timeout, and nothing should queue behind."""
        lock = self._lock(name)
        if lock.locked():
            raise RegistryError(409, busy)
        async with lock:
            yield

    def network_for(self, space: Space) -> Network:
        return self.user_network if space.origin == "user" else self.network

    def _driver(self, space: Space, credentials: dict[str, str] | None) -> Driver:
        return driver_class(space.kind)(dict(space.settings), credentials, self.network_for(space))

    # -- mounting -----------------------------------------------------------------------

    async def start(self) -> None:
        """Mount every remembered space, concurrently; a failure stays in its space's status."""
        await asyncio.gather(*(self.mount(name) for name in list(self.mounts)), return_exceptions=True)

    def in_the_way(self, mount: Mount) -> bool:
        """A file or non-empty folder of the user's own where the space would appear."""
        where = self.home / mount.space.mount
        if mount.posix or os.path.ismount(where) or not (where.exists() or where.is_symlink()):
            return False
        return where.is_symlink() or not where.is_dir() or any(where.iterdir())

    async def mount(self, name: str) -> Mount:
        mount = self.get(name)
        try:
            return await self._mount(mount)
        except RegistryError:
            raise
        except DriverError as e:
            return await self._set(mount, "error", e.message)
        except Exception as e:  # one space failing never leaves it mounting, nor touches the others
            self.log.exception("nbspaces: mounting %s failed", name)
            return await self._set(mount, "error", f"it could not be connected ({type(e).__name__}: {e})")

    async def _mount(self, mount: Mount) -> Mount:
        name = mount.space.name
        if await asyncio.to_thread(self.in_the_way, mount):
            return await self._set(mount, "error", f"a file or folder of yours named '{mount.space.mount}' is in "
                                                   "the way; rename it, then retry")
        async with self._alone(name, f"'{name}' is already being connected, or its credentials tested; wait for it"):
            credentials = None
            if mount.login_token:
                token = (await self._login_tokens()).get(mount.login_token)
                if not token:
                    why = self.login_errors.get(mount.login_token, "")
                    return await self._set(mount, "needs-credentials", f"your login gave no {mount.login_token} "
                                           f"token{f' ({why})' if why else ''}; log out and in again, "
                                           "or ask your admins")
                credentials = {"token": token}
            elif mount.needs_credentials:
                try:
                    credentials = await asyncio.to_thread((await self._store_or_error()).get, name)
                except RegistryError as e:
                    return await self._set(mount, "error", e.message)
                except CredentialError as e:
                    return await self._set(mount, "error", str(e))
                if not credentials:
                    return await self._set(mount, "needs-credentials", "")
            try:
                driver = self._driver(mount.space, credentials)
                await asyncio.to_thread(driver.check)
            except DriverError as e:
                if e.problem is Problem.AUTH:
                    return await self._set(mount, "needs-credentials", e.message)
                return await self._set(mount, "error", e.message)
            return await self._attach(mount, driver)

    async def _attach(self, mount: Mount, driver: Driver) -> Mount:
        """A checked driver serves the space from now on; with FUSE, the space is a folder too."""
        if mount.driver is not None:
            mount.driver.close()
        mount.driver, mount.usage_at, mount.posix = driver, 0.0, False
        mount.posix_reason = f"{LIMITED}: {self.posix_off}" if self.posix_off else ""
        if self.posix is not None:
            remote = driver.rclone_remote()
            if remote is None:
                mount.posix_reason = f"{LIMITED}: {mount.space.kind} spaces are not mounted as folders"
            else:
                try:
                    await asyncio.to_thread(self.posix.mount, mount.space.name, mount.space.mount, remote,
                                            mount.space.mode == "ro")
                    mount.posix, mount.posix_reason = True, ""
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    mount.posix_reason = f"{LIMITED}: {e}"
        self.background(self._clean_uploads(driver))
        return await self._set(mount, "mounted", "")

    def background(self, coro: Any) -> None:
        """Run ``coro`` without waiting for it, kept from the garbage collector until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _clean_uploads(self, driver: Driver) -> None:
        """Best effort, after a connection: leftovers of uploads older than a day in the space's root."""
        with contextlib.suppress(DriverError):
            await asyncio.to_thread(driver.clean_uploads, "", None, STALE_UPLOAD)

    async def _set(self, mount: Mount, status: str, reason: str) -> Mount:
        if status != "mounted" and mount.driver is not None:
            mount.driver.close()
            mount.driver = None
        if status != "mounted" and mount.posix and self.posix is not None:
            await asyncio.to_thread(self.posix.unmount, mount.space.name)
            mount.posix = False
        if (mount.status, mount.reason) != (status, reason):
            self.log.info("nbspaces: space %s is %s%s", mount.space.name, status, f": {reason}" if reason else "")
        mount.status, mount.reason = status, reason
        return mount

    async def unmount(self, name: str) -> Mount:
        mount = self.get(name)
        async with self._lock(name):
            return await self._set(mount, "unmounted", "disconnected by you")

    async def _login_tokens(self) -> dict[str, str]:
        try:
            found = await asyncio.to_thread(tokens.fetch)
        except tokens.TokensUnavailable as e:
            self.log.warning("nbspaces: login tokens unavailable: %s", e)
            return {}
        self.login_errors = tokens.last_errors()
        return found

    async def use_login_tokens(self, fresh: dict[str, str]) -> None:
        """Hand newer login tokens to the spaces that use them, without a restart."""
        for mount in list(self.mounts.values()):
            kind = mount.login_token
            if kind is None or not fresh.get(kind):
                continue
            if mount.driver is not None and mount.driver.credentials.get("token") == fresh[kind]:
                continue
            if mount.driver is not None:
                mount.driver.credentials = {"token": fresh[kind]}  # drivers read it at each request
            elif mount.status in ("needs-credentials", "error"):
                with contextlib.suppress(RegistryError):  # a connection under way uses the token too
                    await self.mount(mount.space.name)

    # -- faults -------------------------------------------------------------------------

    async def noticed(self, mount: Mount, driver: Driver, error: DriverError, every_problem: bool = False) -> None:
        """A request of ``driver`` failed: a service that cannot be reached, or that refuses the
        credentials, turns its space to error or needs-credentials at once (``every_problem``: any
        failure does, as for a health check of the space's root). A driver that is no longer the
        space's (new credentials meanwhile) says nothing about it."""
        if mount.driver is not driver or mount.status != "mounted":
            return
        if error.problem is Problem.AUTH:
            await self._set(mount, "needs-credentials", error.message)
        elif error.problem is Problem.UNAVAILABLE or every_problem:
            await self._set(mount, "error", error.message)

    async def check_health(self) -> None:
        """One light request to each mounted space, and a new connection of each space in error,
        concurrently, in threads. A space whose check, connection or test is still under way is
        left alone: never more than one check of a space at a time."""
        await asyncio.gather(*(self._check(m) for m in list(self.mounts.values())), return_exceptions=True)

    async def _check(self, mount: Mount) -> None:
        name = mount.space.name
        if name in self._checking or self._lock(name).locked():
            return
        self._checking.add(name)
        try:
            if mount.status == "mounted" and mount.driver is not None:
                driver = mount.driver
                try:
                    await asyncio.to_thread(driver.check)
                except DriverError as e:
                    await self.noticed(mount, driver, e, every_problem=True)
            elif mount.status == "error":
                await self.mount(name)
        finally:
            self._checking.discard(name)

    async def set_credentials(self, name: str, values: dict[str, Any], remember: bool = True) -> Mount:
        """Test the credentials with a real request; store them only if the service accepts them.
        With ``remember`` false they serve until the server stops and are never written (any
        stored before are forgotten): a password typed at each mount, as for a group's SMB share."""
        mount = self.get(name)
        if mount.login_token:
            raise RegistryError(400, f"'{name}' uses your login's {mount.login_token} token; there is nothing to enter")
        cls = driver_class(mount.space.kind)
        try:
            credentials = check_fields(cls, values, credentials=True)
        except DriverError as e:
            raise RegistryError(400, e.message) from None
        store = await self._store_or_error()
        async with self._alone(name, f"A test of {name}'s credentials (or a connection of it) is already running; "
                                     "wait for it"):
            try:
                driver = self._driver(mount.space, credentials)
                await asyncio.to_thread(driver.check)
            except DriverError as e:
                raise refusal(e) from None
            try:
                if remember:
                    await asyncio.to_thread(store.set, name, credentials)
                else:
                    await asyncio.to_thread(store.forget, name)
            except CredentialError:
                await asyncio.to_thread(store.reset)
                if remember:
                    await asyncio.to_thread(store.set, name, credentials)
            return await self._attach(mount, driver)

    async def accept(self, name: str, offer: Any) -> Mount:
        """Trust what the user checked and accepted (an SFTP server's host key, offered with its
        fingerprint by a refused connection), from now on and after restarts, then connect."""
        mount = self.get(name)
        cls = driver_class(mount.space.kind)
        try:
            checked = check_fields(cls, offer, partial=True)
        except DriverError as e:
            raise RegistryError(400, e.message) from None
        if not checked:
            raise RegistryError(400, "Nothing to accept: send the settings the refusal offered")
        taken = sorted(k for k in checked if k in mount.space.settings and mount.space.settings[k] != checked[k])
        if taken:
            raise RegistryError(409, f"'{name}' already trusts another {', '.join(taken)}: if the server's admins "
                                     "changed it, remove the space and add it again")
        async with self._spaces_lock:
            accepted = await asyncio.to_thread(load_accepted, self.home)
            accepted[name] = {**accepted.get(name, {}), **checked}
            try:
                await asyncio.to_thread(save_accepted, self.home, accepted)
            except OSError as e:
                raise RegistryError(503, f"What you accepted cannot be saved in your home now ({e.strerror}); "
                                         "try again") from None
            mount.space = with_accepted(mount.space, accepted)
            if mount.space.origin == "user":
                await self._save_user_spaces()
        return await self.mount(name)

    async def forget(self, name: str) -> Mount:
        mount = self.get(name)
        if mount.login_token:
            raise RegistryError(400, f"'{name}' uses your login's {mount.login_token} token; log out of the hub "
                                     "to stop using it")
        store = await self._store_or_error()
        async with self._lock(name):
            try:
                await asyncio.to_thread(store.forget, name)
            except CredentialError:
                await asyncio.to_thread(store.reset)
            return await self._set(mount, "needs-credentials", "")

    async def add(self, name: str, kind: str, mount_at: str | None, settings: dict[str, Any],
                  credentials: dict[str, Any] | None = None) -> Mount:
        """A space of the user's own, of a kind the admins allow. With ``credentials`` it is added
        connected, or not at all: credentials that are refused or cannot be stored leave nothing."""
        mount = await self._add(name, kind, mount_at, settings)
        if credentials is None:
            return mount
        try:
            return await self.set_credentials(name, credentials)
        except Exception:
            # Nothing was stored (set_credentials stores last); going through remove() would ask
            # the credential store again, and a store that just failed fails again.
            await self._drop(mount)
            raise

    async def _add(self, name: str, kind: str, mount_at: str | None, settings: dict[str, Any]) -> Mount:
        if kind not in self.plan.user_kinds:
            allowed = ", ".join(self.plan.user_kinds) or "none"
            raise RegistryError(403, f"Your admins do not let users add {kind!r} spaces (allowed: {allowed})")
        mount_at = mount_at or name
        for what, value in (("name", name), ("folder", mount_at)):
            if not NAME_RE.match(value) or value.lower() in RESERVED_NAMES:
                shown = repr(value) if len(value) <= 80 else f"{value[:80]!r}..."
                raise RegistryError(400, f"{shown} cannot be a space {what}: use 1 to 64 letters, digits, '.', "
                                         "'_' or '-', starting with a letter or digit")
        cls = driver_class(kind)
        try:
            settings = check_fields(cls, settings)
            cls(dict(settings), None)
            if self.user_network.guard is not None:
                await asyncio.to_thread(check_addresses, cls, settings, self.user_network.guard)
        except DriverError as e:
            raise RegistryError(400, e.message) from None
        async with self._spaces_lock:  # one change of the user's spaces at a time, saved before the next
            if name in self.mounts or any(s.name == name for s in self.plan.spaces):
                raise RegistryError(409, f"There is already a space named '{name}'")
            if self.by_mount(mount_at) or any(s.mount == mount_at for s in self.plan.spaces) or \
                    await asyncio.to_thread((self.home / mount_at).exists):
                raise RegistryError(409, f"'{mount_at}' is already taken in your home; choose another folder name")
            space = Space(name=name, kind=kind, mount=mount_at, mode="rw", settings=settings, origin="user")
            self.mounts[name] = Mount(space)
            try:
                await self._save_user_spaces()
            except OSError as e:
                del self.mounts[name]
                raise RegistryError(503, f"Your spaces cannot be saved in your home now ({e.strerror}); "
                                         "try again") from None
            return self.mounts[name]

    async def remove(self, name: str) -> None:
        mount = self.get(name)
        if mount.space.origin != "user":
            raise RegistryError(403, f"'{name}' comes from your admins; you can forget its credentials, not remove it")
        await self.forget(name)
        await self._drop(mount)

    async def _drop(self, mount: Mount) -> None:
        """The user's space is no longer one of their spaces, from now and after a restart."""
        async with self._spaces_lock:
            if self.mounts.get(mount.space.name) is mount:
                del self.mounts[mount.space.name]
                await self._save_user_spaces()

    async def usage(self, mount: Mount) -> Usage:
        if mount.driver is not None and time.monotonic() - mount.usage_at > USAGE_MAX_AGE:
            mount.usage = await asyncio.to_thread(mount.driver.usage)
            mount.usage_at = time.monotonic()
        return mount.usage

    # -- what the API shows -------------------------------------------------------------

    async def describe(self, mount: Mount, stored: set[str] | None = None) -> dict[str, Any]:
        """A remote space as the API shows it (``stored``: the spaces with stored credentials,
        when the caller already has them). Never a secret."""
        usage = await self.usage(mount) if mount.status == "mounted" else None
        if stored is None:
            stored = await self.stored_credentials()
        space = mount.space
        return {
            "name": space.name, "kind": space.kind, "mount": space.mount, "mode": space.mode,
            "read_only": space.mode == "ro", "origin": space.origin, "description": space.description,
            "settings": public_settings(space), "status": mount.status, "reason": mount.reason,
            "posix_reason": mount.posix_reason,
            "credential_fields": credential_fields(driver_class(space.kind), space.settings),
            "has_credentials": space.name in stored, "used_bytes": usage.used if usage else None,
            "quota_bytes": usage.total if usage else None, "posix": mount.posix,
        }

    async def overview(self, local_status: Callable[[Space], tuple[str, str]],
                       home_usage: tuple[int, int] | None) -> dict[str, Any]:
        """Every space of this server, and the forms of the kinds the user may add or has.

        The contents manager knows the local spaces: ``local_status`` says whether the home or a
        shared folder is where the plan puts it; ``home_usage`` is (used, quota) of the home.
        """
        spaces: list[dict[str, Any]] = []
        for space in self.plan.spaces:
            if space.kind in ("home", "shared"):
                status, reason = local_status(space)
                entry = {**asdict(space), "read_only": space.read_only, "status": status, "reason": reason,
                         "origin": "catalog", "credential_fields": [], "has_credentials": False, "posix": True,
                         "posix_reason": "", "used_bytes": None, "quota_bytes": None}
                entry.pop("settings", None)
                if space.kind == "home" and home_usage is not None:
                    entry["used_bytes"], entry["quota_bytes"] = home_usage
                spaces.append(entry)
        stored = await self.stored_credentials()
        for mount in self.mounts.values():
            spaces.append(await self.describe(mount, stored))
        kinds = {kind: form for kind in dict.fromkeys([*self.plan.user_kinds, *(s["kind"] for s in spaces)])
                 if (form := kind_form(kind)) is not None}
        return {"isolation": self.plan.isolation, "user_kinds": list(self.plan.user_kinds), "kinds": kinds,
                "spaces": spaces}


NEW_SPACE_FIELDS = {"name": (str, True), "kind": (str, True), "mount": (str, False), "settings": (dict, False),
                    "credentials": (dict, False)}


def new_space(data: dict[str, Any]) -> dict[str, Any]:
    """The arguments of :meth:`Registry.add` from a request for a new space:
    ``{"name", "kind", "mount"?, "settings"?, "credentials"?}``, each checked for its type."""
    for key, (kind, required) in NEW_SPACE_FIELDS.items():
        if (required or data.get(key) is not None) and not isinstance(data.get(key), kind):
            raise RegistryError(400, f"'{key}' must be {'text' if kind is str else 'an object'}")
    unknown = sorted(set(data) - set(NEW_SPACE_FIELDS))
    if unknown:
        raise RegistryError(400, f"Unknown fields: {', '.join(unknown)}")
    return {"name": data["name"], "kind": data["kind"], "mount_at": data.get("mount"),
            "settings": data.get("settings") or {}, "credentials": data.get("credentials")}


def refusal(e: DriverError) -> RegistryError:
    """A driver's refusal of a space's settings or credentials, as an answer: what the user can
    fix is 400, a server not trusted yet 409 with what to accept, anything else 502."""
    if e.problem is Problem.UNTRUSTED:
        return RegistryError(409, e.message, e.offer)
    return RegistryError(400 if e.problem in (Problem.AUTH, Problem.INVALID) else 502, e.message)


def credential_fields(cls: type[Driver], settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What to ask the user for a space of this kind (with these settings): nothing for spaces on
    login tokens."""
    if cls.login_token:
        return []
    return [f.describe(name) for name, f in cls.fields_for(settings or {}).items()]


def kind_form(kind: str) -> dict[str, Any] | None:
    """A kind's fields for the dialogs, as its driver declares them; None when its driver is not
    installed here."""
    try:
        cls = driver_class(kind)
    except DriverError:
        return None
    return {"label": cls.kind_label, "login": bool(cls.login_token), "credential_fields": credential_fields(cls),
            "setting_fields": [f.describe(name) for name, f in cls.setting_fields.items()],
            "capabilities": asdict(cls.capabilities)}


def public_settings(space: Space) -> dict[str, Any]:
    """Settings as the API shows them: those the kind declares, never a secret one."""
    fields = driver_class(space.kind).setting_fields
    return {k: v for k, v in space.settings.items() if k in fields and not fields[k].secret}
