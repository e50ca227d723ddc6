"""The local spawner: nbspaces on one machine, the embedded default.

Two isolation levels, and ``auto`` (the default), which picks ``strong`` where this machine
can run it (see ``strong_unavailable``) and ``basic`` otherwise:

``basic`` (no root needed): every server runs as the hub's own unix account, homes
are folders under ``data_dir/homes``, shared folders appear in the home as links, the home
quota and read-only folders are enforced by the server's contents manager. Code running in a
user's kernel is not held back by either.

``strong`` (the hub runs as root): every server runs as its own
unix account in its own mount namespace. The home is a sparse ext4 image loop-mounted over
the home folder, so the kernel enforces the quota; shared folders are bind-mounted into the
home, read-only unless the user may write, so the kernel refuses writes (EROFS) whatever
code the user runs; ``/tmp`` is private to the server.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Bool, Enum, Integer, TraitError, Unicode, default, validate

from ..catalog import Catalog
from ..provision import Placement, placements
from .base import SpacesMixin

# The launcher mounts the home and shared folders in a new mount namespace, which the server's
# process then enters. It runs as a file, isolated (-I): `-m nbspaces.spawner.launch` would
# import the hub side of nbspaces (jupyterhub, traitlets), half a second of CPU at every spawn
# for a stdlib-only script.
_LAUNCHER = ["unshare", "--mount", "--propagation", "private", "--",
             sys.executable, "-I", str(Path(__file__).with_name("launch.py"))]
_CLONE_NEWNS = 0x00020000  # setns(2): join a mount namespace
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def fs_name(username: str) -> str:
    """A file name for a user: the name itself when safe, else a cleaned name plus a hash."""
    if _SAFE_NAME.fullmatch(username) and ".." not in username:
        return username
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", username.lower()).strip("-.")[:40] or "user"
    return f"{cleaned}-{hashlib.sha256(username.encode()).hexdigest()[:10]}"


class LocalSpaceSpawner(SpacesMixin, LocalProcessSpawner):
    """Spawns single-user servers on this machine with a persistent home and shared folders."""

    catalog_need = "source"
    # The hub checked every source at start; one that vanished since fails only its own
    # space (see _usable), never the whole spawn.
    check_sources = False
    # Strong isolation: the namespace start() made, between the launcher and the server's Popen.
    _namespace: _Namespace | None = None

    isolation = Enum(
        ["auto", "basic", "strong"],
        # No static default: its @default and a configured "auto" both go through the validator.
        help="""'basic': one unix account, quota and read-only enforced by the server.
        'strong': root only; one unix account per user, a hard quota and read-only mounts
        enforced by the kernel. 'auto' (the default): 'strong' where the hub runs as root and
        this machine can run it (loop devices, mount namespaces, a server environment other
        accounts can run), else 'basic'. Reading the trait gives the level chosen.""",
    ).tag(config=True)

    data_dir = Unicode(
        help="Where homes (and in strong isolation, home images) live. Default: $NBSPACES_DATA_DIR.",
    ).tag(config=True)

    uid_base = Integer(
        200000,
        help="""Strong isolation: a user without a system account runs as uid/gid
        uid_base + their hub user id. No /etc/passwd entry is made.""",
    ).tag(config=True)

    use_system_users = Bool(
        False,
        help="Strong isolation: run users as their existing system accounts (LDAP, SSSD...).",
    ).tag(config=True)

    shared_gid_base = Integer(
        300000,
        help="""Strong isolation: each shared folder gets the group gid shared_gid_base + a
        number derived from its name; the users who may write it get that group.""",
    ).tag(config=True)

    private_tmp_size = Unicode(
        "1g",
        help="Strong isolation: size of the server's private /tmp (a tmpfs); '' keeps the host's /tmp.",
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.environ.get("NBSPACES_DATA_DIR", "/var/lib/nbspaces")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("isolation")
    def _default_isolation(self) -> str:
        return self._check_isolation({"value": "auto"})

    @validate("isolation")
    def _check_isolation(self, proposal: dict) -> str:
        if proposal["value"] == "auto":
            return "basic" if self.strong_unavailable() else "strong"
        if proposal["value"] == "strong" and os.geteuid() != 0:
            raise ValueError("isolation 'strong' needs the hub to run as root; use 'basic' otherwise")
        return proposal["value"]

    @validate("popen_kwargs")
    def _check_popen_kwargs(self, proposal: dict) -> dict:
        if "preexec_fn" in proposal["value"]:
            raise TraitError(
                "c.LocalSpaceSpawner.popen_kwargs cannot set preexec_fn: it would replace the step that "
                "goes to the home, or in strong isolation enters the user's namespace and drops root"
            )
        return proposal["value"]

    def strong_unavailable(self) -> str | None:
        """Why strong isolation cannot run on this machine with these settings, or None."""
        return strong_unavailable(self.data_dir, tuple(self.cmd), self.uid_base, bool(self.private_tmp_size))

    @property
    def posix_allowed(self) -> bool:  # type: ignore[override]
        # Servers sharing one unix account can read each other's process environments and
        # files, so a FUSE mount's credentials (rclone's) would be every user's to read.
        return self.isolation != "basic"

    posix_off_reason = "servers share one unix account here"

    @property
    def quota_enforced_by(self) -> str:
        return "filesystem" if self.isolation == "strong" else "server"

    # -- paths ------------------------------------------------------------------------

    @property
    def home_dir(self) -> str:
        return str(Path(self.data_dir) / "homes" / fs_name(self.user.name))

    @property
    def home_image(self) -> str:
        return str(Path(self.data_dir) / "home-images" / f"{fs_name(self.user.name)}.img")

    def run_as(self) -> tuple[int, int]:
        """The uid and gid of this user's server in strong isolation."""
        if self.use_system_users:
            entry = pwd.getpwnam(self.user.name)
            return entry.pw_uid, entry.pw_gid
        uid = self.uid_base + int(self.user.id)
        return uid, uid

    def unix_name(self, uid: int) -> str:
        """The account name a dynamic uid gets in its own namespace: the hub name when it is a
        valid unix name no host account already has, else 'nbs-' and a cleaned name."""
        name = self.user.name
        if re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name):
            try:
                if pwd.getpwnam(name).pw_uid == uid:
                    return name
            except KeyError:
                return name
        return ("nbs-" + re.sub(r"[^a-z0-9_-]", "-", name.lower()))[:32]

    def shared_gid(self, folder: str) -> int:
        return shared_gid(self.shared_gid_base, folder)

    # -- spawning ---------------------------------------------------------------------

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.nbspaces_env(self._plan))
        # Terminals and kernels find the server's own python3, pip, jupyter and nbspaces first.
        path = env.get("PATH") or os.defpath
        program = shutil.which(self.cmd[0], path=path) if os.sep not in self.cmd[0] else self.cmd[0]
        if program:
            bin_dir = os.path.dirname(os.path.abspath(program))
            env["PATH"] = os.pathsep.join([bin_dir, *(p for p in path.split(os.pathsep) if p != bin_dir)])
        return env

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env["USER"] = self.user.name
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    def get_args(self) -> list[str]:
        # A terminal's shell is interactive, not a login shell: a login shell's /etc/profile puts
        # the system's PATH back, hiding the server's environment (as in Jupyter's docker-stacks).
        terminal = json.dumps({"shell_command": ["/bin/bash"]})
        args = [f"--ServerApp.root_dir={self.home_dir}", f"--ServerApp.terminado_settings={terminal}",
                *super().get_args()]
        if self.isolation == "basic" and os.geteuid() == 0:
            args.append("--ServerApp.allow_root=True")
        return args

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        """What the server's process does before it runs the server: in basic isolation, go to
        the home; in strong isolation, enter the namespace ``start`` made and become the user."""
        if self.isolation == "basic":
            return functools.partial(os.chdir, self.home_dir)
        assert self._namespace is not None, "start() makes the namespace first"
        return functools.partial(_enter, self._namespace, ctypes.CDLL(None, use_errno=True))

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        return paths

    async def start(self) -> tuple[str, int]:
        """Provision the home and shared folders, then start the server as LocalProcessSpawner
        does (``shell_cmd``, ``popen_kwargs`` and its messages included)."""
        catalog = self.nbspaces_catalog()
        self._plan = self.resolve_plan(catalog)
        placed = [m for m in placements(self._plan, catalog) if self._usable(m)]
        self.log.info("nbspaces: the server of %s runs in %s isolation", self.user.name, self.isolation)
        if self.isolation == "basic":
            await asyncio.to_thread(self._prepare_basic, placed, catalog)
            return await super().start()
        launch = await asyncio.to_thread(self._prepare_strong, placed)
        self._namespace = await asyncio.to_thread(self._make_namespace, launch)
        try:
            return await super().start()
        except PermissionError:
            self.log.error("nbspaces: in strong isolation the user's own account runs the server; "
                           "point c.LocalSpaceSpawner.cmd at a Python environment every user can read")
            raise
        finally:
            # The server holds the namespace now (or nothing does, and the kernel unmounts it all).
            os.close(self._namespace.fd)
            self._namespace = None

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        if self.isolation == "strong":
            # Kernels and daemons a user left behind keep the home mounted: end them, so
            # the next start gets the image to itself.
            uid, _ = self.run_as()
            await asyncio.to_thread(_kill_uid, uid)

    def _usable(self, m: Placement) -> bool:
        if m.kind != "shared" or os.path.isdir(_source_path(m.source, m.sub_path)):
            return True
        self.log.error(
            "nbspaces: shared folder %r is not mounted for %s: %s is not a folder",
            m.space, self.user.name, _source_path(m.source, m.sub_path),
        )
        return False

    # -- basic ------------------------------------------------------------------------

    def _prepare_basic(self, placed: list[Placement], catalog: Catalog) -> None:
        """Make the home folder and link each shared folder of the plan into it."""
        home = Path(self.home_dir)
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        wanted = {m.target: _source_path(m.source, m.sub_path) for m in placed if m.kind == "shared"}
        sources = {os.path.realpath(_source_path(f.source, f.sub_path)) for f in catalog.shared.values()}
        # Links left by an earlier plan (a folder a community admin turned off) go away.
        for entry in home.iterdir():
            if entry.is_symlink() and entry.name not in wanted and os.path.realpath(entry) in sources:
                entry.unlink()
        for target, source in wanted.items():
            link = home / target
            if link.is_symlink():
                if os.readlink(link) == source:
                    continue
                link.unlink()
            if link.exists():
                self.log.warning(
                    "nbspaces: %s has a folder %r of their own; the shared folder is not linked",
                    self.user.name, target,
                )
                continue
            link.symlink_to(source, target_is_directory=True)

    # -- strong -----------------------------------------------------------------------

    def _prepare_strong(self, placed: list[Placement]) -> dict[str, Any]:
        """Make the home image and mount point; return the launcher's instructions."""
        uid, gid = self.run_as()
        if self.private_tmp_size:
            for what, path in (("data_dir", self.data_dir), ("cmd", self.cmd[0])):
                if os.path.realpath(path) == "/tmp" or os.path.realpath(path).startswith("/tmp/"):
                    raise RuntimeError(
                        f"nbspaces: c.LocalSpaceSpawner.{what} ({path}) is under /tmp, which strong "
                        "isolation replaces with a private /tmp; move it, or set private_tmp_size = ''"
                    )
        home = next(m for m in placed if m.kind == "home")
        assert home.quota_bytes is not None
        image = Path(self.home_image)
        image.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(image.parent, 0o700)
        if _loop_devices(image):
            raise RuntimeError(
                f"the home of {self.user.name} is still in use by a server that is stopping; "
                "try again in a minute"
            )
        _ensure_image(image, home.quota_bytes, uid, gid, self.log)
        mountpoint = Path(self.home_dir)
        mountpoint.mkdir(parents=True, exist_ok=True)
        os.chmod(mountpoint.parent, 0o711)
        os.chown(mountpoint, uid, gid)
        os.chmod(mountpoint, 0o700)
        writable = [m for m in placed if m.kind == "shared" and not m.read_only]
        for m in writable:
            _share_with_group(_source_path(m.source, m.sub_path), self.shared_gid(m.space), self.log)
        nss_dir = Path(self.data_dir) / "nss" / fs_name(self.user.name)
        nss_dir.mkdir(parents=True, exist_ok=True)
        launch = {
            "image": str(image),
            "home": str(mountpoint),
            "uid": uid,
            "gid": gid,
            "user_name": None if self.use_system_users else self.unix_name(uid),
            "nss_dir": str(nss_dir),
            "groups": sorted(self.shared_gid(m.space) for m in writable),
            "tmp_size": self.private_tmp_size,
            "binds": [
                {"source": _source_path(m.source, m.sub_path), "target": m.target, "read_only": m.read_only}
                for m in placed
                if m.kind == "shared"
            ],
        }
        return launch

    def _make_namespace(self, launch: dict[str, Any]) -> _Namespace:
        """Run the launcher and take a handle on the mount namespace it made: the handle keeps
        the namespace, and its mounts, until the server's process has entered it."""
        proc = Popen(_LAUNCHER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True, cwd="/", env={"PATH": os.environ.get("PATH", os.defpath)})
        fd = None
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(launch) + "\n")
            proc.stdin.flush()
            if proc.stdout.readline() == "ready\n":
                fd = os.open(f"/proc/{proc.pid}/ns/mnt", os.O_RDONLY)
        finally:
            _, said = proc.communicate()  # closes its stdin: it exits, the handle holds the namespace
        if fd is None:
            raise RuntimeError(f"nbspaces: the folders of {self.user.name} could not be mounted "
                               f"({said.strip() or f'exit status {proc.returncode}'})")
        for line in said.splitlines():  # shared folders it skipped, and why
            self.log.warning("nbspaces: %s: %s", self.user.name, line)
        return _Namespace(fd=fd, uid=launch["uid"], gid=launch["gid"], groups=launch["groups"],
                          home=launch["home"])


@dataclass(frozen=True)
class _Namespace:
    """A user's mount namespace, made by the launcher, and who enters it."""

    fd: int
    uid: int
    gid: int
    groups: list[int]
    home: str


def _enter(namespace: _Namespace, libc: ctypes.CDLL) -> None:
    """Run in the server's process before the server: enter the namespace, drop root."""
    if libc.setns(namespace.fd, _CLONE_NEWNS) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot enter the mount namespace: {os.strerror(error)}")
    # Only the groups of the shared folders this user may write; nothing of root's.
    os.setgroups(namespace.groups)
    os.umask(0o002)  # what one writer of a shared folder creates, the others can change
    os.setgid(namespace.gid)
    os.setuid(namespace.uid)
    os.chdir(namespace.home)


STRONG_TOOLS = ("unshare", "setpriv", "losetup", "mount", "mkfs.ext4", "e2fsck", "resize2fs")


@functools.cache
def strong_unavailable(data_dir: str, cmd: tuple[str, ...], uid: int, private_tmp: bool) -> str | None:
    """Why strong isolation cannot run here, or None: what isolation 'auto' decides by.

    It needs root, the tools, a loop device that attaches, a mount namespace, and a server
    program that an unprivileged account can run: the last two are tried for real, once per
    hub (``cmd --version`` as ``uid`` in a new mount namespace, a second or two).
    """
    if os.geteuid() != 0:
        return "the hub does not run as root"
    missing = [tool for tool in STRONG_TOOLS if not shutil.which(tool)]
    if missing:
        return f"{', '.join(missing)} not found (Debian packages util-linux, mount, e2fsprogs)"
    if private_tmp:
        for what, path in (("data_dir", data_dir), ("cmd", cmd[0])):
            real = os.path.realpath(shutil.which(path) or path)
            if real == "/tmp" or real.startswith("/tmp/"):
                return f"{what} ({path}) is under /tmp, which strong isolation replaces with a private /tmp"
    with tempfile.NamedTemporaryFile(prefix="nbspaces-loop-probe-") as probe:
        probe.truncate(1 << 20)
        attach = subprocess.run(["losetup", "--find", "--show", "--read-only", probe.name],
                                capture_output=True, text=True, check=False)
        if attach.returncode != 0:
            return f"no loop device can be attached ({attach.stderr.strip() or attach.returncode})"
        subprocess.run(["losetup", "-d", attach.stdout.strip()], capture_output=True, check=False)
    try:
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "setpriv", f"--reuid={uid}",
             f"--regid={uid}", "--clear-groups", *cmd, "--version"],
            capture_output=True, text=True, check=False, cwd="/", timeout=120,
            env={**os.environ, "HOME": "/"},
        )
    except subprocess.TimeoutExpired:
        return "the server program did not answer --version in 120 s as an unprivileged account"
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return f"an unprivileged account cannot run the server in a mount namespace: {last}"
    return None


def shared_gid(base: int, folder: str) -> int:
    """The group of a shared folder's writers: stable for a name, the same for every user."""
    return base + zlib.crc32(folder.encode()) % 100000


def _source_path(source: str | None, sub_path: str | None) -> str:
    assert source is not None  # the catalog requires a source on one machine
    return os.path.join(source, sub_path) if sub_path else source


def _loop_devices(image: Path) -> list[str]:
    if not image.exists():
        return []
    out = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=False)
    return [line.split(":", 1)[0] for line in out.stdout.splitlines() if line.strip()]


def _ensure_image(image: Path, size: int, uid: int, gid: int, log) -> None:  # type: ignore[no-untyped-def]
    """Create the sparse ext4 home image, or grow it when the quota grew."""
    if not image.exists():
        tmp = image.with_suffix(".img.new")
        with open(tmp, "wb") as f:
            f.truncate(size)
        os.chmod(tmp, 0o600)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "nbspaces-home", "-E", f"root_owner={uid}:{gid}", str(tmp)],
            check=True, capture_output=True,
        )
        os.replace(tmp, image)  # a half-made image never has the real name
        return
    current = image.stat().st_size
    if size > current:
        with open(image, "r+b") as f:
            f.truncate(size)
        subprocess.run(["e2fsck", "-f", "-p", str(image)], check=False, capture_output=True)
        subprocess.run(["resize2fs", str(image)], check=True, capture_output=True)
        log.info("nbspaces: grew home image %s to %d bytes", image, size)
    elif size < current:
        log.warning(
            "nbspaces: home image %s is %d bytes, the quota says %d; homes are never shrunk",
            image, current, size,
        )


def _share_with_group(folder: str, gid: int, log) -> None:  # type: ignore[no-untyped-def]
    """Make a shared folder writable by its writers' group, once, when it is first shared.

    Folders become group-owned, group-writable and setgid, so what one writer creates the
    others can change. Files added later by an admin outside nbspaces need the same.
    """
    if os.stat(folder).st_gid == gid:
        return
    log.info("nbspaces: giving %s to group %d, writable by the group", folder, gid)
    for top, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = os.path.join(top, name)
            if not os.path.islink(path):
                os.chown(path, -1, gid)
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o060 | (0o2010 if os.path.isdir(path) else 0))
    os.chown(folder, -1, gid)
    os.chmod(folder, os.stat(folder).st_mode | 0o2070)


def _kill_uid(uid: int) -> None:
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if pid_dir.stat().st_uid == uid:
                os.kill(int(pid_dir.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
