"""The nbspaces ExtensionApp: the spaces' contents manager and a REST API over them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Float, List, TraitError, Unicode, validate

from .. import tokens
from ..drivers.base import LINK_LOCAL, AddressGuard, Network
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

    health_check_interval = Float(
        60.0,
        config=True,
        help="""Seconds between two health checks of the remote spaces: one light request to each
        mounted space (a WebDAV PROPFIND of its root), and a new connection attempt for each space
        in error, so that a service that went away, or came back, shows in the spaces' status
        without the user doing anything. 0 turns the checks off.""",
    )

    connect_timeout = Float(
        10.0,
        config=True,
        help="Seconds a remote space's service has to accept a connection before the request fails.",
    )

    read_timeout = Float(
        30.0,
        config=True,
        help="""Seconds a remote space's service may stay silent in the middle of an answer before
        the request fails (a credential test of a service that never answers ends after this).""",
    )

    allowed_networks = List(
        Unicode(),
        config=True,
        help="""Networks (CIDR, e.g. "10.0.0.0/8", or one address) that spaces users add may reach.
        Empty (the default): every address not in denied_networks. The most specific network of
        the two lists that holds an address decides. Spaces the admins define are not limited.""",
    )

    denied_networks = List(
        Unicode(),
        default_value=list(LINK_LOCAL),
        config=True,
        help="""Networks that spaces users add may not reach. By default the link-local ones, where
        cloud metadata services answer (169.254.0.0/16, fe80::/10, fd00:ec2::254). Add e.g.
        "127.0.0.0/8", "::1", "10.0.0.0/8" to keep user-given URLs off this machine and your network.""",
    )

    @validate("allowed_networks", "denied_networks")
    def _valid_networks(self, proposal: Any) -> list[str]:
        try:
            AddressGuard.parse(proposal["value"], [])
        except ValueError as e:
            raise TraitError(f"SpacesApp.{proposal['trait'].name}: {e}") from None
        return list(proposal["value"])

    @validate("connect_timeout", "read_timeout", "health_check_interval")
    def _not_negative(self, proposal: Any) -> float:
        if proposal["value"] < 0 or (proposal["value"] == 0 and proposal["trait"].name != "health_check_interval"):
            raise TraitError(f"SpacesApp.{proposal['trait'].name} must be a positive number of seconds")
        return float(proposal["value"])

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
            registry = cm.registry
            registry.network = Network(self.connect_timeout, self.read_timeout)
            registry.user_network = Network(self.connect_timeout, self.read_timeout,
                                            AddressGuard.parse(self.allowed_networks, self.denied_networks))
            # Remembered spaces come back when the server starts, with no browser open.
            IOLoop.current().add_callback(registry.start)
            self._refresher = PeriodicCallback(self.refresh_login_tokens, self.token_refresh_interval * 1000)
            self._refresher.start()
            if self.health_check_interval:
                self._checker = PeriodicCallback(self.check_health, self.health_check_interval * 1000)
                self._checker.start()

    def check_health(self) -> None:
        """Start a round of health checks and return: a space that does not answer (for up to the
        read timeout) holds up neither the next round nor the other spaces' checks."""
        cm = self.serverapp.contents_manager
        if isinstance(cm, SpacesContentsManager) and cm.registry is not None:
            cm.registry.background(cm.registry.check_health())

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
        for periodic in (getattr(self, "_refresher", None), getattr(self, "_checker", None)):
            if periodic is not None:
                periodic.stop()
        cm = self.serverapp.contents_manager
        if isinstance(cm, SpacesContentsManager) and cm.registry is not None and cm.registry.posix is not None:
            await cm.registry.posix.stop()
