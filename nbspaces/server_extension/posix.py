"""POSIX mounts of remote spaces: a real folder in the home, through ``rclone mount`` (FUSE).

One small adapter around one external tool. rclone gets the space's settings and secrets in
its environment (the password obscured as rclone wants it), never in its argv or a file.
It dies with the server (PR_SET_PDEATHSIG), and is unmounted when the server stops or the
space is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..credentials import write_private
from ..drivers.base import RcloneRemote

PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 15.0
LIMITED = "browser and Python API only"


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rclone_binary() -> str | None:
    return shutil.which("rclone") or shutil.which("rclone", path=os.path.dirname(sys.executable))


def unavailable_reason() -> str | None:
    """Why POSIX mounts cannot work here, or None if they can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse in this server"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "this server's account may not use /dev/fuse (it needs mode 0666, the usual one)"
    if not shutil.which("fusermount3") and not shutil.which("fusermount"):
        return "fusermount3 is not installed"
    if rclone_binary() is None:
        return "rclone is not installed"
    return None


class PosixMounts:
    def __init__(self, root: str, log: logging.Logger):
        self.root = Path(root)
        self.log = log
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.cache = Path(tempfile.gettempdir()) / f"nbspaces-rclone-{os.getuid()}"

    def _obscure(self, rclone: str, secret: str) -> str:
        out = subprocess.run([rclone, "obscure", "-"], input=secret.encode(), capture_output=True, check=True)
        return out.stdout.decode().strip()

    def mount(self, name: str, folder: str, remote: RcloneRemote, read_only: bool = False) -> None:
        """Mount; raise RuntimeError with a reason the user can read if it does not work."""
        self.unmount(name)
        rclone = rclone_binary()
        assert rclone is not None
        target = self.root / folder
        if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
            raise RuntimeError(f"a file or folder of yours named '{folder}' is in the way")
        target.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        for key, value in remote.options.items():
            if key in remote.obscured and value:
                value = self._obscure(rclone, value)
            env[f"RCLONE_CONFIG_NBS_{key.upper()}"] = value
        self.cache.mkdir(mode=0o700, exist_ok=True)
        for key, content in remote.files.items():
            path = self.cache / f"{name}.{key}"
            write_private(path, content.encode())
            env[f"RCLONE_CONFIG_NBS_{key.upper()}"] = str(path)
        log_path = self.cache / f"{name}.log"
        argv = [rclone, "mount", f"nbs:{remote.path}", str(target), "--config", "/dev/null",
                "--vfs-cache-mode", "writes", "--dir-cache-time", "5s", "--cache-dir", str(self.cache / name),
                "--log-file", str(log_path)]
        if read_only:
            argv.append("--read-only")  # as the space is for this user
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if os.path.ismount(target):
                self.procs[name] = (proc, target)
                return
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.terminate()
        reason = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
        self._release(target)
        raise RuntimeError(f"the folder could not be mounted ({reason[0] if reason else 'rclone did not start'})")

    def _release(self, target: Path) -> None:
        if os.path.ismount(target):
            for tool in ("fusermount3", "fusermount"):
                if shutil.which(tool):
                    subprocess.run([tool, "-u", "-z", str(target)], capture_output=True, check=False)
                    break
        with contextlib.suppress(OSError):
            target.rmdir()  # only ever an empty mount point of ours

    def unmount(self, name: str) -> None:
        entry = self.procs.pop(name, None)
        if entry is None:
            return
        proc, target = entry
        self._release(target)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(self.unmount, n) for n in list(self.procs)))
