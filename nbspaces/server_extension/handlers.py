"""Thin REST handlers over the mount registry: they translate; the registry decides.

Described in openapi.yaml beside this file. No response ever carries a secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..drivers import Driver, DriverError, driver_class
from .contents import SpacesContentsManager
from .registry import Mount, Registry, RegistryError, public_settings

AUTH_RESOURCE = "nbspaces"
BODY_MAX = 64 * 1024  # bytes of a request body (a space's settings and credentials)


def credential_fields(cls: type[Driver]) -> list[dict[str, Any]]:
    """What to ask the user for a space of this kind: nothing for spaces on login tokens."""
    if cls.login_token:
        return []
    return [{"name": k, "label": v, "secret": k in cls.secret_fields} for k, v in cls.credential_fields.items()]


def kind_form(kind: str) -> dict[str, Any] | None:
    """A kind's fields for the dialogs; None when its driver is not installed here."""
    try:
        cls = driver_class(kind)
    except DriverError:
        return None
    settings = [{"name": name, "label": s.label, "type": s.type, "required": s.required}
                for name, s in cls.setting_fields.items()]
    return {"label": cls.kind_label, "login": bool(cls.login_token),
            "credential_fields": credential_fields(cls), "setting_fields": settings}


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


class _Base(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def cm(self) -> SpacesContentsManager:
        cm = self.contents_manager
        if not isinstance(cm, SpacesContentsManager) or cm.plan is None or cm.registry is None:
            raise web.HTTPError(404, "this server was not spawned by nbspaces")
        return cm

    @property
    def registry(self) -> Registry:
        registry = self.cm.registry
        assert registry is not None
        return registry

    def body(self) -> dict[str, Any]:
        if len(self.request.body) > BODY_MAX:
            raise web.HTTPError(413, f"The request body is over {BODY_MAX // 1024} KiB: a space's settings and "
                                "credentials are far smaller; send only them")
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The request body is not JSON") from None
        except RecursionError:
            raise web.HTTPError(400, "The request body is nested too deeply; send a flat JSON object") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "The request body must be a JSON object")
        return data

    async def describe(self, mount: Mount, stored: set[str] | None = None) -> dict[str, Any]:
        cls = driver_class(mount.space.kind)
        usage = await self.registry.usage(mount) if mount.status == "mounted" else None
        if stored is None:
            stored = await self.registry.stored_credentials()
        return {
            "name": mount.space.name, "kind": mount.space.kind, "mount": mount.space.mount,
            "mode": mount.space.mode, "read_only": mount.space.mode == "ro", "origin": mount.space.origin,
            "description": mount.space.description, "settings": public_settings(mount.space),
            "status": mount.status, "reason": mount.reason, "posix_reason": mount.posix_reason,
            "credential_fields": credential_fields(cls), "has_credentials": mount.space.name in stored,
            "used_bytes": usage.used if usage else None, "quota_bytes": usage.total if usage else None,
            "posix": mount.posix,
        }

    async def reply(self, mount: Mount, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(await self.describe(mount)))

    def _handle_request_exception(self, e: BaseException) -> None:
        """A refused request is an answer, not a crash: no traceback in the log."""
        if isinstance(e, RegistryError) and not self._finished:
            self.log.warning("%s %s: %s", self.request.method, self.request.path, e.message)
            self.clear()
            self.set_status(e.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": e.message, "reason": None}))
            return
        super()._handle_request_exception(e)


class SpacesHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every space of this server: kind, where, mode, status and reason, usage and quota."""
        cm = self.cm
        plan = cm.plan
        assert plan is not None
        spaces: list[dict[str, Any]] = []
        for space in plan.spaces:
            if space.kind in ("home", "shared"):
                status, reason = cm.space_status(space)
                entry = {**asdict(space), "read_only": space.read_only, "status": status, "reason": reason,
                         "origin": "catalog", "credential_fields": [], "has_credentials": False, "posix": True,
                         "posix_reason": "", "used_bytes": None, "quota_bytes": None}
                entry.pop("settings", None)
                if space.kind == "home" and (usage := await cm.home_usage()) is not None:
                    entry["used_bytes"], entry["quota_bytes"] = usage
                spaces.append(entry)
        stored = await self.registry.stored_credentials()
        for mount in self.registry.mounts.values():
            spaces.append(await self.describe(mount, stored))
        kinds = {kind: form for kind in dict.fromkeys([*plan.user_kinds, *(s["kind"] for s in spaces)])
                 if (form := kind_form(kind)) is not None}
        self.finish(json.dumps({"isolation": plan.isolation, "user_kinds": list(plan.user_kinds),
                                "kinds": kinds, "spaces": spaces}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Add a space of the user's own: {"name", "kind", "mount"?, "settings", "credentials"?}."""
        data = self.body()
        for key, kind, required in (("name", str, True), ("kind", str, True), ("mount", str, False),
                                    ("settings", dict, False), ("credentials", dict, False)):
            if (required or data.get(key) is not None) and not isinstance(data.get(key), kind):
                raise web.HTTPError(400, f"'{key}' must be {'text' if kind is str else 'an object'}")
        unknown = sorted(set(data) - {"name", "kind", "mount", "settings", "credentials"})
        if unknown:
            raise web.HTTPError(400, f"Unknown fields: {', '.join(unknown)}")
        mount = await self.registry.add(data["name"], data["kind"], data.get("mount"), data.get("settings") or {})
        if data.get("credentials") is not None:
            try:
                mount = await self.registry.set_credentials(mount.space.name, data["credentials"])
            except RegistryError:
                await self.registry.remove(mount.space.name)
                raise
        await self.reply(mount, 201)


class SpaceHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        await self.reply(self.registry.get(name))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.registry.remove(name)
        self.set_status(204)
        self.finish()


class CredentialsHandler(_Base):
    @web.authenticated
    @authorized
    async def put(self, name: str) -> None:
        """Test the credentials with a real request; store them only if they work."""
        await self.reply(await self.registry.set_credentials(name, self.body()))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.reply(await self.registry.forget(name))


class ActionHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        if action in ("mount", "retry"):
            mount = await self.registry.mount(name)
        else:
            mount = await self.registry.unmount(name)
        if self.cm.remote is not None:
            self.cm.remote.invalidate(mount, "")
        await self.reply(mount)


class KeptHandler(APIHandler):
    """Which folders of the file tree outlive the server: the file browser marks the others.

    Answers on every server with the extension, spawned by nbspaces or not.
    """

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        cm = self.contents_manager
        root = getattr(cm, "root_dir", None) or self.settings.get("server_root_dir") or os.getcwd()
        kept, source = kept_folders(root, getattr(self.settings.get("nbspaces"), "kept_paths", None),
                                    isinstance(cm, SpacesContentsManager) and cm.plan is not None, os.environ)
        self.finish(json.dumps({"kept": kept_paths(root, kept), "source": source}))


_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})"
HANDLERS = [
    (r"/nbspaces/api/kept", KeptHandler),
    (r"/nbspaces/api/spaces", SpacesHandler),
    (rf"/nbspaces/api/spaces/{_NAME}", SpaceHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/credentials", CredentialsHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/(?P<action>mount|unmount|retry)", ActionHandler),
]
