"""The nbspaces hub service: each user's key for their credential store.

Run by the hub as a managed service (``configure_hub`` adds it). A user's server asks
``GET {NBSPACES_SERVICE_URL}/key`` with its own API token and gets a key derived from the
hub's secret and the user's name: the same key at every spawn, never stored in the home,
and no user can get another user's key. The secret is read from the file named by
``NBSPACES_SECRET_FILE`` (mode 0600, made by configure_hub).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web

from .hub import BIND_ENV, SECRET_ENV


def user_key(secret: bytes, user: str) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) for one user's credential store."""
    digest = hmac.new(secret, b"nbspaces-credentials\0" + user.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


class KeyHandler(HubAuthenticated, web.RequestHandler):
    def initialize(self, secret: bytes) -> None:
        self.secret = secret

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, no XSRF."""

    @web.authenticated
    def get(self) -> None:
        user = self.get_current_user()
        if not isinstance(user, dict) or user.get("kind") != "user":
            raise web.HTTPError(403, "only a user's own server gets a key")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"user": user["name"], "key": user_key(self.secret, user["name"]).decode()}))


def main() -> None:
    with open(os.environ[SECRET_ENV], "rb") as f:
        secret = f.read().strip()
    if len(secret) < 32:
        raise SystemExit(f"nbspaces service: the secret in {os.environ[SECRET_ENV]} is too short")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/nbspaces/")
    if os.environ.get(BIND_ENV):
        host, _, port = os.environ[BIND_ENV].rpartition(":")
    else:
        url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
        host, port = url.hostname or "127.0.0.1", str(url.port or 80)
    app = web.Application([(url_path_join(prefix, "key"), KeyHandler, {"secret": secret})])
    try:
        app.listen(int(port), host)
    except OSError as e:  # the hub checked at start; another program took the port since
        raise SystemExit(f"nbspaces service: cannot listen on {host}:{port} ({e.strerror})") from None
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
