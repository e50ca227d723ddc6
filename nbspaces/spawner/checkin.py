"""Login with EGI Check-in (OpenID Connect), and the tokens of the services it opens.

``CheckinAuthenticator`` is OAuthenticator's GenericOAuthenticator, plus:

- at login and each refresh, the user's named Onedata access token, got or created in Onezone
  with the IdP access token (``x-auth-token: <idp>:<token>``), kept in auth_state as
  ``onedata_token``, with the Oneproviders that support the user's spaces;
- when the hub serves a D4Science VRE, a D4Science token for that VRE (UMA grant, audience =
  the VRE context), kept as ``d4science_token``;
- refresh *before* expiry: OAuthenticator alone refreshes only after a token has failed.

A failure of Onezone or D4Science never blocks the login: auth_state records the reason under
``nbspaces_errors`` and the space shows it. No token is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from typing import Any

from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Integer, List, Unicode

UMA_GRANT = "urn:ietf:params:oauth:grant-type:uma-ticket"


class ServiceError(Exception):
    """A service refused or failed; the message is for users and holds no secret."""


class CheckinAuthenticator(GenericOAuthenticator):
    onezone_url = Unicode(
        "",
        config=True,
        help="The Onezone of the site's DataHub, e.g. https://datahub.egi.eu. Empty: no Onedata.",
    )
    onezone_idp = Unicode(
        "egi",
        config=True,
        help="The IdP's name in Onezone: the prefix of x-auth-token (<idp>:<IdP access token>).",
    )
    onedata_token_name = Unicode(
        "nbspaces",
        config=True,
        help="Name of the named Onedata token nbspaces keeps for each user.",
    )
    onedata_token_caveats = List(
        config=True,
        help="""Caveats of a newly created Onedata token. Default: none, so it works over REST
        (the file browser) and with oneclient; an interface caveat must allow 'rest'.""",
    )
    d4science_token_url = Unicode(
        "",
        config=True,
        help="Token endpoint of the D4Science IAM (for the UMA grant). Empty: no D4Science.",
    )
    d4science_context = Unicode(
        "",
        config=True,
        help="The VRE context this hub serves, e.g. /d4science.research-infrastructures.eu/D4OS/Blue-Cloud.",
    )
    services_verify_tls = Bool(True, config=True, help="Verify TLS of Onezone and D4Science.")
    services_ca_certs = Unicode("", config=True, help="CA bundle for Onezone and D4Science, if not the system's.")
    refresh_margin = Integer(
        300,
        config=True,
        help="Refresh tokens this many seconds before they expire, so a server never holds an expired one.",
    )

    # -- calls --------------------------------------------------------------------------

    async def _call(self, url: str, what: str, **kwargs: Any) -> Any:
        request = HTTPRequest(url, validate_cert=self.services_verify_tls, ca_certs=self.services_ca_certs or None,
                              request_timeout=30, **kwargs)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            detail = ""
            if e.response is not None and e.response.body:
                try:
                    error = json.loads(e.response.body).get("error", {})
                    detail = error.get("description", "") if isinstance(error, dict) else str(error)
                except ValueError:
                    detail = ""
            raise ServiceError(f"{what} answered {e.code}{': ' + detail if detail else ''}") from None
        except OSError as e:
            raise ServiceError(f"{what} cannot be reached ({type(e).__name__})") from None
        return json.loads(response.body) if response.body else {}

    async def onedata_token(self, idp_token: str) -> tuple[str, list[dict[str, Any]]]:
        """The user's named Onedata token (got, or created), and the providers of their spaces."""
        oz = self.onezone_url.rstrip("/") + "/api/v3/onezone"
        headers = {"x-auth-token": f"{self.onezone_idp}:{idp_token}", "Content-Type": "application/json"}
        name = urllib.parse.quote(self.onedata_token_name, safe="")
        token: str | None = None
        try:
            found = await self._call(f"{oz}/user/tokens/named/name/{name}", "Onezone", headers=headers)
            if not found.get("revoked") and found.get("token"):
                token = found["token"]
            elif found.get("tokenId"):  # revoked: make a new one under the same name
                await self._call(f"{oz}/user/tokens/named/{found['tokenId']}", "Onezone", method="DELETE",
                                 headers=headers)
        except ServiceError as e:
            if " 404" not in str(e):
                raise
        if token is None:
            body = {"name": self.onedata_token_name, "type": {"accessToken": {}},
                    "caveats": list(self.onedata_token_caveats)}
            created = await self._call(f"{oz}/user/tokens/named", "Onezone", method="POST", headers=headers,
                                       body=json.dumps(body))
            token = created["token"]
        scope = await self._call(f"{oz}/tokens/infer_access_token_scope", "Onezone", method="POST",
                                 headers={"Content-Type": "application/json"}, body=json.dumps({"token": token}))
        providers = [
            {"id": pid, "name": p.get("name", ""), "domain": p.get("domain", ""), "online": bool(p.get("online"))}
            for pid, p in (scope.get("dataAccessScope", {}).get("providers") or {}).items()
        ]
        return token, providers

    async def d4science_token(self, idp_token: str) -> tuple[str, float]:
        """A token for this hub's VRE, exchanged for the login token (UMA grant)."""
        body = urllib.parse.urlencode({"grant_type": UMA_GRANT, "audience": self.d4science_context})
        answer = await self._call(self.d4science_token_url, "D4Science", method="POST", body=body,
                                  headers={"Authorization": f"Bearer {idp_token}",
                                           "Content-Type": "application/x-www-form-urlencoded"})
        return answer["access_token"], time.time() + float(answer.get("expires_in", 300))

    # -- auth_state ---------------------------------------------------------------------

    async def build_auth_state_dict(self, token_info: dict[str, Any], user_info: dict[str, Any]) -> dict[str, Any]:
        state = super().build_auth_state_dict(token_info, user_info)
        if hasattr(state, "__await__"):
            state = await state
        if token_info.get("expires_in"):
            # Kept in the stored token response, so re-reading it later does not move expiry on.
            token_info.setdefault("expires_at", time.time() + float(token_info["expires_in"]))
            state["expires_at"] = token_info["expires_at"]
        errors: dict[str, str] = {}
        idp_token = token_info["access_token"]
        if self.onezone_url:
            try:
                state["onedata_token"], state["onedata_providers"] = await self.onedata_token(idp_token)
            except (ServiceError, KeyError, ValueError) as e:
                errors["onedata"] = f"DataHub tokens are unavailable: {e}"
        if self.d4science_token_url and self.d4science_context:
            try:
                state["d4science_token"], state["d4science_expires_at"] = await self.d4science_token(idp_token)
            except (ServiceError, KeyError, ValueError) as e:
                errors["d4science"] = f"the D4Science workspace is unavailable: {e}"
        for reason in errors.values():
            self.log.warning("nbspaces: %s for %s", reason, self.user_info_to_username(user_info))
        state["nbspaces_errors"] = errors
        return state

    def _expiring(self, auth_state: dict[str, Any]) -> bool:
        soon = time.time() + self.refresh_margin
        return any(isinstance(auth_state.get(k), (int, float)) and auth_state[k] < soon
                   for k in ("expires_at", "d4science_expires_at"))

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh ahead of expiry with the refresh token; otherwise as OAuthenticator does.

        One refresh at a time per user, and its result saved before the next may start: IdPs
        that rotate refresh tokens take a second use of one as a replay and revoke them all.
        """
        locks: dict[str, asyncio.Lock] = self.__dict__.setdefault("_nbspaces_refresh_locks", {})
        async with locks.setdefault(user.name, asyncio.Lock()):
            if not self.enable_auth_state:
                return await super().refresh_user(user, handler, **kwargs)
            auth_state = await user.get_auth_state() or {}
            refresh_token = auth_state.get("refresh_token")
            if refresh_token and self._expiring(auth_state):
                try:
                    token_info = await self.get_token_info(handler, self.build_refresh_token_request_params(
                        refresh_token))
                except Exception as e:
                    self.log.info("nbspaces: refreshing %s's tokens failed (%s); a new login is needed",
                                  user.name, type(e).__name__)
                    return False
                token_info.setdefault("refresh_token", refresh_token)
                model = await self._token_to_auth_model(token_info)
            else:
                model = await super().refresh_user(user, handler, **kwargs)
            if isinstance(model, dict) and model.get("auth_state"):
                fresh = model["auth_state"]
                # Onezone or D4Science down at this refresh: keep tokens that still work.
                if "onedata_token" not in fresh and auth_state.get("onedata_token"):
                    fresh["onedata_token"] = auth_state["onedata_token"]
                    fresh["onedata_providers"] = auth_state.get("onedata_providers", [])
                if "d4science_token" not in fresh and auth_state.get("d4science_expires_at", 0) > time.time():
                    fresh["d4science_token"] = auth_state["d4science_token"]
                    fresh["d4science_expires_at"] = auth_state["d4science_expires_at"]
                await user.save_auth_state(fresh)  # seen by the next refresh in line
            return model
