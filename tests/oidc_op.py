"""A real OpenID Connect provider (panva's ``oidc-provider``) started on 127.0.0.1 for tests.

It stands in for EGI Check-in: authorization code flow (PKCE accepted, not required), refresh tokens
for ``offline_access`` rotated at every use, userinfo, discovery, JWKS, revocation and introspection,
with access tokens that live a few seconds. Users carry the claims Check-in returns (``sub``,
``email``, ``preferred_username``, ``eduperson_entitlement``).

The provider's login and consent steps are plain HTML forms, so :meth:`OP.login` completes them with a
``requests.Session`` the way a browser would. The client secret and the control token reach the node
process on its stdin, users' passwords through its control API; none is ever in its argv.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.realhub import ROOT, free_port, stop_process
from tests.waiting import Timeout, wait_until

SCRIPT = Path(__file__).resolve().parent / "oidc" / "op.mjs"
EGI_SCOPES = ["openid", "profile", "email", "eduperson_entitlement", "offline_access"]


def entitlement(vo: str, role: str = "member", group: str | None = None) -> str:
    """An eduperson_entitlement value as EGI Check-in writes it for membership of a VO (or a group in it)."""
    path = f"{vo}:{group}" if group else vo
    return f"urn:mace:egi.eu:group:{path}:role={role}#aai.egi.eu"


@dataclass
class OPUser:
    """A user of the OP. ``claims`` adds to (or overrides) the defaults made from the username."""

    username: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)
    sub: str = ""
    email: str = ""
    entitlements: Sequence[str] = ()
    claims: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        claims = {
            "email": self.email or f"{self.username}@example.org",
            "email_verified": True,
            "name": self.username.title(),
            "eduperson_entitlement": list(self.entitlements),
            **self.claims,
        }
        return {"username": self.username, "password": self.password, "sub": self.sub or None, "claims": claims}


class OPLoginError(AssertionError):
    """The OP did not let the user through (wrong password, an error page, an unexpected step)."""


@dataclass
class _Form:
    action: str
    method: str
    inputs: list[dict[str, str]]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(values.get("action", ""), values.get("method", "get").upper(), []))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].inputs.append(values)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@dataclass
class OP:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    proc: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    access_ttl: int
    control_token: str = field(repr=False)
    users: dict[str, OPUser] = field(default_factory=dict)
    _discovery: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- what a relying party reads ------------------------------------------------------------

    @property
    def discovery(self) -> dict[str, Any]:
        if not self._discovery:
            r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            r.raise_for_status()
            self._discovery = r.json()
        return self._discovery

    def authenticator_settings(self, scope: Sequence[str] = EGI_SCOPES) -> str:
        """JupyterHub config lines for GenericOAuthenticator against this OP (secrets go in the config file).

        The callback URL is built from ``c.JupyterHub.bind_url``, which tests.realhub sets before these lines.
        ``prompt=consent`` is sent because oidc-provider follows OpenID Connect Core 11 strictly: without it,
        ``offline_access`` is dropped from the request and no refresh token is issued. (EGI Check-in
        issues refresh tokens without it; sending it there is harmless.)
        """
        d = self.discovery
        return f"""
            c.JupyterHub.authenticator_class = "generic-oauth"
            c.GenericOAuthenticator.client_id = {self.client_id!r}
            c.GenericOAuthenticator.client_secret = {self.client_secret!r}
            c.GenericOAuthenticator.basic_auth = True
            c.GenericOAuthenticator.oauth_callback_url = c.JupyterHub.bind_url + "/hub/oauth_callback"
            c.GenericOAuthenticator.authorize_url = {d["authorization_endpoint"]!r}
            c.GenericOAuthenticator.token_url = {d["token_endpoint"]!r}
            c.GenericOAuthenticator.userdata_url = {d["userinfo_endpoint"]!r}
            c.GenericOAuthenticator.scope = {list(scope)!r}
            c.GenericOAuthenticator.extra_authorize_params = {{"prompt": "consent"}}
            c.GenericOAuthenticator.username_claim = "preferred_username"
            c.GenericOAuthenticator.enable_auth_state = True
            """

    # ---- acting as a browser ----------------------------------------------------------------

    def login(self, session: requests.Session, start_url: str, username: str, password: str,
              max_steps: int = 6) -> requests.Response:
        """Open ``start_url`` (e.g. the hub's /hub/oauth_login) and fill in the OP's forms until it
        sends the session back to the relying party; the last response, already back there, is returned."""
        r = session.get(start_url, timeout=30)
        sent_password = False
        for _ in range(max_steps):
            if not r.url.startswith(self.issuer + "/"):
                r.raise_for_status()
                return r
            parser = _FormParser()
            parser.feed(r.text)
            if not parser.forms:
                raise OPLoginError(f"the OP answered {r.status_code} at {r.url} with no form: {_text(r.text)}")
            form = parser.forms[0]
            data: dict[str, str] = {}
            asks_password = False
            for field_ in form.inputs:
                kind, name = field_.get("type", "text").lower(), field_["name"]
                if kind == "password":
                    data[name], asks_password = password, True
                elif name == "username" or kind in ("text", "email"):
                    data[name] = username
                else:
                    data[name] = field_.get("value", "")
            if asks_password:
                if sent_password:
                    raise OPLoginError(f"the OP refused {username}: {_text(r.text)}")
                sent_password = True
            r = session.request(form.method, urljoin(r.url, form.action), data=data, timeout=30)
        raise OPLoginError(f"still at the OP after {max_steps} steps: {r.url}")

    # ---- acting as a resource server / the client ---------------------------------------------------

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(self.discovery["userinfo_endpoint"],
                            headers={"Authorization": f"Bearer {access_token}"}, timeout=10)

    def refresh(self, refresh_token: str) -> requests.Response:
        """The refresh_token grant as the client would make it. Beware: replaying a rotated (used)
        refresh token makes the OP revoke the whole grant, as it should."""
        return requests.post(self.discovery["token_endpoint"], auth=(self.client_id, self.client_secret),
                             data={"grant_type": "refresh_token", "refresh_token": refresh_token}, timeout=10)

    # ---- the control API --------------------------------------------------------------------

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        r = requests.request(method, f"{self.issuer}/_test/{path}", timeout=10,
                             headers={"Authorization": f"Bearer {self.control_token}"}, **kwargs)
        r.raise_for_status()
        return r.json()

    def add_user(self, user: OPUser | str, **kwargs: Any) -> OPUser:
        """Add (or replace) a user; ``add_user("dave", entitlements=[...])`` makes one with a random password."""
        if isinstance(user, str):
            user = OPUser(user, **kwargs)
        user.sub = self._control("POST", "users", json=user.to_json())["sub"]
        self.users[user.username] = user
        return user

    def set_redirect_uris(self, uris: Iterable[str]) -> None:
        """Where the client may be sent back to: the hub's /hub/oauth_callback, once its port is known."""
        self._control("PUT", "client", json={"redirect_uris": list(uris)})

    def expire_access_tokens(self, username: str) -> int:
        """Make every access token of the user invalid now (its refresh tokens stay good)."""
        return int(self._control("POST", "expire-access-tokens", json={"username": username})["removed"])

    def revoke(self, username: str) -> int:
        """Revoke everything of the user: grants, access and refresh tokens, and the OP login session."""
        return int(self._control("POST", "revoke", json={"username": username})["removed"])

    def tokens(self, username: str) -> dict[str, int]:
        """How many live (unconsumed) artefacts of each kind the OP holds for the user."""
        return dict(self._control("GET", "tokens", params={"username": username}))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, 10)


def start_op(tmp_dir: Path, access_ttl: int = 5, refresh_ttl: int = 3600, users: Iterable[OPUser] = (),
             redirect_uris: Iterable[str] = ("http://127.0.0.1/unset",), timeout: float = 30) -> OP:
    """Start the OP on a free port of 127.0.0.1 with a fresh client and the given users; wait for discovery."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (the OP is the npm package oidc-provider)")
    if not (ROOT / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("oidc-provider is not installed: run `npm install` in the repository")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    client_id, client_secret = f"nbspaces-test-{secrets.token_hex(4)}", secrets.token_urlsafe(32)
    control_token = secrets.token_urlsafe(24)
    settings = {
        "issuer": issuer,
        "port": port,
        "access_ttl": access_ttl,
        "refresh_ttl": refresh_ttl,
        "control_token": control_token,
        "client": {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": list(redirect_uris),
            "token_endpoint_auth_method": "client_secret_basic",
        },
    }
    log_path = tmp_dir / "op.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([node, str(SCRIPT)], cwd=ROOT, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(settings).encode())
    proc.stdin.close()
    op = OP(issuer=issuer, client_id=client_id, client_secret=client_secret, proc=proc, log_path=log_path,
            access_ttl=access_ttl, control_token=control_token)
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the OP exited with {proc.returncode}:\n{op.log()[-4000:]}")
        return bool(op.discovery)  # fetches and caches the discovery document

    try:
        wait_until(answers, "the OP answers", timeout, ignore=(requests.RequestException,))
    except Timeout:
        op.stop()
        raise RuntimeError(f"the OP did not answer in {timeout} s:\n{op.log()[-4000:]}") from None
    for user in users:
        op.add_user(user)
    return op
