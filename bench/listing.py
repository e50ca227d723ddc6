"""Home listings: nbspaces' contents manager against jupyter_server's own AsyncLargeFileManager.

One run, in one process, on the same folder of ``--files`` files in a home:

- ``jupyter_server``: AsyncLargeFileManager(root_dir=home), as a server without nbspaces lists.
- ``nbspaces``: SpacesContentsManager(root_dir=home) with a plan (a home with a quota, and a
  read-only and a read-write shared folder linked in, as basic isolation makes them), as a
  spawned server lists: every path checked for containment, read-only marks, quota ledger.

Each manager lists the folder (``get(folder)``, content included) ``--repeats`` times, taking
turns, after a warm-up; the table gives the median time of one listing, and the median latency
of ``--clients`` listings asked at once (each client's time from asking to its answer).
Run: ``.venv/bin/python bench/listing.py [--files 200] [--repeats 30] [--clients 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from nbspaces.plan import PLAN_ENV, Plan, Space
from nbspaces.server_extension.contents import SpacesContentsManager


def make_home(base: Path, files: int) -> Path:
    home = base / "home"
    for folder in (home / "many", base / "datasets", base / "team"):
        folder.mkdir(parents=True)
    for i in range(files):
        (home / "many" / (f"notebook-{i:04}.ipynb" if i % 4 == 0 else f"data-{i:04}.csv")).write_bytes(b"x" * i)
    (home / "datasets").symlink_to(base / "datasets")
    (home / "team").symlink_to(base / "team")
    plan = Plan(user="bench", isolation="basic", spaces=(
        Space("home", "home", "", quota_bytes=2**30, quota_enforced_by="server"),
        Space("datasets", "shared", "datasets", mode="ro"),
        Space("team", "shared", "team", mode="rw"),
    ))
    os.environ[PLAN_ENV] = plan.to_json()
    return home


async def once(cm: Any) -> float:
    start = time.perf_counter()
    model = await cm.get("many")
    assert model["content"]
    return time.perf_counter() - start


async def at_once(cm: Any, clients: int) -> float:
    """Median latency of ``clients`` listings asked together."""
    return statistics.median(await asyncio.gather(*(once(cm) for _ in range(clients))))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--clients", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), args.files)
        managers = {"jupyter_server": AsyncLargeFileManager(root_dir=str(home)),
                    "nbspaces": SpacesContentsManager(root_dir=str(home))}
        times: dict[str, list[float]] = {name: [] for name in managers}
        crowd: dict[str, list[float]] = {name: [] for name in managers}
        for cm in managers.values():
            for _ in range(3):
                await once(cm)
        for _ in range(args.repeats):
            for name, cm in managers.items():
                times[name].append(await once(cm))
        for _ in range(3):
            for name, cm in managers.items():
                crowd[name].append(await at_once(cm, args.clients))
    one = {name: statistics.median(t) * 1000 for name, t in times.items()}
    many = {name: statistics.median(t) * 1000 for name, t in crowd.items()}
    print(f"home listing of {args.files} files, median of {args.repeats} (ms); "
          f"{args.clients} at once, median latency (ms)")
    for name in managers:
        print(f"  {name:15} {one[name]:8.1f}   {many[name]:8.1f}")
    print(f"  ratio nbspaces / jupyter_server: {one['nbspaces'] / one['jupyter_server']:.2f}x one, "
          f"{many['nbspaces'] / many['jupyter_server']:.2f}x at once")


if __name__ == "__main__":
    asyncio.run(main())
