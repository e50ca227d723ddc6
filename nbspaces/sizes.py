"""Byte sizes as admins write them ("20GiB", "500 MB", "20Gi") and as users read them."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
    "ti": 2**40,
    "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object) -> int:
    """Return a size in bytes, or raise ValueError with a message that says how to write it.

    Integers are bytes. Strings take decimal (kB, MB, GB, TB; K, M, G, T as in Kubernetes)
    or binary (KiB, MiB, GiB, TiB; Ki, Mi, Gi, Ti) units.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; write it like '20GiB' or '500MiB'")
    if isinstance(value, int):
        number, unit = float(value), ""
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        number, unit = float(m.group(1)), m.group(2).lower()
    elif isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"{value!r} is negative; a size must be a positive number like '20GiB'")
    else:
        raise ValueError(f"cannot read {value!r} as a size; write it like '20GiB' or '500MiB'")
    if unit not in _UNITS:
        raise ValueError(
            f"unknown unit {unit!r} in {value!r}; use one of B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"
        )
    size = int(number * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"{value!r} is not a positive size; write it like '20GiB'")
    return size


def format_size(n: int) -> str:
    """Human-readable binary size, e.g. 21474836480 -> '20 GiB'."""
    step = 1024.0
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < step or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        value /= step
    raise AssertionError("unreachable")


def kube_quantity(n: int) -> str:
    """A Kubernetes quantity for n bytes, in the largest binary unit that divides it exactly."""
    for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)
