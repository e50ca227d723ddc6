"""The nbspaces ExtensionApp: the spaces' contents manager and a REST API over them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Float, List, Unicode

from .. import tokens
from ..plan import Plan
from .contents import SpacesContentsManager
from .handlers import HANDLERS


class SpacesApp(ExtensionApp):
    name = "nbspaces"

    token_refresh_interval = Float(
        60.0,
        config=True,
        help="""Seconds between two readings of the user's login tokens from the hub. Keep it
        below the lifetime of the shortest token (D4Science's, Check-in's access token).""",
    )

    kept_paths = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        config=True,
        help="""Absolute folders whose files outlive this server (volumes that stay). The file
        browser marks every other folder as not kept. By default: the home nbspaces made when
        the server was spawned by nbspaces, otherwise the user's home ($HOME).""",
    )

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        super()._link_jupyter_server_extension(serverapp)
        # Linking runs before the server makes its contents manager. A server spawned by
        # nbspaces (it has a plan) gets ours, unless the admin configured another one.
        configured = serverapp.config.get("ServerApp", {}).get("contents_manager_class")
        try:
            plan = Plan.from_env()
        except (ValueError, KeyError, TypeError) as e:
            # Starting without the plan would drop the quota and read-only guards: refuse.
            raise SystemExit(f"nbspaces: cannot read this server's plan ({e}); not starting") from None
        if plan is not None and configured is None:
            serverapp.contents_manager_class = SpacesContentsManager

    def initialize_handlers(self) -> None:
        self.handlers.extend(HANDLERS)

    def initialize_settings(self) -> None:
        cm = self.serverapp.contents_manager
        if isinstance(cm, SpacesContentsManager) and cm.registry is not None:
            # Remembered spaces come back when the server starts, with no browser open.
            IOLoop.current().add_callback(cm.registry.start)
            self._refresher = PeriodicCallback(self.refresh_login_tokens, self.token_refresh_interval * 1000)
            self._refresher.start()

    async def refresh_login_tokens(self) -> None:
        """Fresh login tokens for the drivers, and for the kernels and terminals started from now."""
        cm = self.serverapp.contents_manager
        try:
            fresh = await asyncio.to_thread(tokens.fetch, None, 0)
        except tokens.TokensUnavailable as e:
            self.log.debug("nbspaces: no login tokens: %s", e)
            return
        if fresh.get("onedata"):
            os.environ["ONECLIENT_ACCESS_TOKEN"] = fresh["onedata"]
        if isinstance(cm, SpacesContentsManager) and cm.registry is not None:
            await cm.registry.use_login_tokens(fresh)

    async def stop_extension(self) -> None:
        """Unmount the folders of remote spaces when the server stops."""
        if getattr(self, "_refresher", None) is not None:
            self._refresher.stop()
        cm = self.serverapp.contents_manager
        if isinstance(cm, SpacesContentsManager) and cm.registry is not None and cm.registry.posix is not None:
            await cm.registry.posix.stop()
