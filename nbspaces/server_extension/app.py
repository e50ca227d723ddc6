"""The nbspaces ExtensionApp: a REST API over the spaces of this server."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .handlers import SpacesHandler


class SpacesApp(ExtensionApp):
    name = "nbspaces"

    def initialize_handlers(self) -> None:
        self.handlers.extend([(r"/nbspaces/api/spaces", SpacesHandler)])
