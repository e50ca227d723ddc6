"""Login tokens (Onedata, D4Science) as the hub has them now, for a server and its kernels.

The environment is frozen at spawn; tokens are not. A server's own API token may read its
user's auth_state (nbspaces gives the server role ``admin:auth_state!user``), and asking
the hub as that user also lets the hub refresh them first (``auth_refresh_age``). Only the
tokens a space needs leave this module: never the IdP's refresh token.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

# auth_state key -> what it is for; the hub's authenticator fills them (nbspaces.spawner.checkin).
LOGIN_TOKENS = {"onedata_token": "onedata", "d4science_token": "d4science"}
MAX_AGE = 30.0

_lock = threading.Lock()
_cache: tuple[float, dict[str, str]] | None = None
_errors: dict[str, str] = {}


class TokensUnavailable(Exception):
    pass


def fetch(environ: Mapping[str, str] | None = None, max_age: float = MAX_AGE) -> dict[str, str]:
    """{"onedata": token, "d4science": token} for the tokens the user's auth_state holds now."""
    global _cache
    env = os.environ if environ is None else environ
    with _lock:
        if environ is None and _cache and time.monotonic() - _cache[0] < max_age:
            return dict(_cache[1])
        api, token, user = env.get("JUPYTERHUB_API_URL"), env.get("JUPYTERHUB_API_TOKEN"), env.get("JUPYTERHUB_USER")
        if not api or not token or not user:
            raise TokensUnavailable("not in a server spawned by JupyterHub")
        url = f"{api.rstrip('/')}/users/{urllib.parse.quote(user)}"
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=20) as r:
                model = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise TokensUnavailable(f"the hub refused to give the login tokens ({e.code})") from None
        except (OSError, ValueError) as e:
            raise TokensUnavailable(f"the hub cannot be reached ({type(e).__name__})") from None
        state = model.get("auth_state") or {}
        tokens = {kind: state[key] for key, kind in LOGIN_TOKENS.items() if isinstance(state.get(key), str)}
        errors = state.get("nbspaces_errors")
        _errors.clear()
        if isinstance(errors, dict):  # why the login gave no token (no secrets in these)
            _errors.update({str(k): str(v) for k, v in errors.items()})
        if environ is None:
            _cache = (time.monotonic(), tokens)
        return dict(tokens)


def last_errors() -> dict[str, str]:
    """Why the last reading found no token for a service ({"onedata": "..."}), as the hub recorded."""
    return dict(_errors)
