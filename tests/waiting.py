"""Waiting in tests: one helper for "until this holds, or fail saying what did not happen"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """What a test waited for did not happen in time."""


def wait_until(check: Callable[[], T], what: str, timeout: float = 30, interval: float = 0.2,
               ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``check`` until it returns something true, and return that.

    Exceptions in ``ignore`` count as "not yet" (a server still starting). After ``timeout``
    seconds it fails with ``what`` and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: object = check()
            if last:
                return last  # type: ignore[return-value]
        except ignore as e:
            last = e
        if time.monotonic() > deadline:
            raise Timeout(f"{what}: not after {timeout:g} s (last: {last!r})")
        time.sleep(interval)


async def await_until(check: Callable[[], T | Awaitable[T]], what: str, timeout: float = 30,
                      interval: float = 0.2) -> T:
    """wait_until for coroutines: ``check`` may be async; the loop keeps running between tries."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if asyncio.iscoroutine(last) or isinstance(last, asyncio.Future):
            last = await last
        if last:
            return last  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise Timeout(f"{what}: not after {timeout:g} s (last: {last!r})")
        await asyncio.sleep(interval)
