"""Login through a real OpenID Connect provider with OAuthenticator, and token refresh by the hub.

A real JupyterHub with GenericOAuthenticator (auth_state on) against oidc-provider standing in for
EGI Check-in: access tokens live ACCESS_TTL seconds, refresh tokens (offline_access) rotate at each use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.oidc_op import OP, OPLoginError, OPUser, entitlement, start_op
from tests.realhub import Hub, start_hub

ACCESS_TTL = 4
REFRESH_AGE = 5  # Authenticator.auth_refresh_age
VO = "vo.example.org"


@dataclass
class Site:
    op: OP
    hub: Hub

    def auth_state(self, name: str) -> dict[str, Any]:
        r = self.hub.api("GET", f"/users/{name}")
        r.raise_for_status()
        state = r.json().get("auth_state")
        assert state, f"no auth_state for {name} in {r.json()}"
        return dict(state)

    def browser_login(self, name: str, session: requests.Session | None = None) -> requests.Session:
        """Log in at the hub as a browser would, landing on /hub/home (not on a spawn)."""
        session = session or requests.Session()
        r = self.op.login(session, f"{self.hub.url}/hub/oauth_login?next=/hub/home", name,
                          self.op.users[name].password)
        assert r.url == f"{self.hub.url}/hub/home", r.url
        return session


def wait_past(seconds: float) -> None:
    time.sleep(seconds + 1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("oidc")
    users = [
        OPUser("alice", entitlements=[entitlement(VO), entitlement(VO, "member", "climate")]),
        OPUser("bob", entitlements=[entitlement(VO)]),
        OPUser("carol", entitlements=[entitlement(VO)]),
    ]
    op = start_op(root / "op", access_ttl=ACCESS_TTL, users=users)
    hub: Hub | None = None
    try:
        settings = op.authenticator_settings() + f"""
            c.Authenticator.allow_all = True
            c.Authenticator.auth_refresh_age = {REFRESH_AGE}
            c.Authenticator.refresh_pre_spawn = True
            c.JupyterHub.load_roles[0]["scopes"].append("admin:auth_state")
            c.NBSpaces.onedata_token_key = "access_token"
            c.NBSpaces.cull_timeout = 0
            """
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTERHUB_CRYPT_KEY", Fernet.generate_key().decode())
            hub = start_hub(root / "hub", settings)
        op.set_redirect_uris([f"{hub.url}/hub/oauth_callback"])
        yield Site(op, hub)
    finally:
        if hub is not None:
            hub.api("DELETE", "/users/bob/server")
            hub.stop()
        op.stop()


def test_login_stores_tokens_and_claims_in_auth_state(site: Site) -> None:
    site.browser_login("alice")
    state = site.auth_state("alice")
    assert state["access_token"] and state["refresh_token"] and state["id_token"]
    assert "offline_access" in state["scope"]
    assert state["token_response"]["expires_in"] <= ACCESS_TTL
    user = state["oauth_user"]
    assert user["sub"] == site.op.users["alice"].sub
    assert user["email"] == "alice@example.org"
    assert user["eduperson_entitlement"] == [
        "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu",
        "urn:mace:egi.eu:group:vo.example.org:climate:role=member#aai.egi.eu",
    ]
    assert site.op.userinfo(state["access_token"]).json()["preferred_username"] == "alice"


def test_hub_refreshes_an_expired_access_token_on_the_users_next_request(site: Site) -> None:
    session = site.browser_login("carol")
    before = site.auth_state("carol")
    wait_past(max(ACCESS_TTL, REFRESH_AGE))
    assert site.op.userinfo(before["access_token"]).status_code == 401  # expired at the OP

    # An admin reading the user does not refresh them: only the user's own requests (or a spawn) do.
    assert site.auth_state("carol")["access_token"] == before["access_token"]

    r = session.get(f"{site.hub.url}/hub/home", timeout=30)
    assert r.status_code == 200 and r.url == f"{site.hub.url}/hub/home"
    after = site.auth_state("carol")
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated
    assert site.op.userinfo(after["access_token"]).json()["sub"] == site.op.users["carol"].sub
    assert site.op.userinfo(before["access_token"]).status_code == 401


def test_spawn_refreshes_first_and_the_server_gets_the_fresh_token(site: Site) -> None:
    site.browser_login("bob")
    before = site.auth_state("bob")
    assert site.op.expire_access_tokens("bob") == 1  # as if ACCESS_TTL had passed
    assert site.op.userinfo(before["access_token"]).status_code == 401
    site.hub.spawn("bob")  # by the admin service: refresh_pre_spawn still refreshes bob's tokens
    after = site.auth_state("bob")
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    # The hub read the user's claims with the new token before it spawned (that is how OAuthenticator
    # refreshes); the server starts with it, though it may well have expired again by now.
    assert after["oauth_user"]["sub"] == site.op.users["bob"].sub
    # The server starts with a refreshed token, never the expired one. (It need not equal the one
    # read now: the server's own requests to the hub, as bob, may have refreshed again since.)
    started_with = site.hub.server_env("bob")["ONECLIENT_ACCESS_TOKEN"]
    assert started_with != before["access_token"]
    site.hub.stop_server("bob")


def test_a_wrong_password_is_refused_at_the_op(site: Site) -> None:
    with pytest.raises(OPLoginError, match="refused alice"):
        site.op.login(requests.Session(), f"{site.hub.url}/hub/oauth_login", "alice", "not-her-password")
    assert "login refused" in site.op.log()


def test_revoked_tokens_send_the_user_back_to_the_op(site: Site) -> None:
    session = site.browser_login("alice")
    old = site.auth_state("alice")
    assert site.op.revoke("alice") > 0
    assert site.op.userinfo(old["access_token"]).status_code == 401
    assert site.op.refresh(old["refresh_token"]).json()["error"] == "invalid_grant"
    wait_past(REFRESH_AGE)
    r = session.get(f"{site.hub.url}/hub/home", timeout=30, allow_redirects=False)
    assert r.status_code == 302 and "/hub/login" in r.headers["Location"]
    site.browser_login("alice", session)  # logging in again works
    assert site.auth_state("alice")["access_token"] != old["access_token"]
