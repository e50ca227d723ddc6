"""Thin REST handlers over the mount registry: they translate HTTP to calls and refusals to
statuses; the registry (and kept.py) decide what is done and what is answered.

Described in openapi.yaml beside this file. No response ever carries a secret.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .contents import SpacesContentsManager
from .kept import kept
from .registry import Mount, Registry, RegistryError, new_space

AUTH_RESOURCE = "nbspaces"
BODY_MAX = 64 * 1024  # bytes of a request body (a space's settings and credentials)


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

    async def reply(self, mount: Mount, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(await self.registry.describe(mount)))

    def _handle_request_exception(self, e: BaseException) -> None:
        """A refused request is an answer, not a crash: no traceback in the log."""
        if isinstance(e, RegistryError) and not self._finished:
            self.log.warning("%s %s: %s", self.request.method, self.request.path, e.message)
            self.clear()
            self.set_status(e.status)
            self.set_header("Content-Type", "application/json")
            body: dict[str, Any] = {"message": e.message, "reason": None}
            if e.offer is not None:
                body["offer"] = e.offer  # what to send to POST .../accept, once the user checked it
            self.finish(json.dumps(body))
            return
        super()._handle_request_exception(e)


class SpacesHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every space of this server: kind, where, mode, status and reason, usage and quota."""
        cm = self.cm
        self.finish(json.dumps(await self.registry.overview(cm.space_status, await cm.home_usage())))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Add a space of the user's own: {"name", "kind", "mount"?, "settings", "credentials"?}."""
        await self.reply(await self.registry.add(**new_space(self.body())), 201)


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
        """Test the credentials with a real request; store them only if they work (and, with
        ``?remember=false``, not at all: they serve until the server stops)."""
        remember = self.get_query_argument("remember", "true")
        if remember not in ("true", "false"):
            raise web.HTTPError(400, "remember must be true or false")
        await self.reply(await self.registry.set_credentials(name, self.body(), remember == "true"))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.reply(await self.registry.forget(name))


class ActionHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self, name: str, action: str) -> None:
        if action == "accept":
            mount = await self.registry.accept(name, self.body())
        elif action in ("mount", "retry"):
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
        self.finish(json.dumps(kept(root, getattr(self.settings.get("nbspaces"), "kept_paths", None),
                                    isinstance(cm, SpacesContentsManager) and cm.plan is not None, os.environ)))


_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})"
HANDLERS = [
    (r"/nbspaces/api/kept", KeptHandler),
    (r"/nbspaces/api/spaces", SpacesHandler),
    (rf"/nbspaces/api/spaces/{_NAME}", SpaceHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/credentials", CredentialsHandler),
    (rf"/nbspaces/api/spaces/{_NAME}/(?P<action>mount|unmount|retry|accept)", ActionHandler),
]
