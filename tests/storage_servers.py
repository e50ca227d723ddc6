"""Real S3, SMB and SFTP servers on 127.0.0.1 for tests and benchmarks.

- S3: ``rclone serve s3`` and moto's server;
- SMB: Samba's ``smbd`` on a high port with a configuration, state and password database of its own;
- SFTP: OpenSSH's ``sshd`` on a high port (key login) and ``rclone serve sftp`` (password login).

Secrets reach them through files (0600) or the environment of the server process, never argv.
Each server serves a folder of the test (``root``), so tests can look at what really arrived.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.realhub import free_port, stop_process
from tests.waiting import wait_until

VENV_BIN = Path(sys.executable).parent


@dataclass
class Served:
    """A server process of the tests: what it serves, where, and with which credentials."""

    name: str
    root: Path  # the folder served (for S3: one folder per bucket)
    port: int
    user: str
    password: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # A session of its own: smbd signals its whole process group when it stops.
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root.parent,
                                         env={**os.environ, **self.env}, start_new_session=True)

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, f"{self.name} listens on port {self.port}")

    def stop(self) -> None:
        """Stop the server and every process it started: sshd and smbd serve each connection in a
        process of its own (sshd's in a session of its own), which would outlive the master."""
        if self.proc:
            children = _descendants(self.proc.pid)
            stop_process(self.proc, 10)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc = None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


# -- S3 ------------------------------------------------------------------------------------


@dataclass
class S3Server(Served):
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bucket(self, name: str) -> Path:
        """A bucket, as the folder the server keeps it in (rclone); moto's are made through its API."""
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path


def rclone_s3(base: Path) -> S3Server:
    """``rclone serve s3`` on a folder: each top-level folder is a bucket. Keys in its environment."""
    root, port = base / "rclone-s3", free_port()
    root.mkdir(parents=True, exist_ok=True)
    key, secret = "AK" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    server = S3Server("rclone serve s3", root, port, key, secret,
                      [str(VENV_BIN / "rclone"), "serve", "s3", str(root), "--addr", f"127.0.0.1:{port}",
                       "--config", "/dev/null", "--force-path-style"],
                      base / "rclone-s3.log", env={"RCLONE_AUTH_KEY": f'"{key},{secret}"'})  # one CSV field
    server.start()
    return server


def moto_s3(base: Path) -> S3Server:
    """moto's S3 server (it keeps buckets in memory; ``root`` is unused). It takes any keys."""
    root, port = base / "moto", free_port()
    root.mkdir(parents=True, exist_ok=True)
    server = S3Server("moto", root, port, "testing", "testing",
                      [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], base / "moto.log")
    server.start()
    return server


# -- SMB -----------------------------------------------------------------------------------


@dataclass
class SmbServer(Served):
    share: str = "data"

    @property
    def host(self) -> str:
        return "127.0.0.1"


def smbd(base: Path, user: str = "alice", share: str = "data", read_only: bool = False) -> SmbServer:
    """Samba's smbd on a high port of 127.0.0.1, with a configuration, state and password database
    of its own: it neither reads nor changes the machine's Samba. The SMB user ``user`` maps to the
    account the tests run as (smbd needs a Unix account behind every SMB user)."""
    smbd_bin = shutil.which("smbd") or "/usr/sbin/smbd"
    pdbedit = shutil.which("pdbedit") or "/usr/bin/pdbedit"
    home = base / "smbd"
    root, port, password = base / "smb-data", free_port(), secrets.token_urlsafe(12)
    for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    account = getpass.getuser()
    (home / "users.map").write_text(f"{account} = {user}\n")
    config = home / "smb.conf"
    config.write_text(f"""[global]
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  server role = standalone server
  disable netbios = yes
  private dir = {home}/private
  lock directory = {home}/lock
  state directory = {home}/state
  cache directory = {home}/cache
  pid directory = {home}/pid
  ncalrpc dir = {home}/ncalrpc
  passdb backend = tdbsam:{home}/private/passdb.tdb
  username map = {home}/users.map
  log file = {home}/log.%m
  map to guest = never
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
  server min protocol = SMB2_10
[{share}]
  path = {root}
  read only = {"yes" if read_only else "no"}
""")
    subprocess.run([pdbedit, f"--configfile={config}", "-a", "-u", account, "-t"], input=f"{password}\n{password}\n",
                   text=True, check=True, capture_output=True)
    server = SmbServer("smbd", root, port, user, password,
                       [smbd_bin, "--foreground", "--no-process-group", f"--configfile={config}", "--debug-stdout",
                        "-d", "1"], base / "smbd.log", share=share)
    server.start()
    return server


# -- SFTP ----------------------------------------------------------------------------------


@dataclass
class SftpServer(Served):
    host_key: Path = Path()  # the server's private host key
    client_key: Path | None = None  # a private key that logs in (sshd)

    @property
    def host_public_key(self) -> str:
        return Path(f"{self.host_key}.pub").read_text().strip()

    def replace_host_key(self) -> None:
        """A new host key, as after a reinstall (or a man in the middle): restarts the server."""
        self.stop()
        for path in (self.host_key, Path(f"{self.host_key}.pub")):
            path.unlink()
        _keygen(self.host_key)
        self.start()


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)


def sshd(base: Path) -> SftpServer:
    """OpenSSH's sshd on a high port, logging in the account the tests run as with a key only;
    SFTP with the internal server. It serves the whole file system: spaces use ``root`` as folder."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    home = base / "sshd"
    home.mkdir(parents=True, exist_ok=True)
    root, port = base / "sftp-data", free_port()
    root.mkdir(parents=True, exist_ok=True)
    host_key, client_key = home / "host_key", home / "client_key"
    _keygen(host_key)
    _keygen(client_key)
    authorized = home / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    os.chmod(authorized, 0o600)
    config = home / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {home}/sshd.pid
AuthorizedKeysFile {authorized}
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""")
    if os.geteuid() == 0:  # sshd started by root insists on its privilege separation folder
        Path("/run/sshd").mkdir(exist_ok=True)
    server = SftpServer("sshd", root, port, getpass.getuser(), "", [sshd_bin, "-D", "-e", "-f", str(config)],
                        base / "sshd.log", host_key=host_key, client_key=client_key)
    server.start()
    return server


def rclone_sftp(base: Path, user: str = "alice") -> SftpServer:
    """``rclone serve sftp`` on a folder, with a password login (in its environment)."""
    home = base / "rclone-sftp"
    home.mkdir(parents=True, exist_ok=True)
    root, port, password = base / "rclone-sftp-data", free_port(), secrets.token_urlsafe(12)
    root.mkdir(parents=True, exist_ok=True)
    host_key = home / "host_key"
    _keygen(host_key)
    server = SftpServer("rclone serve sftp", root, port, user, password,
                        [str(VENV_BIN / "rclone"), "serve", "sftp", str(root), "--addr", f"127.0.0.1:{port}",
                         "--config", "/dev/null", "--key", str(host_key)],
                        base / "rclone-sftp.log", env={"RCLONE_USER": user, "RCLONE_PASS": password},
                        host_key=host_key)
    server.start()
    return server
