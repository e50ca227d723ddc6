"""Single-user side of nbspaces: a jupyter_server extension, enabled on install."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import SpacesApp

    return [{"module": "nbspaces.server_extension", "app": SpacesApp}]
