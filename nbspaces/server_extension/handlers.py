"""Thin REST handlers over the mount registry: they translate; the registry decides.

Described in openapi.yaml beside this file. No response ever carries a secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..drivers import driver_class
from .contents import SpacesContentsManager
from .registry import Mount, Registry, RegistryError, public_settings

AUTH_RESOURCE = "nbspaces"


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
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "The request body must be a JSON object")
        return data

    async def describe(self, mount: Mount) -> dict[str, Any]:
        cls = driver_class(mount.space.kind)
        usage = await self.registry.usage(mount) if mount.status == "mounted" else None
        return {
            "name": mount.space.name, "kind": mount.space.kind, "mount": mount.space.mount,
            "mode": mount.space.mode, "read_only": mount.space.mode == "ro", "origin": mount.space.origin,
            "description": mount.space.description, "settings": public_settings(mount.space),
            "status": mount.status, "reason": mount.reason, "posix_reason": mount.posix_reason,
            # Spaces on login tokens ask the user for nothing.
            "credential_fields": [] if cls.login_token else [
                {"name": k, "label": v, "secret": k in cls.secret_fields} for k, v in cls.credential_fields.items()],
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
                         "origin": "catalog", "credential_fields": [], "posix": True, "posix_reason": "",
                         "used_bytes": None, "quota_bytes": None}
                entry.pop("settings", None)
                if space.kind == "home" and (usage := await cm.home_usage()) is not None:
                    entry["used_bytes"], entry["quota_bytes"] = usage
                spaces.append(entry)
        for mount in self.registry.mounts.values():
            spaces.append(await self.describe(mount))
        self.finish(json.dumps({"isolation": plan.isolation, "user_kinds": list(plan.user_kinds),
                                "spaces": spaces}))

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


_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})"
HANDLERS = [
    (r"/nbspaces/api/spaces", SpacesHandler),
    (rf"/nbspaces/api/spaces/{_NAME}", SpaceHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/credentials", CredentialsHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/(?P<action>mount|unmount|retry)", ActionHandler),
]
