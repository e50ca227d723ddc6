"""Which folders of the file tree outlive the server, for the file browser to mark the others.

Decided on every server with the extension, spawned by nbspaces or not: the admin's
``SpacesApp.kept_paths`` first, then the plan's home, then the hub's $HOME, else the tree itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def kept_paths(root: str, kept: list[str]) -> list[str]:
    """The folders of the file tree rooted at ``root`` whose files outlive the server.

    ``kept`` are absolute folders that are kept. ``[""]`` means the whole tree is kept, ``[]`` that
    nothing in it is; otherwise the kept folders inside the tree, relative to its root.
    """
    root = os.path.realpath(root)
    inside: set[str] = set()
    for folder in kept:
        folder = os.path.realpath(os.path.expanduser(folder))
        if os.path.commonpath([root, folder]) == folder:
            return [""]
        if os.path.commonpath([root, folder]) == root:
            inside.add(os.path.relpath(folder, root).replace(os.sep, "/"))
    return sorted(inside)


def kept_folders(root: str, configured: list[str] | None, spawned_by_nbspaces: bool,
                 environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The absolute folders whose files outlive this server, and who decided."""
    if configured is not None:
        return list(configured), "config"
    if spawned_by_nbspaces:
        # The root is the home nbspaces made: it, its shared folders and remote spaces are kept.
        return [root], "plan"
    if environ.get("JUPYTERHUB_SERVICE_PREFIX"):
        # A hub's server without nbspaces' plan: hubs keep the user's home (a volume), not the image.
        return [os.path.expanduser("~")], "home"
    # A server of its own (jupyter lab on a laptop): its files stay where they are.
    return [root], "local"


def kept(root: str, configured: list[str] | None, spawned_by_nbspaces: bool,
         environ: Mapping[str, str]) -> dict[str, Any]:
    """The answer of GET /nbspaces/api/kept: the kept folders relative to ``root``, and who decided."""
    folders, source = kept_folders(root, configured, spawned_by_nbspaces, environ)
    return {"kept": kept_paths(root, folders), "source": source}
