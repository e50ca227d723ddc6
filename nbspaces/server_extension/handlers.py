"""Thin REST handlers: they translate; the contents manager and the plan decide."""

from __future__ import annotations

import json
from dataclasses import asdict

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .contents import SpacesContentsManager

AUTH_RESOURCE = "nbspaces"


class SpacesHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every space of this server: kind, where, mode, status, usage and quota."""
        cm = self.contents_manager
        plan = getattr(cm, "plan", None)
        if not isinstance(cm, SpacesContentsManager) or plan is None:
            self.finish(json.dumps({"spaces": [], "message": "this server was not spawned by nbspaces"}))
            return
        usage = await cm.home_usage()
        spaces = []
        for space in plan.spaces:
            status, reason = cm.space_status(space)
            entry = {**asdict(space), "read_only": space.read_only, "status": status, "reason": reason}
            if space.kind == "home" and usage is not None:
                entry["used_bytes"], entry["quota_bytes"] = usage
            spaces.append(entry)
        self.finish(json.dumps({"isolation": plan.isolation, "spaces": spaces}))
