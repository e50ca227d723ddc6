"""The key of this user's credential store, from the hub's nbspaces service.

Asked with the server's own API token (``JUPYTERHUB_API_TOKEN``), which kernels and
terminals of the server share, so notebook code reaches the same credentials.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

SERVICE_ENV = "NBSPACES_SERVICE_URL"

_lock = threading.Lock()
_cached: bytes | None = None


class KeyUnavailable(Exception):
    """No key: stored credentials cannot be read or written now."""


def fetch_key(environ: dict[str, str] | None = None) -> bytes:
    global _cached
    with _lock:
        if _cached is not None and environ is None:
            return _cached
        env = os.environ if environ is None else environ
        url, token = env.get(SERVICE_ENV), env.get("JUPYTERHUB_API_TOKEN")
        if not url or not token:
            raise KeyUnavailable("this server was not started by an nbspaces hub with its service")
        request = urllib.request.Request(url.rstrip("/") + "/key", headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=15) as r:
                key = json.loads(r.read())["key"].encode()
        except urllib.error.HTTPError as e:
            raise KeyUnavailable(f"the hub's nbspaces service refused the key ({e.code})") from None
        except (OSError, ValueError, KeyError) as e:
            raise KeyUnavailable(f"the hub's nbspaces service cannot be reached ({type(e).__name__})") from None
        if environ is None:
            _cached = key
        return key
