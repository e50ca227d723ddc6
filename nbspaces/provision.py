"""One provisioning logic for every spawner: which folder goes where in a user's server.

The spawners only translate these placements: the local spawner into a home image or folder
plus bind mounts (or links), the Kubernetes spawner into volumes and volumeMounts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .plan import Plan


@dataclass(frozen=True)
class Placement:
    """The home or a shared folder placed in a user's server by the spawner (not a remote
    space's mount, which the server makes: see ``server_extension.registry.Mount``)."""

    space: str
    kind: str
    # Where the space appears, relative to the home ("" is the home itself).
    target: str
    read_only: bool
    source: str | None = None
    volume: Mapping[str, Any] | None = None
    sub_path: str | None = None
    quota_bytes: int | None = None


def placements(plan: Plan, catalog: Catalog) -> list[Placement]:
    """The home first, then each shared folder of the plan, in the plan's order."""
    home = plan.home
    out = [Placement(space=home.name, kind="home", target="", read_only=False, quota_bytes=home.quota_bytes)]
    for space in plan.spaces:
        if space.kind != "shared":
            continue
        folder = catalog.shared[space.name]
        out.append(
            Placement(
                space=space.name,
                kind="shared",
                target=space.mount,
                read_only=space.read_only,
                source=folder.source,
                volume=folder.volume,
                sub_path=folder.sub_path,
            )
        )
    return out


_DNS_BAD = re.compile(r"[^a-z0-9-]+")


def dns_label(prefix: str, name: str) -> str:
    """A Kubernetes-safe name (RFC 1123 label) that stays unique for distinct names."""
    cleaned = _DNS_BAD.sub("-", name.lower()).strip("-") or "x"
    if cleaned != name:
        cleaned = f"{cleaned[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return f"{prefix}-{cleaned}"[:63].rstrip("-")
