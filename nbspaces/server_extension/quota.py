"""The one account of a home's bytes, which every write of the contents API goes through.

Where the server enforces the quota (basic isolation), the figure is a walk of the home plus
the bytes of the writes under way. A write *reserves* its growth before its first byte, under a
lock, so concurrent writes cannot together pass the quota; it writes to a file of its own that
walks leave out (the reservation counts it instead); it gives the bytes their name and releases
the reservation when it is done. Any change we make marks the walked figure stale, so the next
reservation walks again: a figure is never older than our last write, and never older than
``max_age`` seconds for writes made by kernels. A refusal always comes from a fresh walk.

Where the filesystem enforces the quota (strong isolation), the figure is the filesystem's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable

SPOOL_PREFIX = ".nbspaces-upload-"  # chunked uploads in progress (see contents.py)
WRITE_PREFIX = ".nbspaces-write-"  # a save, copy or checkpoint being written


class QuotaExceeded(Exception):
    def __init__(self, after: int, limit: int):
        super().__init__(f"{after} bytes over a quota of {limit}")
        self.after = after
        self.limit = limit


def tree_bytes(root: str, skip: Callable[[str], bool] = lambda _: False) -> int:
    """Total size of the files under root, not following links; ``skip(path)`` leaves a path out."""
    total = 0
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            if skip(entry.path):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class Hold:
    """Bytes reserved by one write under way, and the files it writes them to."""

    def __init__(self, ledger: Ledger, size: int, paths: Iterable[str]):
        self.ledger = ledger
        self.size = size
        self.paths = set(paths)
        self.released_at: int | None = None


class Ledger:
    """Bytes used in one home and the writes under way there.

    ``others`` are top-level paths of the home that belong to other spaces (shared folders,
    remote spaces' folders), left out of walks, as are mount points found at the top level.
    ``limit`` None: no quota (the figure is still kept, for the spaces API).
    """

    def __init__(self, root: str, others: set[str], limit: int | None, by_filesystem: bool, max_age: float):
        self.root = os.path.abspath(root)
        self.others = {os.path.join(self.root, o) for o in others}
        self.limit = limit
        self.by_filesystem = by_filesystem
        self.max_age = max_age
        self._lock = asyncio.Lock()
        self._paths_lock = threading.Lock()  # the set of in-flight files, read by walks in threads
        self._holds: set[Hold] = set()
        self._gone: list[Hold] = []  # released since the last walk began
        self._generation = itertools.count(1)
        self._now = 0  # generation of the latest change
        self._walked: int | None = None
        self._walk_started = 0  # generation at which the walk behind _walked began
        self._walked_at = 0.0

    # -- the figure ---------------------------------------------------------------------

    def _skip(self, path: str) -> bool:
        if path in self.others:
            return True
        if os.path.dirname(path) == self.root and os.path.ismount(path):
            return True  # a space mounted at the top level since (FUSE)
        with self._paths_lock:
            return any(path in h.paths for h in self._holds)

    def _walk(self) -> int:
        if self.by_filesystem:
            st = os.statvfs(self.root)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        return tree_bytes(self.root, self._skip)

    def _stale(self) -> bool:
        return (self.by_filesystem or self._walked is None or self._walk_started < self._now
                or time.monotonic() - self._walked_at > self.max_age)

    async def _rewalk(self) -> None:
        started = self._now
        walked = await asyncio.to_thread(self._walk)
        self._walked, self._walk_started, self._walked_at = walked, started, time.monotonic()
        # Writes released after the walk began may or may not be in it: keep counting them once
        # more until the next walk (too many bytes for a moment, never too few).
        self._gone = [h for h in self._gone if h.released_at is not None and h.released_at > started]

    def _figure(self) -> int:
        assert self._walked is not None
        if self.by_filesystem:
            return self._walked  # the filesystem's own figure already has the bytes written so far
        return self._walked + sum(h.size for h in self._holds) + sum(h.size for h in self._gone)

    def _capacity(self) -> int | None:
        if not self.by_filesystem:
            return self.limit
        st = os.statvfs(self.root)
        total = st.f_blocks * st.f_frsize
        return total if self.limit is None else min(self.limit, total)

    async def used(self) -> tuple[int, int | None]:
        """(bytes used, quota in bytes or None)."""
        async with self._lock:
            if self._stale():
                await self._rewalk()
            return self._figure(), self._capacity()

    # -- writes -------------------------------------------------------------------------

    async def reserve(self, size: int, paths: Iterable[str] = ()) -> Hold:
        """Reserve ``size`` bytes (may be 0 or negative: no check) for a write to ``paths``.

        Raises QuotaExceeded, from a fresh figure, when they do not fit.
        """
        hold = Hold(self, max(0, size), paths)
        await self._admit(hold.size)
        with self._paths_lock:
            self._holds.add(hold)
        return hold

    async def grow(self, hold: Hold, size: int) -> None:
        """Reserve ``size`` more bytes for a write under way (the next chunk of an upload)."""
        await self._admit(size)
        hold.size += size

    async def _admit(self, size: int) -> None:
        if size <= 0 or (self.limit is None and not self.by_filesystem):
            return
        async with self._lock:
            fresh = self._stale()
            if fresh:
                await self._rewalk()
            capacity = self._capacity()
            if capacity is not None and self._figure() + size > capacity and not fresh:
                await self._rewalk()  # never refuse on an old figure
            if capacity is not None and (after := self._figure() + size) > capacity:
                raise QuotaExceeded(after, capacity)

    def add_path(self, hold: Hold, path: str) -> None:
        """One more file the write of ``hold`` writes to (a move writes many)."""
        with self._paths_lock:
            hold.paths.add(path)

    def release(self, hold: Hold) -> None:
        """The write is over (done, or undone and its files removed): its bytes are on disk or gone."""
        with self._paths_lock:
            if hold not in self._holds:
                return
            self._holds.discard(hold)
        hold.released_at = self._now = next(self._generation)
        self._gone.append(hold)

    def changed(self) -> None:
        """Something in the home changed (a delete, a move out): walk again before the next check."""
        self._now = next(self._generation)

    def clean_leftovers(self) -> None:
        """Remove the files of writes under way when a server stopped (chunked uploads' spools,
        saves, copies), in one walk of the home: the server that wrote them is gone."""
        stack = [self.root]
        while stack:
            top = stack.pop()
            with contextlib.suppress(OSError), os.scandir(top) as entries:
                for entry in entries:
                    if entry.path in self.others:
                        continue
                    with contextlib.suppress(OSError):
                        is_dir = entry.is_dir(follow_symlinks=False)
                        if entry.name.startswith((SPOOL_PREFIX, WRITE_PREFIX)) and is_dir:
                            shutil.rmtree(entry.path)
                        elif entry.name.startswith((SPOOL_PREFIX, WRITE_PREFIX)):
                            os.remove(entry.path)
                        elif is_dir and not os.path.ismount(entry.path):
                            stack.append(entry.path)
        self.changed()
