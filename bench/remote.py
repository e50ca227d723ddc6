"""Remote spaces: nbspaces' contents API and /files/ against the storage's own clients and jupyter-fs.

One run, on one machine, against the same local servers:

- WebDAV: ``rclone serve webdav`` (tests/webdav_servers.rclone: a fast, real WebDAV server in Go,
  password through an htpasswd file) over a local folder.
- DataHub: the Onezone/Oneprovider stand-in (tests/standins/onedata.py) over HTTPS, run in a child
  process so its Python threads do not share the benchmark's interpreter. One change, for this
  benchmark only (a subclass here, the tests' stand-in is untouched): a ranged GET reads only its
  range from disk, as a real Oneprovider does; the stand-in itself reads the whole file for every
  request, which would charge nbspaces' ranged 8 MiB blocks a whole-file read each.
- nbspaces: a real JupyterHub with configurable-http-proxy (tests/realhub.py), one user ``bench-ada``
  whose single-user server has two remote spaces: ``dav`` (webdav; connected by
  ``PUT /user/bench-ada/nbspaces/api/spaces/dav/credentials``) and ``datahub`` (onedata).
  ``c.NBSpaces.posix_mounts = False``: every byte goes through nbspaces' own contents manager
  and /files/ handler, not through an rclone FUSE mount.
  The DataHub token is a login token (the registry refuses it as credentials), so it has to be in
  the user's auth_state. The simplest way that works: the hub runs with
  ``c.Authenticator.enable_auth_state = True`` (and JUPYTERHUB_CRYPT_KEY in its environment), and
  the benchmark's admin service writes ``{"onedata_token": <token>}`` into the user's auth_state with
  ``PATCH /hub/api/users/bench-ada`` before the spawn, as an authenticator would at login. The server
  then reads it from the hub as it does in production (its role has ``admin:auth_state!user``).
- peer: jupyter-fs (PyPI ``jupyter-fs``, the peer in shared/reference/peers.md) in its own venv
  (``--peer-venv``, made on first use, never part of nbspaces' dependencies), as a plain
  ``jupyter server`` with ``jupyterfs.metamanager.MetaManager`` and two resources on the same
  WebDAV server, defined in a 0600 config file: its PyFilesystem2 backend
  (``webdav://user:pass@host:port/dav``, fs.webdavfs) and its fsspec backend (webdav4, with
  ``base_url`` carrying the credentials). It is reached through its own configurable-http-proxy,
  so both sides pay for one proxy hop. jupyter-fs serves /files/ through jupyter_server's
  FilesHandler (the contents model, base64, whole in memory); that is what is measured.

Operations (client: this process, with requests; sizes in MiB = 2**20 bytes):

- listing: ``GET /api/contents/<space>/many-K`` of a folder of ``--files`` files, until the JSON is
  parsed, every repeat on another folder (nbspaces keeps a listing 5 s: each one here is cold);
  direct: one webdavclient3 ``Client.list(path, get_info=True)`` / Onedata's
  ``OnedataFileRESTClient.list_children`` page after page until ``isLast`` (1,000 a page, the same
  attributes nbspaces asks for). rclone's own directory cache is warmed first for every folder.
- download: ``GET /files/<space>/big.bin`` streamed to /dev/null in 1 MiB reads; direct:
  ``requests.get(stream=True)`` from the WebDAV server / the client's ``iter_file_content``.
  Throughput ratio = nbspaces' MiB/s over direct MiB/s.
- upload (WebDAV): ``PUT /api/contents/<space>/up.bin`` in 1 MiB base64 chunks numbered
  1, 2, ... and -1 for the last, one after another, as JupyterLab sends them; direct: one streaming
  PUT (chunked transfer encoding) of the same bytes. The stored file's size and SHA-256 are checked.
- server memory: the single-user server's VmRSS (/proc/<pid>/status) sampled every 50 ms in a
  thread during each transfer; growth = peak - the value just before. The kernel's high-water mark
  (VmHWM, reset through /proc/<pid>/clear_refs) is kept in the JSON as a cross-check.

Times are medians of ``--repeat`` runs (nbspaces and direct interleaved); jupyter-fs runs once per
operation, each capped at ``--peer-timeout`` seconds (then its server is restarted).

The run first waits (up to 2 minutes) for the 1-minute load average to fall to 1.5 and records the
load before every section: other work on the machine shows there.

Run from the repository root: ``.venv/bin/python bench/remote.py [--quick] [--json out.json]``;
needs ``npm install`` (configurable-http-proxy) and, for the peer, PyPI access on first use.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nbspaces.drivers.onedata import ATTRIBUTES, PAGE  # noqa: E402
from tests.realhub import Hub, free_port, plan_of, start_hub, stop_process  # noqa: E402
from tests.standins.onedata import OnedataStandIn, Request, Response, Space  # noqa: E402
from tests.webdav_servers import DavServer, rclone  # noqa: E402

MiB = 1024 * 1024
USER = "bench-ada"
SPACE = "bench"  # the Onedata space
LOAD_QUIET = 1.5
LOAD_WAIT = 120.0
PEER_PACKAGES = ["jupyter-fs[fs,fsspec]==1.2.1", "fs.webdavfs==0.4.3.1", "webdav4[fsspec]==0.11.0",
                 "jupyter_server"]
DEFAULT_PEER_VENV = Path("/var/tmp/bench-jupyterfs-venv")
CHP = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
T = TypeVar("T")

TARGETS = {  # operation key -> (kind, bound, text)
    "webdav_list": ("max", 1.3, "<= 1.3x direct time"),
    "webdav_download": ("min", 0.8, ">= 0.8x direct throughput"),
    "webdav_download_rss": ("rss", 64.0, "< 64 MiB"),
    "webdav_upload": ("max", 1.5, "<= 1.5x direct time"),
    "webdav_upload_rss": ("rss", 64.0, "< 64 MiB"),
    "datahub_list": ("max", 1.3, "<= 1.3x direct time"),
    "datahub_download": ("min", 0.8, ">= 0.8x direct throughput"),
    "datahub_download_rss": ("rss", 64.0, "< 64 MiB"),
}


# -- the machine ----------------------------------------------------------------------------


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def wait_quiet(log: Callable[[str], None]) -> dict[str, Any]:
    """Wait up to LOAD_WAIT s for the 1-minute load to drop to LOAD_QUIET; say what it was."""
    first = load1()
    deadline = time.monotonic() + LOAD_WAIT
    while load1() > LOAD_QUIET and time.monotonic() < deadline:
        log(f"load {load1()} > {LOAD_QUIET}: waiting for a quieter machine "
            f"({deadline - time.monotonic():.0f} s left)")
        time.sleep(10)
    now = load1()
    return {"load_at_start": first, "load_when_measuring": now, "quiet": now <= LOAD_QUIET}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "python": platform.python_version(),
                            "kernel": platform.release()}
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), None)
        info["cpu_model"] = cpu
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["free_h"] = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=10).stdout
    import nbspaces

    info["nbspaces_from"] = str(Path(nbspaces.__file__).parent)
    for dist in ("nbspaces", "jupyterhub", "jupyter_server", "webdavclient3", "onedatafilerestclient", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[dist] = metadata.version(dist)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([str(Path(sys.executable).parent / "rclone"), "version"], capture_output=True,
                             text=True, timeout=20).stdout
        info["rclone"] = out.splitlines()[0] if out else None
    return info


# -- memory of a server process ---------------------------------------------------------------


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for process {pid}")


def rss(pid: int) -> int:
    return _status(pid, "VmRSS")


def server_pid(user: str, home: Path) -> int:
    """The user's single-user server process, found by its JUPYTERHUB_USER as the tests do, and by
    its home on the command line (other hubs on the machine may have a user of the same name)."""
    found: dict[int, int] = {}  # pid -> parent pid
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"singleuser" in cmd and str(home).encode() in cmd and f"JUPYTERHUB_USER={user}".encode() in env:
            with contextlib.suppress(OSError, RuntimeError):
                rss(int(entry))  # a process on its way out (a zombie) has no memory left to measure
                found[int(entry)] = ppid
    leaves = [pid for pid in found if pid not in found.values()]  # not a wrapper of another match
    if len(leaves) != 1:
        raise RuntimeError(f"{len(leaves)} single-user server processes of {user}: {leaves}")
    return leaves[0]


class RssPeak:
    """VmRSS of a process sampled every ``interval`` s in a thread while the block runs."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.base = self.peak = self.hwm = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.peak = max(self.peak, rss(self.pid))
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPeak:
        self.base = self.peak = rss(self.pid)
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError, RuntimeError):
            self.peak = max(self.peak, rss(self.pid))
            self.hwm = _status(self.pid, "VmHWM")

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / MiB

    @property
    def hwm_growth_mib(self) -> float:
        return (self.hwm - self.base) / MiB if self.hwm else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuUse:
    """CPU seconds each named process (``"client"``: this one) used while the block ran."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.used: dict[str, float] = {}
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError, IndexError, ValueError):
                out[name] = cpu_seconds(pid)
        times = os.times()
        out["client"] = times.user + times.system
        return out

    def __enter__(self) -> CpuUse:
        self._before = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._now()
        self.used = {k: round(after[k] - v, 2) for k, v in self._before.items() if k in after}


# -- test data ----------------------------------------------------------------------------------


class Pattern:
    """A file of ``mib`` MiB: piece i (1-based) is i as 6 bytes + a fixed random 1 MiB block's tail.

    Every piece differs (a lost or repeated chunk changes the hash), and piece i's base64 is
    base64(i as 6 bytes) + one precomputed string (6 bytes are whole base64 groups), so the
    client spends no time encoding.
    """

    def __init__(self, mib: int, seed: bytes | None = None):
        self.mib = mib
        self.block = seed or os.urandom(MiB)
        self._b64_tail = base64.b64encode(self.block[6:]).decode("ascii")
        self._sha: str | None = None

    @property
    def size(self) -> int:
        return self.mib * MiB

    def piece(self, i: int) -> bytes:
        return i.to_bytes(6, "big") + self.block[6:]

    def pieces(self) -> Iterator[bytes]:
        for i in range(1, self.mib + 1):
            yield self.piece(i)

    def chunk_body(self, i: int) -> bytes:
        """The JSON JupyterLab sends for chunk i (of ``mib``) of a chunked upload."""
        number = -1 if i == self.mib else i
        content = base64.b64encode(i.to_bytes(6, "big")).decode("ascii") + self._b64_tail
        return f'{{"type": "file", "format": "base64", "chunk": {number}, "content": "{content}"}}'.encode()

    def sha256(self) -> str:
        if self._sha is None:
            digest = hashlib.sha256()
            for piece in self.pieces():
                digest.update(piece)
            self._sha = digest.hexdigest()
        return self._sha

    def write(self, path: Path) -> None:
        with open(path, "wb") as f:
            for piece in self.pieces():
                f.write(piece)


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# -- the Onedata stand-in, in a child process ------------------------------------------------------


class RangedStandIn(OnedataStandIn):
    """The tests' stand-in, except that one byte range is read from disk alone (as Oneprovider does)."""

    def _download(self, space: Space, rel: str, req: Request) -> Response:
        disk = space.root / rel
        header = req.headers.get("Range")
        if header and disk.is_file():
            size = disk.stat().st_size
            ranges = self._ranges(header, size)
            if ranges and len(ranges) == 1:
                start, end = ranges[0]
                with open(disk, "rb") as f:
                    f.seek(start)
                    data = f.read(end - start + 1)
                return Response(206, data, {"Content-Type": "application/octet-stream",
                                            "Content-Disposition": f'attachment; filename="{disk.name}"',
                                            "Content-Range": f"bytes {start}-{end}/{size}"})
        return super()._download(space, rel, req)


def _standin_child(conn: multiprocessing.connection.Connection, base: str, folders: int, files: int,
                   size_mib: int, seed: bytes) -> None:
    try:
        standin = RangedStandIn(Path(base)).start()
        user = standin.add_user("Ada")
        space = standin.add_space(SPACE, [user])
        for k in range(folders):
            for i in range(files):
                standin.add_file(space, f"many-{k}/f{i:05d}.txt", b"x")
        big = standin.add_file(space, "big.bin")
        Pattern(size_mib, seed).write(big)
        conn.send({"onezone": standin.onezone_host, "provider": standin.provider_domain(),
                   "ca_file": standin.verify, "token": standin.create_token(user, name="bench"),
                   "space_dir": str(standin.space_dir(space))})
    except BaseException as e:
        conn.send({"error": f"{type(e).__name__}: {e}"})
        raise
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        conn.recv()  # until the parent says stop, or goes away
    standin.stop()


@dataclass
class DataHub:
    onezone: str
    provider: str
    ca_file: str
    token: str
    space_dir: Path
    process: Any
    conn: multiprocessing.connection.Connection

    @classmethod
    def start(cls, base: Path, folders: int, files: int, size_mib: int, seed: bytes) -> DataHub:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_standin_child, args=(child, str(base), folders, files, size_mib, seed),
                              daemon=True)
        process.start()
        if not parent.poll(300):
            process.kill()
            raise RuntimeError("the Onedata stand-in did not start in 300 s")
        info = parent.recv()
        if "error" in info:
            raise RuntimeError(f"the Onedata stand-in failed: {info['error']}")
        return cls(info["onezone"], info["provider"], info["ca_file"], info["token"], Path(info["space_dir"]),
                   process, parent)

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


# -- jupyter-fs, the peer ------------------------------------------------------------------------


def ensure_peer_venv(venv: Path, log: Callable[[str], None]) -> dict[str, str]:
    """jupyter-fs and what it needs for WebDAV, in a venv of its own; their versions."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "jupyter-server").exists() or subprocess.run(
            [str(python), "-c", "import jupyterfs, webdavfs, webdav4"], capture_output=True).returncode:
        log(f"installing jupyter-fs into {venv} (once)")
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    out = subprocess.run([str(python), "-c", textwrap.dedent("""
        import json
        from importlib import metadata
        names = ["jupyter-fs", "jupyter_server", "fs", "fs.webdavfs", "webdav4", "fsspec", "webdavclient3"]
        print(json.dumps({n: metadata.version(n) for n in names}))
        """)], capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


class Peer:
    """A plain jupyter server with jupyter-fs, behind its own configurable-http-proxy."""

    def __init__(self, venv: Path, base: Path, dav: DavServer):
        self.venv, self.dav = venv, dav
        self.dir = base / "jupyter-fs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(24)
        self.port, self.proxy_port, self.api_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.proxy: subprocess.Popen[bytes] | None = None
        self.drives: dict[str, str] = {}  # backend -> jupyter-fs drive id
        self.facts: list[str] = []
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"
        self._write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def _write_config(self) -> None:
        dav = self.dav
        host = f"127.0.0.1:{dav.port}"
        resources = [
            {"name": "dav-pyfs", "type": "pyfs", "auth": "none",
             "url": f"webdav://{dav.user}:{dav.password}@{host}/dav"},
            {"name": "dav-fsspec", "type": "fsspec", "auth": "none", "url": "webdav://",
             "kwargs": {"base_url": f"http://{dav.user}:{dav.password}@{host}/dav"}},
        ]
        config = {
            "ServerApp": {"contents_manager_class": "jupyterfs.metamanager.MetaManager",
                          "jpserver_extensions": {"jupyterfs.extension": True},
                          "ip": "127.0.0.1", "port": self.port, "port_retries": 0, "open_browser": False,
                          "allow_root": True, "root_dir": str(self.dir)},
            "IdentityProvider": {"token": self.token},
            "JupyterFs": {"resources": resources, "surface_init_errors": True, "allow_user_resources": False},
        }
        path = self.dir / "jupyter_server_config.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)

    def start(self) -> None:
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(self.dir), "JUPYTER_DATA_DIR": str(self.dir / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.dir / "runtime")}
        env.pop("JUPYTERHUB_API_TOKEN", None)
        env.pop("PYTHONPATH", None)
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen([str(self.venv / "bin" / "jupyter-server")], env=env, cwd=self.dir,
                                         stdout=log, stderr=subprocess.STDOUT)
        if self.proxy is None:
            proxy_env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16)}
            with open(self.dir / "proxy.log", "ab") as log:
                self.proxy = subprocess.Popen(
                    [str(CHP), "--ip", "127.0.0.1", "--port", str(self.proxy_port), "--api-ip", "127.0.0.1",
                     "--api-port", str(self.api_port), "--default-target", f"http://127.0.0.1:{self.port}"],
                    env=proxy_env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter-fs' server exited ({self.proc.returncode}); see {self.dir}/server.log")
            try:
                if self.session.get(f"{self.url}/api/status", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"jupyter-fs' server did not answer in 60 s; see {self.dir}/server.log")
        r = self.session.get(f"{self.url}/jupyterfs/resources", timeout=30)
        r.raise_for_status()
        if self.dav.password in r.text:
            fact = "jupyter-fs answers GET /jupyterfs/resources with the WebDAV password in each resource's URL"
            if fact not in self.facts:
                self.facts.append(fact)
        for resource in r.json():
            backend = resource["type"]
            if not resource.get("init"):
                raise RuntimeError(f"jupyter-fs could not open its {backend} resource: {resource.get('errors')}")
            self.drives[backend] = resource["drive"]

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop_server(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 15)
        self.proc = None

    def restart(self) -> None:
        self.stop_server()
        self.start()

    def stop(self) -> None:
        self.stop_server()
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
            try:
                self.proxy.wait(10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
        self.proxy = None


# -- measurements -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One operation on one side: a time in seconds, or what went wrong (and what was stored)."""

    seconds: float | None = None
    size: int | None = None
    rss_mib: float | None = None
    hwm_mib: float | None = None
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _reason(r: requests.Response) -> str:
    try:
        body = r.json()
        text = str(body.get("reason") or body.get("message") or "")
    except ValueError:  # an HTML error page: its reason phrase says it
        text = r.reason or ""
    return f"HTTP {r.status_code}" + (f" ({text[:100]})" if text else "")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def contents_listing(session: requests.Session, url: str, expected: int, timeout: float) -> Outcome:
    def get() -> requests.Response:
        r = session.get(url, params={"content": "1"}, timeout=timeout)
        if r.status_code == 200:
            r.json()
        return r

    try:
        seconds, r = timed(get)
    except requests.Timeout:
        return Outcome(failure=f"no answer in {timeout:.0f} s")
    if r.status_code != 200:
        return Outcome(failure=f"failed: {_reason(r)}")
    got = len(r.json().get("content") or [])
    if got != expected:
        return Outcome(seconds=seconds, failure=f"listed {got} of {expected} entries in {seconds:.2f} s")
    return Outcome(seconds=seconds, size=got)


def stream_download(session: requests.Session, url: str, expected: int, timeout: float,
                    pid: int | None, **kwargs: Any) -> Outcome:
    def get() -> tuple[int, int, str]:
        with session.get(url, stream=True, timeout=timeout, **kwargs) as r:
            if r.status_code != 200:
                return r.status_code, 0, _reason(r)
            n = 0
            for piece in r.iter_content(MiB):
                n += len(piece)
            return 200, n, ""

    sampler = RssPeak(pid) if pid else contextlib.nullcontext()
    try:
        with sampler:
            seconds, (status, n, reason) = timed(get)
    except requests.RequestException as e:
        return Outcome(failure=f"failed: {type(e).__name__}")
    out = Outcome(seconds=seconds, size=n)
    if isinstance(sampler, RssPeak):
        out.rss_mib, out.hwm_mib = sampler.growth_mib, sampler.hwm_growth_mib
    if status != 200:
        out.seconds, out.failure = None, f"failed: {reason}"
    elif n != expected:
        out.failure = f"sent {n / MiB:.1f} of {expected / MiB:.0f} MiB"
    return out


def chunked_upload(session: requests.Session, url: str, pattern: Pattern, stored: Path, pid: int | None,
                   budget: float | None = None, keep_going: bool = False) -> Outcome:
    """JupyterLab's chunked upload: chunk 1, 2, ... -1, one request after another.

    ``budget``: stop sending after this many seconds (the peer); ``keep_going``: send every chunk
    even after an error answer (to see what the peer stores in the end).
    """
    errors: list[str] = []
    sent = 0
    stopped = False
    start = time.perf_counter()
    deadline = start + budget if budget else None
    sampler = RssPeak(pid) if pid else contextlib.nullcontext()
    with sampler:
        for i in range(1, pattern.mib + 1):
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                stopped = True
                break
            try:
                r = session.put(url, data=pattern.chunk_body(i), headers={"Content-Type": "application/json"},
                                timeout=max(1.0, left) if left is not None else 600)
            except requests.Timeout:
                stopped = True
                break
            sent = i
            if r.status_code not in (200, 201):
                errors.append(_reason(r))
                if not keep_going:
                    break
    seconds = time.perf_counter() - start
    out = Outcome(seconds=seconds)
    if isinstance(sampler, RssPeak):
        out.rss_mib, out.hwm_mib = sampler.growth_mib, sampler.hwm_growth_mib
    size = stored.stat().st_size if stored.exists() else 0
    out.size = size
    out.extra = {"chunks_sent": sent, "errors": len(errors), "first_error": errors[0] if errors else None}
    if stopped:
        out.failure = (f"stopped after {seconds:.0f} s at chunk {sent} of {pattern.mib}; "
                       f"stored {size / MiB:.1f} MiB")
        out.seconds = None
    elif errors:
        out.failure = (f"{len(errors)} of {sent} chunks refused ({errors[0]}); "
                       f"stored {size / MiB:.1f} MiB of {pattern.mib} MiB")
        out.seconds = None
    elif size != pattern.size:
        out.failure = f"stored {size / MiB:.1f} MiB of {pattern.mib} MiB in {seconds:.1f} s"
        out.seconds = None
    else:
        out.extra["sha256_ok"] = file_sha256(stored) == pattern.sha256()
        if not out.extra["sha256_ok"]:
            out.failure = f"stored {pattern.mib} MiB with different bytes"
            out.seconds = None
    return out


def direct_put(session: requests.Session, url: str, pattern: Pattern, stored: Path) -> Outcome:
    seconds, r = timed(lambda: session.put(url, data=pattern.pieces(), timeout=600))
    if r.status_code not in (200, 201, 204):
        return Outcome(failure=f"failed: {_reason(r)}")
    size = stored.stat().st_size if stored.exists() else 0
    return Outcome(seconds=seconds, size=size, failure=None if size == pattern.size else f"stored {size} bytes")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Settings:
    size_mib: int
    datahub_size_mib: int
    files: int
    datahub_files: int
    repeat: int
    peer: bool
    peer_timeout: float
    peer_venv: Path


@dataclass
class Result:
    key: str
    operation: str
    unit: str  # "s", "MiB/s", "MiB"
    nbspaces: list[Outcome]
    direct: list[Outcome] = field(default_factory=list)
    peer_pyfs: Outcome | None = None
    peer_fsspec: Outcome | None = None
    load: float | None = None
    reference: bool = False  # where the time goes: no target


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, settings: Settings, base: Path):
        self.s = settings
        self.base = base
        self.results: list[Result] = []
        self.loads: dict[str, float] = {}
        self.facts: list[str] = []
        self.hub: Hub | None = None
        self.dav: DavServer | None = None
        self.datahub: DataHub | None = None
        self.peer: Peer | None = None
        self.peer_versions: dict[str, str] = {}
        self.pid = 0
        self.nb = requests.Session()
        self.web = Pattern(settings.size_mib)
        self.od_pattern = Pattern(settings.datahub_size_mib, self.web.block)

    # -- setting up ------------------------------------------------------------------------------

    def setup(self) -> None:
        s = self.s
        _say(f"DataHub stand-in: {s.repeat} folders of {s.datahub_files} files, {s.datahub_size_mib} MiB file")
        self.datahub = DataHub.start(self.base / "onedata", s.repeat, s.datahub_files, s.datahub_size_mib,
                                     self.web.block)
        _say(f"rclone serve webdav: {s.repeat} folders of {s.files} files, a {s.size_mib} MiB file")
        self.dav = dav = rclone(self.base)
        for k in range(s.repeat):
            folder = dav.root / f"many-{k}"
            folder.mkdir()
            for i in range(s.files):
                (folder / f"f{i:05d}.txt").write_bytes(b"x")
        self.web.write(dav.root / "big.bin")
        if s.peer:
            self.peer_versions = ensure_peer_venv(s.peer_venv, _say)
        _say("hub and server")
        self.start_hub()
        if s.peer:
            self.peer = Peer(s.peer_venv, self.base, dav)
            self.peer.start()

    def start_hub(self) -> None:
        assert self.dav is not None and self.datahub is not None
        from cryptography.fernet import Fernet

        remote = {
            "dav": {"kind": "webdav", "url": self.dav.url, "label": "WebDAV", "groups": {"*": "rw"}},
            "datahub": {"kind": "onedata", "oneprovider": self.datahub.provider, "verify_tls": self.datahub.ca_file,
                        "label": "DataHub", "groups": {"*": "rw"}},
        }
        settings = f"""
            c.Authenticator.enable_auth_state = True
            c.NBSpaces.remote = {remote!r}
            c.NBSpaces.posix_mounts = False
            c.NBSpaces.cull_timeout = 0
        """
        os.environ["JUPYTERHUB_CRYPT_KEY"] = Fernet.generate_key().decode()
        # The hub and the server import nbspaces from this tree, as this benchmark does (it may be a
        # snapshot: others may be editing the working tree while a run goes on).
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        self.hub = hub = start_hub(self.base / "hub", settings)
        hub.ensure_user(USER)
        # What an authenticator would store at login: the user's Onedata access token.
        r = hub.api("PATCH", f"/users/{USER}", json={"auth_state": {"onedata_token": self.datahub.token}})
        r.raise_for_status()
        hub.spawn(USER)
        self.nb.headers["Authorization"] = f"token {hub.user_token(USER)}"
        r = hub.server(USER, "PUT", "nbspaces/api/spaces/dav/credentials",
                       json={"username": self.dav.user, "password": self.dav.password})
        if r.status_code != 200 or r.json().get("status") != "mounted":
            raise RuntimeError(f"the WebDAV space did not connect: {r.status_code} {r.text[:200]}")
        spaces = {sp["name"]: sp for sp in plan_of(hub, USER)["spaces"]}
        if spaces["datahub"]["status"] != "mounted":
            raise RuntimeError(f"DataHub is {spaces['datahub']['status']}: {spaces['datahub'].get('reason')}")
        if spaces["dav"].get("posix"):
            raise RuntimeError("the WebDAV space is FUSE-mounted; this benchmark measures the contents manager")
        self.pid = server_pid(USER, self.home())

    def stop(self) -> None:
        if self.peer is not None:
            self.peer.stop()
        if self.hub is not None:
            with contextlib.suppress(requests.RequestException):
                self.hub.api("DELETE", f"/users/{USER}/server")
            proxy = self.cpu_pids().get("proxy")
            self.hub.stop()
            # The hub leaves its configurable-http-proxy running when it stops: end ours.
            with contextlib.suppress(OSError):
                if proxy and b"configurable-http-proxy" in Path(f"/proc/{proxy}/cmdline").read_bytes():
                    os.kill(proxy, signal.SIGTERM)
        if self.dav is not None:
            self.dav.stop()
        if self.datahub is not None:
            self.datahub.stop()

    def section(self, name: str) -> float:
        self.loads[name] = load1()
        _say(f"{name} (load {self.loads[name]})")
        return self.loads[name]

    def cpu_pids(self, *, server: bool = True) -> dict[str, int]:
        """The processes a transfer may use: the server, the hub's proxy, the storage server."""
        pids: dict[str, int] = {}
        if server and self.pid:
            pids["server"] = self.pid
        if server and self.hub is not None:
            with contextlib.suppress(OSError, ValueError):
                pids["proxy"] = int((self.hub.data_dir / "proxy.pid").read_text().strip())
        if self.dav is not None and self.dav.proc is not None:
            pids["rclone"] = self.dav.proc.pid
        if self.datahub is not None and self.datahub.process.pid:
            pids["onedata stand-in"] = self.datahub.process.pid
        return pids

    def counted(self, run: Callable[[], Outcome], *, server: bool = True,
                pids: dict[str, int] | None = None) -> Outcome:
        """``run``, with the CPU time each process used for it in ``extra["cpu"]``."""
        with CpuUse(pids if pids is not None else self.cpu_pids(server=server)) as cpu:
            out = run()
        out.extra["cpu"] = cpu.used
        return out

    def nb_url(self, path: str) -> str:
        assert self.hub is not None
        return f"{self.hub.url}/user/{USER}/{path}"

    def peer_call(self, backend: str, fn: Callable[[Peer, str], Outcome], fresh: bool = False) -> Outcome | None:
        """One jupyter-fs operation; a time-out or a dead server restarts it for the next one.

        ``fresh``: restart it first, so its memory is measured from a clean start.
        """
        if self.peer is None:
            return None
        peer = self.peer
        if fresh:
            peer.restart()
        try:
            out = fn(peer, peer.drives[backend])
        except requests.RequestException as e:
            out = Outcome(failure=f"failed: {type(e).__name__}")
        if out.failure and ("no answer" in out.failure or "stopped after" in out.failure
                            or (peer.proc is not None and peer.proc.poll() is not None)):
            peer.restart()
        return out

    # -- references: where the time goes ------------------------------------------------------------

    def server_url(self) -> str:
        """The single-user server itself, without configurable-http-proxy in between."""
        raw = Path(f"/proc/{self.pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
        return env["JUPYTERHUB_SERVICE_URL"].rstrip("/")

    def home(self) -> Path:
        assert self.hub is not None
        return self.hub.data_dir / "homes" / USER

    def reference(self, key: str, operation: str, unit: str, run: Callable[[], Outcome],
                  direct: Sequence[Outcome], pids: dict[str, int] | None = None) -> None:
        runs = [self.counted(run, pids=pids) for _ in range(min(2, self.s.repeat))]
        if unit == "s":  # an upload: the client also hashed the stored file
            for out in runs:
                out.extra["cpu"].pop("client", None)
        self.results.append(Result(key, operation, unit, runs, list(direct), load=load1(), reference=True))

    def driver_read(self, driver: Any, path: str, size: int) -> Outcome:
        def run() -> int:
            return sum(len(piece) for piece in driver.read(path))

        seconds, n = timed(run)
        return Outcome(seconds=seconds, size=n, failure=None if n == size else f"read {n} bytes")

    # -- WebDAV ------------------------------------------------------------------------------------

    def webdav_listing(self) -> None:
        from webdav3.client import Client  # type: ignore[import-untyped]

        assert self.dav is not None
        dav, s = self.dav, self.s
        load = self.section("WebDAV listing")
        client = Client({"webdav_hostname": f"http://127.0.0.1:{dav.port}", "webdav_root": "/dav",
                         "webdav_login": dav.user, "webdav_password": dav.password, "webdav_timeout": 120})
        for k in range(s.repeat):  # rclone's directory cache, warm for every folder and both sides
            client.list(f"many-{k}", get_info=True)
        self.nb.get(self.nb_url("api/contents/dav"), timeout=60).raise_for_status()  # connections up
        nb, direct = [], []
        for k in range(s.repeat):
            nb.append(contents_listing(self.nb, self.nb_url(f"api/contents/dav/many-{k}"), s.files, 300))
            seconds, entries = timed(partial(client.list, f"many-{k}", get_info=True))
            ok = len([e for e in entries if not e.get("isdir")]) == s.files
            direct.append(Outcome(seconds=seconds, size=len(entries),
                                  failure=None if ok else f"listed {len(entries)} entries"))
        result = Result("webdav_list", f"WebDAV: list a folder of {s.files:,} files (contents API, cold)", "s",
                        nb, direct, load=load)

        def listing(peer: Peer, drive: str) -> Outcome:
            return contents_listing(peer.session, f"{peer.url}/api/contents/{drive}:many-0", s.files,
                                    s.peer_timeout)

        result.peer_pyfs = self.peer_call("pyfs", listing)
        result.peer_fsspec = self.peer_call("fsspec", listing)
        self.results.append(result)

    def webdav_download(self) -> None:
        assert self.dav is not None
        dav, s = self.dav, self.s
        load = self.section("WebDAV download")
        direct_session = requests.Session()
        direct_session.auth = (dav.user, dav.password)
        url = f"{dav.url}/big.bin"
        stream_download(direct_session, url, self.web.size, 600, None)  # page cache and connections warm
        nb, direct = [], []
        for _ in range(s.repeat):
            direct.append(self.counted(lambda: stream_download(direct_session, url, self.web.size, 600, None),
                                       server=False))
            nb.append(self.counted(lambda: stream_download(self.nb, self.nb_url("files/dav/big.bin"), self.web.size,
                                                           600, self.pid)))
        result = Result("webdav_download", f"WebDAV: download {s.size_mib} MiB through /files/", "MiB/s",
                        nb, direct, load=load)

        def download(peer: Peer, drive: str) -> Outcome:
            return stream_download(peer.session, f"{peer.url}/files/{drive}:big.bin", self.web.size,
                                   s.peer_timeout, peer.pid())

        result.peer_pyfs = self.peer_call("pyfs", download, fresh=True)
        result.peer_fsspec = self.peer_call("fsspec", download, fresh=True)
        self.results.append(result)

        from nbspaces.drivers.webdav import WebDAVDriver

        size = self.web.size
        server = self.server_url()
        home_file = self.home() / "big-home.bin"
        try:
            os.link(dav.root / "big.bin", home_file)
        except OSError:
            shutil.copyfile(dav.root / "big.bin", home_file)
        driver = WebDAVDriver({"url": dav.url}, {"username": dav.user, "password": dav.password})
        self.reference("webdav_download_noproxy", "  nbspaces' /files/, straight to the server (no proxy)", "MiB/s",
                       lambda: stream_download(self.nb, f"{server}/files/dav/big.bin", size, 600, self.pid), direct)
        self.reference("webdav_download_driver", "  nbspaces' WebDAV driver's read() alone, in this process",
                       "MiB/s", lambda: self.driver_read(driver, "big.bin", size), direct)
        self.reference("webdav_download_home", "  a home file (local disk) through /files/ and the proxy "
                       "(jupyter_server's own handler)", "MiB/s",
                       lambda: stream_download(self.nb, self.nb_url("files/big-home.bin"), size, 600, self.pid),
                       direct)
        home_file.unlink(missing_ok=True)
        driver.close()

    def webdav_upload(self) -> None:
        assert self.dav is not None
        dav, s = self.dav, self.s
        load = self.section("WebDAV upload")
        self.web.sha256()
        direct_session = requests.Session()
        direct_session.auth = (dav.user, dav.password)

        def remove(target: Path) -> None:
            """Through the WebDAV server, so that rclone's directory cache knows it is gone."""
            direct_session.delete(f"{dav.url}/{target.name}", timeout=60)
            target.unlink(missing_ok=True)

        nb, direct = [], []
        for k in range(s.repeat):
            target = dav.root / f"up-direct-{k}.bin"
            direct.append(self.counted(partial(direct_put, direct_session, f"{dav.url}/{target.name}", self.web,
                                               target), server=False))
            remove(target)
            target = dav.root / f"up-nb-{k}.bin"
            nb.append(self.counted(partial(chunked_upload, self.nb, self.nb_url(f"api/contents/dav/{target.name}"),
                                           self.web, target, self.pid)))
            nb[-1].extra["cpu"].pop("client", None)  # it also hashed the stored file
            remove(target)
        result = Result("webdav_upload", f"WebDAV: upload {s.size_mib} MiB in 1 MiB chunks (contents API)", "s",
                        nb, direct, load=load)

        def upload(backend: str) -> Callable[[Peer, str], Outcome]:
            def run(peer: Peer, drive: str) -> Outcome:
                target = dav.root / f"up-peer-{backend}.bin"
                out = chunked_upload(peer.session, f"{peer.url}/api/contents/{drive}:{target.name}", self.web,
                                     target, peer.pid(), budget=s.peer_timeout, keep_going=True)
                remove(target)
                return out
            return run

        result.peer_pyfs = self.peer_call("pyfs", upload("pyfs"), fresh=True)
        result.peer_fsspec = self.peer_call("fsspec", upload("fsspec"), fresh=True)
        self.results.append(result)

        server = self.server_url()

        def upload_to(url: str, stored: Path) -> Callable[[], Outcome]:
            def run() -> Outcome:
                out = chunked_upload(self.nb, url, self.web, stored, self.pid)
                if stored.is_relative_to(dav.root):
                    remove(stored)
                else:
                    stored.unlink(missing_ok=True)
                return out
            return run

        self.reference("webdav_upload_noproxy", "  the same chunks straight to the server (no proxy)", "s",
                       upload_to(f"{server}/api/contents/dav/up-np.bin", dav.root / "up-np.bin"), direct)
        self.reference("webdav_upload_home", "  the same chunks into the home (local disk; nbspaces' home save, "
                       "with its quota check), through the proxy", "s",
                       upload_to(self.nb_url("api/contents/up-home.bin"), self.home() / "up-home.bin"), direct)
        if self.peer is not None and self.peer.proc is not None:
            peer = self.peer
            peer.restart()

            def plain() -> Outcome:
                target = peer.dir / "up-local.bin"
                out = chunked_upload(peer.session, f"{peer.url}/api/contents/up-local.bin", self.web, target,
                                     peer.pid())
                target.unlink(missing_ok=True)
                return out

            pids = {"server": peer.pid(), **({"proxy": peer.proxy.pid} if peer.proxy is not None else {})}
            self.reference("webdav_upload_plain", "  the same chunks into a local folder of a plain jupyter_server "
                           "(LargeFileManager, jupyter-fs's root), through its proxy", "s", plain, direct, pids)

    # -- DataHub -----------------------------------------------------------------------------------

    def datahub_client(self) -> Any:
        from onedatafilerestclient import OnedataFileRESTClient

        assert self.datahub is not None
        od = self.datahub
        return OnedataFileRESTClient(od.onezone, od.token, preferred_providers=[od.provider],
                                     verify_ssl=od.ca_file, timeout=(10, 120))  # type: ignore[arg-type]

    def datahub_listing(self) -> None:
        s = self.s
        load = self.section("DataHub listing")
        client = self.datahub_client()
        client.list_spaces()

        def direct_list(folder: str) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                page = client.list_children(SPACE, file_path=folder, attributes=ATTRIBUTES, limit=PAGE,
                                            continuation_token=token)
                out.extend(page["children"])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return out

        direct_list("many-0")  # connections up (the folders are on the stand-in's disk either way)
        self.nb.get(self.nb_url(f"api/contents/datahub/{SPACE}"), timeout=60).raise_for_status()
        nb, direct = [], []
        for k in range(s.repeat):
            nb.append(contents_listing(self.nb, self.nb_url(f"api/contents/datahub/{SPACE}/many-{k}"),
                                       s.datahub_files, 300))
            seconds, entries = timed(partial(direct_list, f"many-{k}"))
            direct.append(Outcome(seconds=seconds, size=len(entries), failure=None if len(entries) == s.datahub_files
                                  else f"listed {len(entries)} entries"))
        self.results.append(Result("datahub_list", f"DataHub: list a folder of {s.datahub_files:,} files "
                                   "(contents API, cold)", "s", nb, direct, load=load))

    def datahub_download(self) -> None:
        s = self.s
        load = self.section("DataHub download")
        client = self.datahub_client()
        size = self.od_pattern.size

        def direct_once() -> Outcome:
            def run() -> int:
                return sum(len(p) for p in client.iter_file_content(SPACE, file_path="big.bin"))

            seconds, n = timed(run)
            return Outcome(seconds=seconds, size=n, failure=None if n == size else f"got {n} bytes")

        direct_once()  # connections and the provider's page cache warm
        nb, direct = [], []
        for _ in range(s.repeat):
            direct.append(self.counted(direct_once, server=False))
            nb.append(self.counted(partial(stream_download, self.nb, self.nb_url(f"files/datahub/{SPACE}/big.bin"),
                                           size, 600, self.pid)))
        self.results.append(Result("datahub_download", f"DataHub: download {s.datahub_size_mib} MiB through /files/",
                                   "MiB/s", nb, direct, load=load))

        from nbspaces.drivers.onedata import OnedataDriver

        assert self.datahub is not None
        server = self.server_url()
        driver = OnedataDriver({"oneprovider": self.datahub.provider, "verify_tls": self.datahub.ca_file},
                               {"token": self.datahub.token})
        self.reference("datahub_download_noproxy", "  nbspaces' /files/, straight to the server (no proxy)",
                       "MiB/s", lambda: stream_download(self.nb, f"{server}/files/datahub/{SPACE}/big.bin", size, 600,
                                                        self.pid), direct)
        self.reference("datahub_download_driver", "  nbspaces' Onedata driver's read() alone, in this process",
                       "MiB/s", lambda: self.driver_read(driver, f"{SPACE}/big.bin", size), direct)


# -- the table ------------------------------------------------------------------------------------------


def _times(outcomes: Sequence[Outcome]) -> list[float]:
    return [o.seconds for o in outcomes if o.seconds is not None and not o.failure]


def _value(outcomes: Sequence[Outcome], unit: str, size_mib: float) -> float | None:
    times = _times(outcomes)
    if not times or len(times) != len(outcomes):
        return None
    t = median(times)
    return size_mib / t if unit == "MiB/s" else t


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit == "MiB/s":
        return f"{value:.0f} MiB/s"
    return f"{value:.1f} MiB"


def _peer_cell(out: Outcome | None, unit: str, size_mib: float, rss: bool = False) -> str:
    if out is None:
        return "-"
    if rss:
        return "-" if out.rss_mib is None else f"{out.rss_mib:.0f} MiB"
    if out.failure:
        return out.failure
    return _fmt(_value([out], unit, size_mib), unit)


def _met(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    kind, bound, _ = TARGETS[key]
    return value <= bound if kind == "max" else value >= bound if kind == "min" else value < bound


def _cpu(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Median CPU seconds per process over the runs that counted them."""
    runs = [o.extra["cpu"] for o in outcomes if o.extra.get("cpu")]
    names = sorted({name for run in runs for name in run})
    return {name: round(median([run[name] for run in runs if name in run]), 2) for name in names}


def rows(results: Sequence[Result], settings: Settings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for res in results:
        size = settings.datahub_size_mib if res.key.startswith("datahub") else settings.size_mib
        nb_v, direct_v = _value(res.nbspaces, res.unit, size), _value(res.direct, res.unit, size)
        ratio = None if nb_v is None or direct_v is None else nb_v / direct_v
        failures = [o.failure for o in res.nbspaces if o.failure]
        target = TARGETS.get(res.key)
        out.append({
            "key": res.key, "operation": res.operation.strip(), "reference": res.reference,
            "nbspaces": _fmt(nb_v, res.unit) if not failures else failures[0],
            "direct": _fmt(direct_v, res.unit),
            "peer_pyfs": _peer_cell(res.peer_pyfs, res.unit, size) if res.peer_pyfs else "-",
            "peer_fsspec": _peer_cell(res.peer_fsspec, res.unit, size) if res.peer_fsspec else "-",
            "ratio": None if ratio is None else round(ratio, 2), "target": target[2] if target else "-",
            "met": _met(res.key, ratio) if target else None, "load": res.load,
            "nbspaces_runs": [o.seconds for o in res.nbspaces], "direct_runs": [o.seconds for o in res.direct],
            "rss_runs": [o.rss_mib for o in res.nbspaces],
            "cpu": {"nbspaces": _cpu(res.nbspaces), "direct": _cpu(res.direct)},
        })
        key = f"{res.key}_rss"
        if key in TARGETS:
            peaks = [o.rss_mib for o in res.nbspaces if o.rss_mib is not None]
            hwms = [o.hwm_mib for o in res.nbspaces if o.hwm_mib is not None]
            peak = max(peaks) if peaks else None
            what = res.operation.split(":", 1)[0]
            verb = "upload" if "upload" in res.key else "download"
            out.append({
                "key": key, "operation": f"{what} {verb}: server RSS growth (peak of the runs)", "reference": False,
                "nbspaces": _fmt(peak, "MiB"), "direct": "-",
                "peer_pyfs": _peer_cell(res.peer_pyfs, "MiB", size, rss=True) if res.peer_pyfs else "-",
                "peer_fsspec": _peer_cell(res.peer_fsspec, "MiB", size, rss=True) if res.peer_fsspec else "-",
                "ratio": None, "target": TARGETS[key][2], "met": _met(key, peak), "load": res.load,
                "nbspaces_runs": peaks, "hwm_runs": hwms,
            })
    return out


def _met_text(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "-"}[met]


def markdown(table: Sequence[dict[str, Any]], peer: bool) -> str:
    head = ["operation", "nbspaces", "direct"]
    if peer:
        head += ["jupyter-fs (PyFilesystem2)", "jupyter-fs (fsspec)"]
    head += ["ratio", "target", "met", "load"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in table:
        if row["reference"]:
            continue
        cells = [row["operation"], row["nbspaces"], row["direct"]]
        if peer:
            cells += [row["peer_pyfs"], row["peer_fsspec"]]
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        cells += [ratio, row["target"], _met_text(row["met"]), "" if row["load"] is None else f"{row['load']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    refs = [row for row in table if row["reference"]]
    if refs:
        lines += ["", "Where the time goes (no targets; ratio against the same direct figure):", "",
                  "| measured | value | direct | ratio | load |", "|---|---|---|---|---|"]
        for row in refs:
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
            lines.append(f"| {row['operation']} | {row['nbspaces']} | {row['direct']} | {ratio} | "
                         f"{'' if row['load'] is None else format(row['load'], '.1f')} |")
    cpu_rows = [row for row in table if row.get("cpu") and row["cpu"]["nbspaces"]]
    if cpu_rows:
        names = ["server", "proxy", "rclone", "onedata stand-in", "client"]
        lines += ["", "CPU seconds per run (median; client = this benchmark, not counted for uploads, which "
                  "also hash the stored file):", "",
                  "| measured | side | " + " | ".join(names) + " | total |", "|" + "---|" * (len(names) + 3)]
        for row in cpu_rows:
            for side in ("nbspaces", "direct"):
                use = row["cpu"][side]
                if not use or (side == "direct" and row["reference"]):
                    continue
                label = row["operation"] if side == "nbspaces" else ""
                cells = [f"{use[n]:.2f}" if n in use else "" for n in names]
                lines.append(f"| {label} | {side if side == 'direct' or not row['reference'] else 'as measured'} | "
                             + " | ".join(cells) + f" | {sum(use.values()):.2f} |")
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    if not (ROOT / ".git").exists() and (ROOT / "COMMIT").exists():  # a snapshot (git archive) of a commit
        return {"commit": (ROOT / "COMMIT").read_text().strip()[:7], "modified": [], "snapshot": str(ROOT)}
    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "modified": git("status", "--porcelain", "--", "nbspaces").splitlines()}
    except (OSError, subprocess.SubprocessError):
        return {}


# -- main ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=None, help="WebDAV transfer size (default 1024)")
    parser.add_argument("--datahub-size-mib", type=int, default=None, help="DataHub transfer size (default 256)")
    parser.add_argument("--files", type=int, default=None, help="files in a WebDAV folder listed (default 10000)")
    parser.add_argument("--datahub-files", type=int, default=None,
                        help="files in a DataHub folder listed (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per operation and side; medians (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (32/16 MiB, 500/300 files)")
    parser.add_argument("--no-peer", action="store_true", help="skip jupyter-fs")
    parser.add_argument("--peer-timeout", type=float, default=None,
                        help="seconds one jupyter-fs operation may take (default 120; 30 with --quick)")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV,
                        help=f"venv for jupyter-fs, made if missing (default {DEFAULT_PEER_VENV})")
    parser.add_argument("--no-wait", action="store_true", help="measure at once, whatever the load")
    parser.add_argument("--json", type=Path, help="write the table and every measurement to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    args = parser.parse_args(argv)
    quick = args.quick
    settings = Settings(
        size_mib=args.size_mib or (32 if quick else 1024),
        datahub_size_mib=args.datahub_size_mib or (16 if quick else 256),
        files=args.files or (500 if quick else 10_000),
        datahub_files=args.datahub_files or (300 if quick else 5_000),
        repeat=max(1, args.repeat), peer=not args.no_peer,
        peer_timeout=args.peer_timeout or (30.0 if quick else 120.0), peer_venv=args.peer_venv,
    )
    command = shlex.join(["python", "bench/remote.py", *(argv if argv is not None else sys.argv[1:])])
    started = dt.datetime.now().astimezone()
    load = {"load_at_start": load1(), "load_when_measuring": load1(), "quiet": True}
    if not args.no_wait:
        load = wait_quiet(_say)
    base = Path(tempfile.mkdtemp(prefix="nbspaces-bench-remote-", dir="/var/tmp"))
    bench = Bench(settings, base)
    keep = args.keep
    try:
        bench.setup()
        bench.webdav_listing()
        bench.webdav_download()
        bench.webdav_upload()
        bench.datahub_listing()
        bench.datahub_download()
    except BaseException:
        keep = True
        if bench.hub is not None:
            _say("hub log (end):\n" + "\n".join(bench.hub.log().splitlines()[-60:]))
        raise
    finally:
        bench.stop()
        if any(o.failure for r in bench.results for o in r.nbspaces):
            keep = True  # the servers' logs say why nbspaces failed; the big files go
            for big in base.rglob("*.bin"):
                if big.stat().st_size > 16 * MiB:
                    big.unlink()
        if keep:
            _say(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    elapsed = (dt.datetime.now().astimezone() - started).total_seconds()
    table = rows(bench.results, settings)
    facts = bench.peer.facts if bench.peer else []
    load["load_at_end"] = load1()
    print(markdown(table, settings.peer))
    print(f"\n{command}; {started:%Y-%m-%d %H:%M %Z}; {elapsed:.0f} s; nproc {os.cpu_count()}; "
          f"1-min load {load['load_at_start']} at start, {load['load_when_measuring']} when measuring"
          f"{'' if load['quiet'] else ' (NOT quiet)'}, {load['load_at_end']} at the end")
    state = git_state()
    if state:
        dirty = len(state["modified"])
        print(f"nbspaces at {state['commit']}"
              + (f", with {dirty} file(s) of nbspaces/ modified in the working tree" if dirty else ""))
    for fact in facts:
        print(f"- {fact}")
    if args.json:
        report = {
            "command": command, "date": started.isoformat(timespec="seconds"), "elapsed_s": round(elapsed, 1),
            "machine": machine(), "git": git_state(), "load": load, "section_loads": bench.loads,
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
            "peer_versions": bench.peer_versions, "peer_facts": facts, "table": table,
            "measurements": [asdict(r) for r in bench.results],
        }
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
        _say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
