"""requirements.lock, read as the tests need it: each locked package's version and marker."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.realhub import ROOT

LOCK = ROOT / "requirements.lock"


@dataclass(frozen=True)
class Pin:
    version: str
    marker: Marker | None
    hashes: int  # how many --hash options: pip and uv refuse a file that matches none

    def applies(self) -> bool:
        """Whether this Python, on this platform, installs the pin."""
        return self.marker is None or self.marker.evaluate()


def read_pins(text: str) -> dict[str, list[Pin]]:
    """name (canonical) -> its pins, from a pip requirements file of name==version lines.

    A universal lock may pin one package twice, for different Pythons (markers).
    """
    pins: dict[str, list[Pin]] = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("--"):
            continue
        hashes = line.count("--hash=sha256:")
        spec, _, marker = line.partition(";")
        spec = spec.split(" --hash")[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.+!]*)", spec)
        assert m, f"{line!r} is not pinned as name==version"
        marker = marker.split(" --hash")[0].strip()
        pin = Pin(m.group(2), Marker(marker) if marker else None, hashes)
        pins.setdefault(canonicalize_name(m.group(1)), []).append(pin)
    return pins


def locked() -> dict[str, list[Pin]]:
    return read_pins(LOCK.read_text())
