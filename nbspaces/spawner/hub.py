"""``configure_hub(c)``: the last line of a hub config that uses nbspaces.

JupyterHub offers spawners no hook at hub start, so the config file calls this once its
settings are made: it validates the catalog (a wrong catalog stops the hub with a message
naming every wrong key), adds the idle culler as a hub-managed service with the least
privileges it needs, adds one community-admin role per group, and logs once which
isolation level is active.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from traitlets import TraitError
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from ..catalog import CatalogError
from .config import NBSpaces

CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
# The hub's own default; the culler's timeout must exceed it or active servers look idle.
LAST_ACTIVITY_INTERVAL = 300

_ISOLATION_NOTES = {
    "basic": (
        "Every server runs as the hub's unix account; the home quota "
        "and read-only shared folders are enforced by the server's contents manager only. It does "
        "not protect against code in a user's kernel or terminal, which can read other homes, "
        "write past the quota and write into read-only folders. Use isolation 'strong' (root) or "
        "Kubernetes for untrusted users."
    ),
    "strong": (
        "Every server runs as its own unix account in its own mount "
        "namespace, with an ext4 home image (hard quota), kernel read-only bind mounts and a private "
        "/tmp. It does not limit CPU, memory or network, and users share the host's kernel, "
        "processes list and installed software."
    ),
    "kubernetes": (
        "Every server is a pod with its home PVC and shared folder "
        "volumes (readOnly on the mount where the user may not write). The home quota is as hard as "
        "the storage class makes it."
    ),
}


def isolation_note(isolation: str, auto_reason: str | None = None) -> str:
    """The hub's log line about the active isolation; ``auto_reason`` when 'auto' chose it."""
    how = ""
    if auto_reason is not None:
        how = f", chosen by 'auto' ({auto_reason or 'the hub runs as root with loop devices and mount namespaces'})"
    note = f"nbspaces isolation: {isolation}{how}. {_ISOLATION_NOTES[isolation]}"
    if isolation == "basic" and os.geteuid() == 0:
        note += " The hub runs as root, so every server, and the code users run in it, runs as root."
    return note


def _spawner_class(c: Config) -> type:
    value = c.JupyterHub.get("spawner_class")
    if value is None:
        from .local import LocalSpaceSpawner

        c.JupyterHub.spawner_class = LocalSpaceSpawner
        return LocalSpaceSpawner
    if isinstance(value, str):
        aliases = {"nbspaces-local": "nbspaces.spawner.local.LocalSpaceSpawner",
                   "nbspaces-kubernetes": "nbspaces.spawner.kube.KubeSpaceSpawner"}
        return import_item(aliases.get(value, value))
    return value


def _role_name(group: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", group.lower()).strip("-") or "group"
    if cleaned != group:  # "Climate" and "climate" must not share a role
        cleaned = f"{cleaned[:40]}-{hashlib.sha256(group.encode()).hexdigest()[:8]}"
    return f"nbspaces-community-admin-{cleaned}"


def community_admin_role(group: str, users: list[str]) -> dict[str, Any]:
    """Least privilege to manage one group's shared folders through its properties.

    ``groups!group=<name>`` is the narrowest scope JupyterHub has that can write a group's
    properties; it also lets these admins add or remove members of that one group.
    """
    return {
        "name": _role_name(group),
        "description": f"Manage the nbspaces shared folders of group {group}",
        "scopes": [f"groups!group={group}"],
        "users": list(users),
    }


def configure_hub(c: Config) -> None:
    """Validate the catalog and add the culler and community-admin roles to ``c``."""
    settings = NBSpaces(config=c)
    spawner = _spawner_class(c)
    isolation, auto_reason = _isolation(c, spawner)
    # The spawner says where shared folders come from: host paths (checked here, once) or
    # Kubernetes volumes.
    need = getattr(spawner, "catalog_need", None) or "source"
    try:
        catalog = settings.catalog(need=need, check_sources=need == "source")
    except CatalogError as e:
        raise SystemExit(str(e)) from None
    if isolation == "strong":
        from .local import shared_gid

        base = spawner(config=c).shared_gid_base
        gids: dict[int, str] = {}
        for name in sorted(catalog.shared):
            other = gids.setdefault(shared_gid(base, name), name)
            if other != name:
                raise SystemExit(
                    f"nbspaces: shared folders {other!r} and {name!r} would share a writers' group; "
                    "rename one of them"
                )

    roles: list[dict[str, Any]] = list(c.JupyterHub.get("load_roles", []))
    services: list[dict[str, Any]] = list(c.JupyterHub.get("services", []))
    for group, users in sorted(settings.community_admins.items()):
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise SystemExit(f"nbspaces: community_admins.{group}: must be a list of user names")
        roles.append(community_admin_role(group, users))

    if settings.cull_timeout > 0:
        interval = c.JupyterHub.get("last_activity_interval", LAST_ACTIVITY_INTERVAL)
        if settings.cull_timeout <= interval:
            raise SystemExit(
                f"nbspaces: cull_timeout ({settings.cull_timeout} s) must exceed "
                f"JupyterHub.last_activity_interval ({interval} s), or active servers look idle"
            )
        every = settings.cull_every or max(10, settings.cull_timeout // 10)
        services.append({
            "name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                        f"--timeout={settings.cull_timeout}", f"--cull-every={every}",
                        *settings.cull_args],
        })
        roles.append({
            "name": "idle-culler",
            "description": "Stop servers idle for longer than the cull timeout",
            "scopes": CULLER_SCOPES,
            "services": ["idle-culler"],
        })
    _add_service(c, settings, roles, services)
    c.JupyterHub.load_roles = roles
    c.JupyterHub.services = services
    _log_when_ready(isolation_note(isolation, auto_reason))


def _isolation(c: Config, spawner: type) -> tuple[str, str | None]:
    """The isolation level the servers get, and why 'auto' chose it (None: not chosen by 'auto')."""
    fixed = getattr(spawner, "isolation", None)
    if isinstance(fixed, str):  # set by the spawner class (Kubernetes), not a configurable trait
        return fixed, None
    configured = next((c[k.__name__]["isolation"] for k in spawner.__mro__
                       if "isolation" in c.get(k.__name__, {})), None)
    if configured == "strong" and os.geteuid() != 0:
        raise SystemExit("nbspaces: isolation 'strong' needs the hub to run as root; use 'basic' otherwise")
    from .local import LocalSpaceSpawner

    if not issubclass(spawner, LocalSpaceSpawner):
        return configured or "basic", None
    try:
        local = spawner(config=c)  # reading the trait resolves 'auto' as every spawn will
    except TraitError as e:
        raise SystemExit(f"nbspaces: {e}") from None
    isolation = local.isolation
    if configured not in (None, "auto"):
        return isolation, None
    return isolation, local.strong_unavailable() or ""


SERVICE_NAME = "nbspaces"
# The environment of the nbspaces service (nbspaces.spawner.service reads it). They live here,
# not there: the service runs as `python -m nbspaces.spawner.service`, which imports this
# package first, and Python warns when a module it runs was already imported by its package.
SECRET_ENV = "NBSPACES_SECRET_FILE"
BIND_ENV = "NBSPACES_SERVICE_BIND"  # host:port to listen on; the hub's URL for it may name another host
SERVER_SCOPES = ["users:activity!user", "access:servers!server"]


def _add_service(c: Config, settings: NBSpaces, roles: list[dict[str, Any]],
                 services: list[dict[str, Any]]) -> None:
    """The nbspaces hub service (credential-store keys) and the server role that reaches it."""
    secret_file = Path(settings.secret_file or Path(c.JupyterHub.get("cookie_secret_file") or
                                                    "jupyterhub_cookie_secret").resolve().parent / "nbspaces_secret")
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    base_url = c.JupyterHub.get("base_url", "/")
    prefix = f"{base_url.rstrip('/')}/services/{SERVICE_NAME}"
    bind_ip = settings.service_ip or "0.0.0.0"
    port = settings.service_port
    if not port and settings.service_url:
        url = urlparse(settings.service_url)
        port = url.port or (443 if url.scheme == "https" else 80)
    if port:
        _check_port_free(bind_ip, port)
    else:
        port = _free_port(bind_ip)
    if not settings.service_url:
        host = "127.0.0.1" if bind_ip == "0.0.0.0" else bind_ip
        c.NBSpaces.service_url = f"http://{host}:{port}{prefix}"
    # The hub and its proxy route reach the service where servers do (service_url's origin, e.g.
    # the hub's Kubernetes Service); it listens on service_ip, which may be 0.0.0.0.
    reach = urlparse(c.NBSpaces.service_url)
    services.append({
        "name": SERVICE_NAME,
        "url": f"{reach.scheme}://{reach.netloc}",
        "command": [sys.executable, "-m", "nbspaces.spawner.service"],
        "environment": {SECRET_ENV: str(secret_file),
                        BIND_ENV: f"{bind_ip}:{port}"},
        "display": False,
    })
    # A server's token holds only scopes its user holds, so both roles get: the service (keys)
    # and the user's own auth_state (login tokens that stay fresh in a running server).
    wanted = [f"access:services!service={SERVICE_NAME}", "admin:auth_state!user"]
    for name, defaults in (("user", ["self"]), ("server", SERVER_SCOPES)):
        role = next((r for r in roles if r.get("name") == name), None)
        if role is None:
            roles.append({"name": name, "scopes": [*defaults, *wanted]})
            continue
        scopes = role.setdefault("scopes", list(defaults))
        scopes.extend(s for s in wanted if s not in scopes)


def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _check_port_free(ip: str, port: int) -> None:
    """Stop the hub when the service's port is taken: the hub would otherwise report the service
    running (something answers there) and its proxy would route users to another program."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado listens
        try:
            s.bind((ip, port))
        except OSError as e:
            raise SystemExit(
                f"nbspaces: the nbspaces service cannot listen on {ip}:{port} ({e.strerror}): another "
                "program holds that port. Stop it, set c.NBSpaces.service_port to a free port, or leave "
                "service_port and service_url unset to use a free port."
            ) from None


def _log_when_ready(message: str) -> None:
    """Log once the hub's logging is set up (it is not yet while the config loads)."""
    def emit() -> None:
        logging.getLogger("JupyterHub").warning(message)

    try:
        asyncio.get_running_loop().call_soon(emit)
    except RuntimeError:
        emit()
