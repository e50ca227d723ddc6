"""Spawn time with nbspaces provisioning against plain ``SimpleLocalProcessSpawner``, on one hub.

One real JupyterHub (tests/realhub.py: configurable-http-proxy, sqlite, 127.0.0.1) runs both
arms. Its spawner class is a dispatcher defined in the generated config: users named
``nb-*`` get nbspaces' ``LocalSpaceSpawner`` (``--isolation``, default 'auto' as a site gets
it: strong where the machine allows it; a catalog with a 20 GiB home, a read-only folder for
everyone and a read-write folder for a group), users named
``plain-*`` get ``SimpleLocalProcessSpawner`` with its home in the same data folder. Every
other hub setting, the proxy, the database, the single-user command
(``python -m jupyterhub.singleuser`` of this venv) and the server extensions loaded are
the same for both arms.

Phases:

- sequential: ``--users`` new users per arm one after another (each spawn creates the home),
  the arms interleaved in ABBA order, servers left running until the end of the phase;
- returning: the same users again, their servers stopped: the home exists;
- concurrent: ``--concurrent`` users of one arm started at once, in batches ordered
  nbspaces, plain, plain, nbspaces; all servers stopped between batches.

Times per spawn, all from the moment the ``POST /hub/api/users/{name}/server`` is sent:

- ready: until the hub reports the server ready: the POST's own 201 (the hub answers only
  once the server is up and routed) or, when the hub answers 202 (spawn slower than its
  slow_spawn_timeout), the first ``--poll`` interval GET that shows ``servers[""].ready``;
- hub: the hub's own figure ("User x took N seconds to start"; also kept as the
  ``jupyterhub_server_spawn_duration_seconds`` histogram, whose mean is shown too);
- popen: until the spawner logs "Spawning ..." (just before Popen);
- up: until the single-user server logs that it is running (before the hub notices: the
  hub finds a new server by polling it with a randomised exponential backoff).

Run from the repository root: ``.venv/bin/python bench/spawn.py [--json out.json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nbspaces  # noqa: E402
from tests.realhub import Hub, start_hub  # noqa: E402

ARMS = ("nbspaces", "plain")
PREFIX = {"nbspaces": "nb-", "plain": "plain-"}
GROUP = "climate"
# The ready ratio nbspaces / plain each phase must stay under: a first spawn creates the home
# (a strong home is a new ext4 image), a returning user's only mounts it.
TARGETS = {"sequential": 1.50, "returning": 1.10, "concurrent": 1.50}
HOME_SIZE = "20GiB"  # make run's
SLOW_SPAWN_TIMEOUT = 10  # the hub's default; a POST slower than this answers 202

# Python config lines added to the harness's hub config (before its configure_hub(c)).
HUB_SETTINGS = """
import sys as _sys

from jupyterhub.spawner import SimpleLocalProcessSpawner, Spawner


class PlainSpawner(SimpleLocalProcessSpawner):
    \"\"\"SimpleLocalProcessSpawner, with the home as root_dir on the command line as
    LocalSpaceSpawner passes it (the server would use its working directory, the same
    folder, without it); it also names the user in the hub's "Spawning" log line.\"\"\"

    def get_args(self):
        return [f"--ServerApp.root_dir={{self.home_dir}}", *super().get_args()]


class ArmSpawner(Spawner):
    \"\"\"Benchmark only: 'plain-*' users get PlainSpawner, everyone else LocalSpaceSpawner.\"\"\"

    def __new__(cls, *args, **kwargs):
        user = kwargs.get("user")
        plain = user is not None and user.name.startswith({plain_prefix!r})
        return (PlainSpawner if plain else LocalSpaceSpawner)(*args, **kwargs)

    # Never called (__new__ returns another class), but JupyterHub refuses a spawner_class
    # that does not define them.
    async def start(self):
        raise NotImplementedError

    async def stop(self, now=False):
        raise NotImplementedError

    async def poll(self):
        raise NotImplementedError


c.JupyterHub.spawner_class = ArmSpawner
c.JupyterHub.authenticate_prometheus = False
c.JupyterHub.slow_spawn_timeout = {slow_spawn_timeout}
c.Spawner.cmd = [_sys.executable, "-m", "jupyterhub.singleuser"]
c.SimpleLocalProcessSpawner.home_dir_template = {plain_homes!r} + "/{{username}}"
c.SimpleLocalProcessSpawner.args = {plain_args!r}
c.LocalSpaceSpawner.isolation = {isolation!r}
c.NBSpaces.home = {{"size": {home_size!r}}}
c.NBSpaces.shared = {{
    "datasets": {{"source": {datasets!r}, "groups": {{"*": "ro"}}}},
    "climate-data": {{"source": {climate!r}, "groups": {{{group!r}: "rw"}}}},
}}
c.NBSpaces.cull_timeout = 0
"""

_TS = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})"
_TOOK = re.compile(rf"^\[I {_TS} JupyterHub \S+\] User (\S+) took ([0-9.]+) seconds to start", re.M)
_SPAWNING = re.compile(rf"^\[I {_TS} JupyterHub \S+\] Spawning .*?--ServerApp\.root_dir=(\S+)", re.M)
_RUNNING = re.compile(rf"^\[I {_TS} ServerApp\] http://127\.0\.0\.1:\d+/user/([^/\s]+)/", re.M)
_METRIC = re.compile(
    r'^jupyterhub_server_spawn_duration_seconds_(sum|count)\{([^}]*)\}\s+(\S+)$', re.M
)


@dataclass
class Sample:
    arm: str
    phase: str
    round: int
    user: str
    post_status: int
    post_wall: float  # time.time() when the POST was sent
    ready_s: float  # POST -> the hub reports the server ready
    hub_s: float | None = None  # the hub's "took N seconds to start"
    popen_s: float | None = None  # POST -> the spawner's "Spawning" log line
    up_s: float | None = None  # POST -> the single-user server logs it is running
    # CPU seconds other processes on the machine (not this benchmark, its hub and servers)
    # used while this sample's batch ran: a run on a busy machine shows here.
    batch_foreign_cpu_s: float | None = None
    # CPU seconds the single-user server (and the children it waited for) had used when its
    # batch was ready: what starting it cost, whatever else competed for the cores.
    server_cpu_s: float | None = None


class Api:
    """The hub's REST API with the harness's admin token; one HTTP session per thread."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.headers = {"Authorization": f"token {hub.token}"}
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self.headers)
            self._local.session = session
        return session

    def request(self, method: str, path: str, timeout: float = 60, **kwargs: Any) -> requests.Response:
        return self._session().request(method, f"{self.hub.url}/hub/api{path}", timeout=timeout, **kwargs)

    def close_thread_session(self) -> None:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def names(self, state: str) -> set[str]:
        r = self.request("GET", "/users", params={"state": state, "limit": 1000})
        r.raise_for_status()
        users = r.json()
        if isinstance(users, dict):  # a paginated answer
            users = users["items"]
        return {u["name"] for u in users}

    def server_pid(self, name: str) -> int | None:
        r = self.request("GET", f"/users/{name}")
        r.raise_for_status()
        pid = ((r.json().get("servers", {}).get("") or {}).get("state") or {}).get("pid")
        return int(pid) if pid else None

    def is_ready(self, name: str) -> bool:
        r = self.request("GET", f"/users/{name}")
        r.raise_for_status()
        server = r.json().get("servers", {}).get("")
        return bool(server and server.get("ready"))

    def spawn_metrics(self) -> tuple[float, float]:
        """(sum, count) of the hub's successful-spawn duration histogram."""
        text = self._session().get(f"{self.hub.url}/hub/metrics", timeout=30).text
        figures = {"sum": 0.0, "count": 0.0}
        for kind, labels, value in _METRIC.findall(text):
            if 'status="success"' in labels:
                figures[kind] += float(value)
        return figures["sum"], figures["count"]


# -- what else the machine is doing -----------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_times() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) of every process on the machine."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return out


def process_cpu(pid: int) -> float | None:
    """CPU seconds a process used, with those of the children it waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(f) for f in fields[11:15]) / _CLK_TCK


def foreign_cpu(before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]]) -> float:
    """CPU seconds used between two snapshots by processes outside this benchmark's tree."""
    children: dict[int, set[int]] = {}
    for snapshot in (before, after):
        for pid, (ppid, _) in snapshot.items():
            children.setdefault(ppid, set()).add(pid)
    ours, stack = set(), [os.getpid()]
    while stack:
        pid = stack.pop()
        if pid not in ours:
            ours.add(pid)
            stack.extend(children.get(pid, ()))
    return sum(
        max(0.0, cpu - before.get(pid, (0, 0.0))[1]) for pid, (_, cpu) in after.items() if pid not in ours
    )


# -- spawning and stopping -------------------------------------------------------------


def spawn_batch(api: Api, names: Sequence[str], poll: float, timeout: float) -> dict[str, tuple[float, float, int]]:
    """Start the servers of ``names`` at once; name -> (POST wall time, seconds to ready, POST status)."""
    barrier = threading.Barrier(len(names))
    lock = threading.Lock()
    sent: dict[str, tuple[float, float]] = {}  # name -> (wall, perf_counter) at POST
    ready_at: dict[str, float] = {}
    status: dict[str, int] = {}
    errors: list[str] = []

    def post(name: str) -> None:
        api.request("GET", "/")  # open the connection before the clock starts
        barrier.wait()
        with lock:
            sent[name] = (time.time(), time.perf_counter())
        try:
            r = api.request("POST", f"/users/{name}/server", timeout=timeout)
        except requests.RequestException as e:
            with lock:
                errors.append(f"{name}: {e}")
            return
        finally:
            api.close_thread_session()
        done = time.perf_counter()
        with lock:
            status[name] = r.status_code
            if r.status_code == 201:
                ready_at.setdefault(name, done)
            elif r.status_code != 202:
                errors.append(f"{name}: {r.status_code} {r.text[:300]}")

    threads = [threading.Thread(target=post, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + timeout
    while True:
        with lock:
            if errors:
                raise RuntimeError("spawn failed: " + "; ".join(errors))
            pending = [n for n, s in status.items() if s == 202 and n not in ready_at]
            finished = len(ready_at) == len(names)
        if finished:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"servers not ready in {timeout} s: {sorted(set(names) - set(ready_at))}")
        if pending:
            # Only servers the hub answered 202 for need polling; one request for all of them.
            if len(pending) == 1:
                ready = set(pending) if api.is_ready(pending[0]) else set()
            else:
                ready = api.names("ready") & set(pending)
            now = time.perf_counter()
            with lock:
                for n in ready:
                    ready_at.setdefault(n, now)
        time.sleep(poll)
    for t in threads:
        t.join()
    return {n: (sent[n][0], ready_at[n] - sent[n][1], status[n]) for n in names}


def stop_servers(api: Api, names: Iterable[str], timeout: float = 120) -> None:
    """Stop the servers of ``names`` (all at once) and wait until the hub has none of them active."""
    names = list(names)

    def delete(name: str) -> None:
        try:
            api.request("DELETE", f"/users/{name}/server")
        finally:
            api.close_thread_session()

    threads = [threading.Thread(target=delete, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + timeout
    while api.names("active") & set(names):
        if time.monotonic() > deadline:
            raise RuntimeError(f"servers still active after {timeout} s")
        time.sleep(0.2)
    time.sleep(1.0)  # let the stopped processes' exit work finish before the next spawn


# -- the run ---------------------------------------------------------------------------


def user_name(arm: str, phase: str, rnd: int, i: int) -> str:
    return f"{PREFIX[arm]}{phase[0]}{rnd}-{i:03d}"


def hub_settings(src: Path, data_dir: Path, isolation: str) -> str:
    datasets, climate = src / "datasets", src / "climate"
    for folder in (datasets, climate):
        folder.mkdir(parents=True, exist_ok=True)
    (datasets / "stations.csv").write_text("station,lat\nPAY,46.81\n")
    (climate / "README.md").write_text("# climate data\n")
    return HUB_SETTINGS.format(
        plain_prefix=PREFIX["plain"],
        slow_spawn_timeout=SLOW_SPAWN_TIMEOUT,
        plain_homes=str(data_dir / "plain-homes"),
        plain_args=["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [],
        datasets=str(datasets),
        climate=str(climate),
        group=GROUP,
        isolation=isolation,
        home_size=HOME_SIZE,
    )


def create_users(api: Api, names: list[str]) -> None:
    api.request("POST", "/users", json={"usernames": names}).raise_for_status()
    if api.request("GET", f"/groups/{GROUP}").status_code == 404:
        api.request("POST", f"/groups/{GROUP}").raise_for_status()
    api.request("POST", f"/groups/{GROUP}/users", json={"users": names}).raise_for_status()


class Run:
    def __init__(self, api: Api, poll: float, timeout: float):
        self.api = api
        self.poll = poll
        self.timeout = timeout
        self.samples: list[Sample] = []
        self.metrics: dict[tuple[str, str], list[float]] = {}  # (arm, phase) -> [sum, count]
        self.started: list[str] = []
        # (arm, phase) -> [CPU seconds used by other processes, CPU seconds the machine had]
        self.foreign: dict[tuple[str, str], list[float]] = {}
        self.isolation = ""  # what the nbspaces arm ran, from the hub's log

    def batch(self, arm: str, phase: str, rnd: int, names: list[str]) -> None:
        before = self.api.spawn_metrics()
        self.started.extend(names)
        procs = process_times()
        results = spawn_batch(self.api, names, self.poll, self.timeout)
        other = foreign_cpu(procs, process_times())
        cpu = {n: process_cpu(pid) if (pid := self.api.server_pid(n)) else None for n in names}
        after = self.api.spawn_metrics()
        acc = self.metrics.setdefault((arm, phase), [0.0, 0.0])
        acc[0] += after[0] - before[0]
        acc[1] += after[1] - before[1]
        load = self.foreign.setdefault((arm, phase), [0.0, 0.0])
        load[0] += other
        load[1] += max(r[1] for r in results.values()) * len(os.sched_getaffinity(0))
        for name in names:
            wall, seconds, status = results[name]
            self.samples.append(Sample(arm, phase, rnd, name, status, wall, seconds,
                                       batch_foreign_cpu_s=other, server_cpu_s=cpu[name]))
        done = " ".join(f"{results[n][1]:.2f}" for n in names)
        print(f"  {phase:<10} round {rnd} {arm:<8} {len(names):>2} user(s): {done}", flush=True)

    def stop_all(self) -> None:
        if self.started:
            stop_servers(self.api, self.started)
            self.started = []


def run(bench: Run, args: argparse.Namespace) -> None:
    api = bench.api
    names = [f"{PREFIX[arm]}warmup" for arm in ARMS]
    for rnd in range(args.repeat):
        for arm in ARMS:
            names += [user_name(arm, "sequential", rnd, i) for i in range(args.users)]
            names += [user_name(arm, "concurrent", rnd, i) for i in range(2 * args.concurrent)]
    create_users(api, names)

    # One unmeasured spawn per arm: the first start of anything reads a cold page cache.
    print("warm-up", flush=True)
    for arm in ARMS:
        spawn_batch(api, [f"{PREFIX[arm]}warmup"], args.poll, args.timeout)
    stop_servers(api, [f"{PREFIX[arm]}warmup" for arm in ARMS])

    for rnd in range(args.repeat):
        if args.users:
            print(f"sequential, round {rnd}: {args.users} users per arm, arms interleaved ABBA", flush=True)
            for i in range(args.users):
                order = ARMS if (i + rnd) % 2 == 0 else ARMS[::-1]
                for arm in order:
                    bench.batch(arm, "sequential", rnd, [user_name(arm, "sequential", rnd, i)])
            bench.stop_all()
            print(f"returning, round {rnd}: the same users again, their homes made", flush=True)
            for i in range(args.users):
                order = ARMS if (i + rnd) % 2 == 0 else ARMS[::-1]
                for arm in order:
                    bench.batch(arm, "returning", rnd, [user_name(arm, "sequential", rnd, i)])
            bench.stop_all()
        if args.concurrent:
            print(f"concurrent, round {rnd}: {args.concurrent} users at once, batches ABBA", flush=True)
            order = [*ARMS, *ARMS[::-1]] if rnd % 2 == 0 else [*ARMS[::-1], *ARMS]
            seen: dict[str, int] = {}
            for arm in order:
                k = seen.get(arm, 0)
                seen[arm] = k + 1
                first = k * args.concurrent
                batch = [user_name(arm, "concurrent", rnd, first + i) for i in range(args.concurrent)]
                bench.batch(arm, "concurrent", rnd, batch)
                bench.stop_all()


def attach_log_times(samples: list[Sample], log: str) -> None:
    """Fill hub_s, popen_s and up_s of each sample from the hub's log (which has the servers' too)."""

    def wall(ts: str) -> float:
        return dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # local time, as logged

    # A user spawns more than once (returning): each sample takes its user's first event after its POST.
    took: dict[str, list[tuple[float, float]]] = {}
    for ts, name, sec in _TOOK.findall(log):
        took.setdefault(name, []).append((wall(ts), float(sec)))
    spawning: dict[str, list[float]] = {}
    for ts, root in _SPAWNING.findall(log):
        spawning.setdefault(Path(root).name, []).append(wall(ts))
    running: dict[str, list[float]] = {}
    for ts, name in _RUNNING.findall(log):
        running.setdefault(name, []).append(wall(ts))
    # The log's times have millisecond resolution; a POST's wall time has more.
    for s in samples:
        since = s.post_wall - 0.001
        s.hub_s = next((sec for at, sec in took.get(s.user, []) if at >= since), None)
        popen = next((at for at in spawning.get(s.user, []) if at >= since), None)
        s.popen_s = None if popen is None else popen - s.post_wall
        up = next((at for at in running.get(s.user, []) if at >= since), None)
        s.up_s = None if up is None else up - s.post_wall


# -- figures ---------------------------------------------------------------------------


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def ratio_interval(a: Sequence[float], b: Sequence[float], iterations: int = 2000) -> tuple[float, float]:
    """A 90% bootstrap interval of median(a) / median(b)."""
    rng = random.Random(0)
    ratios = sorted(
        statistics.median(rng.choices(a, k=len(a))) / statistics.median(rng.choices(b, k=len(b)))
        for _ in range(iterations)
    )
    return ratios[int(0.05 * iterations)], ratios[int(0.95 * iterations) - 1]


def values(samples: Iterable[Sample], arm: str, phase: str, attr: str) -> list[float]:
    out = [getattr(s, attr) for s in samples if s.arm == arm and s.phase == phase]
    return [v for v in out if v is not None]


def summarise(bench: Run) -> dict[str, Any]:
    phases = [p for p in TARGETS if any(s.phase == p for s in bench.samples)]
    rows: list[dict[str, Any]] = []
    ratios: dict[str, dict[str, Any]] = {}
    for phase in phases:
        for arm in ARMS:
            row: dict[str, Any] = {"arm": arm, "phase": phase, "n": len(values(bench.samples, arm, phase, "ready_s"))}
            for attr in ("ready_s", "hub_s", "popen_s", "up_s", "server_cpu_s"):
                v = values(bench.samples, arm, phase, attr)
                row[f"{attr[:-2]}_median"] = statistics.median(v) if v else None
                row[f"{attr[:-2]}_p90"] = p90(v) if v else None
            lags = [s.ready_s - s.up_s for s in bench.samples
                    if s.arm == arm and s.phase == phase and s.up_s is not None]
            row["lag_median"] = statistics.median(lags) if lags else None
            total, count = bench.metrics.get((arm, phase), [0.0, 0.0])
            row["hub_metrics_mean"] = total / count if count else None
            other, capacity = bench.foreign.get((arm, phase), [0.0, 0.0])
            row["foreign_cpu_share"] = other / capacity if capacity else None
            rows.append(row)
        ratios[phase] = {}
        for attr in ("ready_s", "hub_s", "up_s", "server_cpu_s"):
            a = values(bench.samples, "nbspaces", phase, attr)
            b = values(bench.samples, "plain", phase, attr)
            if a and b:
                low, high = ratio_interval(a, b)
                ratios[phase][attr[:-2]] = {
                    "ratio": statistics.median(a) / statistics.median(b), "ci90": [low, high],
                }
        a_popen = values(bench.samples, "nbspaces", phase, "popen_s")
        b_popen = values(bench.samples, "plain", phase, "popen_s")
        if a_popen and b_popen:
            ratios[phase]["popen_extra_s"] = statistics.median(a_popen) - statistics.median(b_popen)
    targets = {phase: TARGETS[phase] for phase in phases}
    met = all(r["ready"]["ratio"] <= targets[phase] for phase, r in ratios.items() if "ready" in r)
    return {"isolation": bench.isolation, "rows": rows, "ratios": ratios, "targets": targets, "target_met": met}


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(summary: dict[str, Any]) -> None:
    print()
    print("Seconds from POST /hub/api/users/{name}/server.  ready: the hub reports the server ready;")
    print("hub: the hub's own spawn duration (log; histogram mean); popen: the spawner's 'Spawning' line;")
    print("up: the single-user server logs it is running; lag: ready - up, the hub's backoff in noticing it;")
    print("cpu: CPU seconds the single-user server had used when its batch was ready.")
    print()
    header = (f"{'arm':<9} {'phase':<11} {'n':>3}  {'ready med':>9} {'ready p90':>9}  "
              f"{'hub med':>7} {'hub p90':>7} {'hub mean':>8}  {'popen med':>9}  "
              f"{'up med':>6} {'up p90':>6}  {'lag med':>7}  {'cpu med':>7}")
    print(header)
    print("-" * len(header))
    for r in summary["rows"]:
        print(
            f"{r['arm']:<9} {r['phase']:<11} {r['n']:>3}  {fmt(r['ready_median']):>9} {fmt(r['ready_p90']):>9}  "
            f"{fmt(r['hub_median']):>7} {fmt(r['hub_p90']):>7} {fmt(r['hub_metrics_mean']):>8}  "
            f"{fmt(r['popen_median'], 3):>9}  {fmt(r['up_median']):>6} {fmt(r['up_p90']):>6}  "
            f"{fmt(r['lag_median']):>7}  {fmt(r['server_cpu_median']):>7}"
        )
    print()
    print("ratio nbspaces / plain of the medians [90% bootstrap interval]:")
    for phase, figures in summary["ratios"].items():
        parts = [f"{k} {v['ratio']:.3f} [{v['ci90'][0]:.2f}-{v['ci90'][1]:.2f}]"
                 for k, v in figures.items() if isinstance(v, dict)]
        extra = figures.get("popen_extra_s")
        if extra is not None:
            parts.append(f"extra before Popen {extra * 1000:+.0f} ms")
        print(f"  {phase:<11} " + ";  ".join(parts))
    shares = [(r["arm"], r["phase"], r["foreign_cpu_share"]) for r in summary["rows"]
              if r.get("foreign_cpu_share") is not None]
    if shares:
        print()
        print("CPU used by other processes on the machine while spawning (share of all cores):")
        print("  " + ";  ".join(f"{arm} {phase} {share:.1%}" for arm, phase, share in shares))
        if max(share for _, _, share in shares) > 0.05:
            print("  WARNING: the machine was not quiet; figures are noisier than they would be on an idle machine")
    verdict = "MET" if summary["target_met"] else "NOT MET"
    targets = ", ".join(f"{phase} {target:.2f}" for phase, target in summary["targets"].items())
    print()
    print(f"nbspaces isolation: {summary['isolation']}")
    print(f"target: ready ratio <= {targets}: {verdict}")
    for phase, figures in summary["ratios"].items():
        low, high = figures.get("ready", {}).get("ci90", (0.0, 0.0))
        target = summary["targets"][phase]
        if low <= target < high:
            print(f"  {phase}: the 90% interval [{low:.2f}-{high:.2f}] contains {target:.2f}; "
                  "more rounds (--repeat) narrow it")


def code_state() -> dict[str, Any]:
    """The commit measured, and whether nbspaces/ differs from it (servers load it at spawn)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "nbspaces_changes": git("status", "--porcelain", "--", "nbspaces").splitlines(),
        "nbspaces_diff_sha256": hashlib.sha256(git("diff", "HEAD", "--", "nbspaces").encode()).hexdigest()[:16],
    }


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nbspaces": nbspaces.__version__,
    }
    for dist in ("jupyterhub", "jupyter_server", "jupyterlab"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu_model"] = model.group(1) if model else None
        mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        info["memory_gib"] = round(int(mem.group(1)) / 2**20, 1) if mem else None
    except OSError:
        pass
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20, help="sequential spawns per arm and round (default 20)")
    parser.add_argument("--concurrent", type=int, default=10,
                        help="users started at once per batch; two batches per arm and round (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; odd rounds start with the other arm")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between readiness polls (default 0.05)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a spawn may take before the run fails")
    parser.add_argument("--json", type=Path, help="write every sample and the summary to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder (hub log, homes)")
    parser.add_argument("--isolation", choices=("auto", "basic", "strong"), default="auto",
                        help="LocalSpaceSpawner.isolation of the nbspaces arm (default auto, the default)")
    args = parser.parse_args(argv)

    command = shlex.join([sys.executable, *sys.argv])
    started = dt.datetime.now().astimezone()
    code = code_state()
    n_changes = len(code["nbspaces_changes"])
    changes = f", {n_changes} uncommitted change(s) in nbspaces/" if n_changes else ""
    print(f"measuring commit {code['commit']}{changes}", flush=True)
    # Not under /tmp, which strong isolation replaces; other accounts may traverse it (0711).
    tmp = Path(tempfile.mkdtemp(prefix="nbspaces-bench-", dir="/var/tmp"))
    tmp.chmod(0o711)
    hub: Hub | None = None
    bench: Run | None = None
    keep = args.keep
    try:
        data_dir = tmp / "hub"
        hub = start_hub(data_dir, hub_settings(tmp / "src", data_dir, args.isolation))
        data_dir.chmod(0o711)
        print(f"hub at {hub.url}, data in {tmp}", flush=True)
        bench = Run(Api(hub), args.poll, args.timeout)
        run(bench, args)
        attach_log_times(bench.samples, hub.log())
        chosen = re.search(r"nbspaces: the server of \S+ runs in (\w+) isolation", hub.log())
        bench.isolation = chosen.group(1) if chosen else "?"
    except BaseException:
        if hub is not None:
            print("hub log (end):\n" + "\n".join(hub.log().splitlines()[-80:]), file=sys.stderr)
        keep = True
        raise
    finally:
        if hub is not None:
            if bench is not None:
                try:
                    bench.stop_all()
                except (RuntimeError, requests.RequestException) as e:
                    print(f"could not stop every server: {e}", file=sys.stderr)
            hub.stop()
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = (dt.datetime.now().astimezone() - started).total_seconds()

    summary = summarise(bench)
    print_summary(summary)
    code_after = code_state()
    if code_after != code:
        print(f"WARNING: nbspaces' code changed during the run (commit {code['commit']} -> {code_after['commit']}, "
              "or uncommitted edits); servers spawned later ran the newer code")
    print(f"\n{len(bench.samples)} spawns measured in a run of {elapsed:.0f} s")
    if args.json:
        report = {
            "command": command,
            "date": started.isoformat(timespec="seconds"),
            "elapsed_s": elapsed,
            "code": {"before": code, "after": code_after},
            "machine": machine(),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "summary": summary,
            "samples": [asdict(s) for s in bench.samples],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
