# An example hub config for a site that logs users in with EGI Check-in and gives them
# EGI DataHub (Onedata) and the workspace of a D4Science VRE as remote spaces. Copy it, then
# change the names and addresses marked "example". Everything here is explained in
# docs/admin-guide.md ("Login with EGI Check-in, DataHub and D4Science"); what users see is
# in docs/datahub-and-d4science.md.
#
# Homes, shared folders, isolation and culling are as in example_site_config.py: this file
# keeps them to the defaults so that the login and the remote spaces stand out. Merge the two
# for a real site. The default isolation, basic, lets any user's code read other servers'
# environments, ONECLIENT_ACCESS_TOKEN included: use strong isolation or Kubernetes for a hub
# open to real users (docs/isolation.md).
#
# Before the first start:
#
#   - Register the hub as a service (an OpenID Connect client) in EGI Check-in, with the
#     redirect URI https://notebooks.example.org/hub/oauth_callback and the scopes listed
#     below (offline_access included). Check-in gives a client id and a client secret.
#   - Make an encryption key for auth_state, where the tokens are kept:
#       openssl rand -hex 32
#   - Give the hub these in its environment (never in this file):
#       CHECKIN_CLIENT_ID, CHECKIN_CLIENT_SECRET  (or CHECKIN_CLIENT_ID_FILE,
#       CHECKIN_CLIENT_SECRET_FILE: files holding them, e.g. mounted secrets) and
#       JUPYTERHUB_CRYPT_KEY (JupyterHub reads it from the environment only).
#   - Install nbspaces with its hub extra for the hub (oauthenticator), and in the users'
#     environment the Onedata clients the DataHub space uses:
#       pip install onedatafilerestclient fs-onedatarestfs "setuptools<81"
#
# Start the hub behind a reverse proxy that terminates TLS:
#
#   jupyterhub -f /etc/nbspaces/checkin_config.py
import os
from pathlib import Path
from typing import Any

from nbspaces.spawner import LocalSpaceSpawner, configure_hub

c = get_config()  # type: ignore[name-defined]  # noqa: F821

HUB_URL = "https://notebooks.example.org"  # example: the hub's public address


def secret(name: str) -> str:
    """A value from the environment: $NAME, or the file named by $NAME_FILE."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE")
    if not value and path:
        value = Path(path).read_text().strip()
    if not value:
        raise SystemExit(f"checkin_config: give the hub {name} (or {name}_FILE) in its environment")
    return value


# -- Where state lives ---------------------------------------------------------------------
# The hub's database and cookie secret (and the nbspaces secret, made beside the cookie
# secret) go to a directory only the hub's account can read. Homes go to DATA.
HUB_STATE = Path("/var/lib/nbspaces-hub")
DATA = Path("/var/lib/nbspaces")
HUB_STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
DATA.mkdir(parents=True, exist_ok=True, mode=0o711)

c.JupyterHub.db_url = f"sqlite:///{HUB_STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_STATE / "jupyterhub_cookie_secret")
c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # behind the TLS proxy that serves HUB_URL
c.JupyterHub.spawner_class = LocalSpaceSpawner
c.LocalSpaceSpawner.data_dir = str(DATA)
c.NBSpaces.home = {"size": "20GiB"}

# -- Login with EGI Check-in ---------------------------------------------------------------
# CheckinAuthenticator is OAuthenticator's GenericOAuthenticator plus the DataHub and
# D4Science tokens (see docs/admin-guide.md).
c.JupyterHub.authenticator_class = "nbspaces.spawner.checkin.CheckinAuthenticator"
CHECKIN = "https://aai.egi.eu/auth/realms/egi/protocol/openid-connect"
c.CheckinAuthenticator.authorize_url = f"{CHECKIN}/auth"
c.CheckinAuthenticator.token_url = f"{CHECKIN}/token"
c.CheckinAuthenticator.userdata_url = f"{CHECKIN}/userinfo"
c.CheckinAuthenticator.oauth_callback_url = f"{HUB_URL}/hub/oauth_callback"
c.CheckinAuthenticator.client_id = secret("CHECKIN_CLIENT_ID")
c.CheckinAuthenticator.client_secret = secret("CHECKIN_CLIENT_SECRET")
c.CheckinAuthenticator.login_service = "EGI Check-in"
# offline_access: a refresh token, so the hub renews the access token (under an hour) while
# users work. eduperson_entitlement: VO and group memberships. voperson_id: the user's
# Check-in identifier, used as the user name below.
c.CheckinAuthenticator.scope = [
    "openid", "profile", "email", "offline_access", "eduperson_entitlement", "voperson_id",
]
# The user name, which also names the user's home. It must never change for a person, or
# their next login gets a new, empty home:
#   - "voperson_id" (chosen here): Check-in's identifier of the person, the same whichever
#     institution or social account they log in with, and never given to anyone else. Long
#     and not readable ("0123abcd...@egi.eu"): homes get a cleaned name plus a hash.
#   - "sub": the same value for Check-in users; use it if voperson_id is not released.
#   - "email" or "preferred_username": readable, but they can change or be re-assigned:
#     avoid them for anything that keeps data.
c.CheckinAuthenticator.username_claim = "voperson_id"
# auth_state keeps the tokens, encrypted with JUPYTERHUB_CRYPT_KEY: without it there are no
# tokens to refresh and no DataHub or workspace.
if not os.environ.get("JUPYTERHUB_CRYPT_KEY"):
    raise SystemExit("checkin_config: set JUPYTERHUB_CRYPT_KEY in the hub's environment (openssl rand -hex 32)")
c.CheckinAuthenticator.enable_auth_state = True
# How often (seconds) the hub refreshes a user's tokens, at most, when their browser or server
# asks. A running server asks every minute (SpacesApp.token_refresh_interval), so tokens are
# at most auth_refresh_age + 60 s old: keep that below the D4Science token's lifetime.
c.Authenticator.auth_refresh_age = 120
# Refresh before every spawn, so a server starts with fresh tokens.
c.Authenticator.refresh_pre_spawn = True
# Renew a token that expires within this many seconds (the default).
c.CheckinAuthenticator.refresh_margin = 300

# Who may log in. Check-in has accounts for anyone with an institutional or social login, so
# let in only the members of your VO, as Check-in reports them in eduperson_entitlement.
VO_MEMBER = "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu"  # example: your VO


def only_vo_members(authenticator: Any, handler: Any, authentication: dict[str, Any]) -> dict[str, Any] | None:
    """Keep the login of VO members; refuse the others (None: the hub answers 403). It runs at
    login only, after the DataHub and D4Science tokens are fetched."""
    claims = (authentication.get("auth_state") or {}).get("oauth_user") or {}
    if VO_MEMBER in (claims.get("eduperson_entitlement") or []):
        return authentication
    authenticator.log.warning("%s is not a member of the VO; login refused", authentication["name"])
    return None


c.Authenticator.allow_all = True  # everyone Check-in vouches for, then only_vo_members decides
c.Authenticator.post_auth_hook = only_vo_members
# Hub admins, by user name (their voperson_id). Example:
# c.Authenticator.admin_users = {"0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd@egi.eu"}

# -- EGI DataHub ---------------------------------------------------------------------------
# At each login and refresh, the hub gets (or makes) the user's named Onedata token
# "nbspaces" from Onezone with their Check-in access token. Onezone knows Check-in as the
# IdP "egi" (CheckinAuthenticator.onezone_idp, the default).
c.CheckinAuthenticator.onezone_url = "https://datahub.egi.eu"
# Example: the Oneprovider closest to your hub that supports your communities' spaces. Users'
# auth_state lists the Oneproviders of their spaces (onedata_providers). Servers get it as
# ONEPROVIDER_HOST, for EGI's `fs.onedatafs` snippet.
ONEPROVIDER = "oneprovider.example.org"
c.NBSpaces.oneprovider_host = ONEPROVIDER

# -- The D4Science VRE ---------------------------------------------------------------------
# At each login and refresh, the hub exchanges the Check-in access token for a token of this
# VRE (UMA grant) at the D4Science IAM. Both are placeholders: ask D4Science for the token
# endpoint that accepts your Check-in client's tokens, and for your VRE's context. Remove
# these two lines if your hub serves no VRE (and the "workspace" space below).
c.CheckinAuthenticator.d4science_token_url = (
    "https://accounts.d4science.org/auth/realms/d4science/protocol/openid-connect/token"  # example
)
c.CheckinAuthenticator.d4science_context = "/d4science.research-infrastructures.eu/D4OS/ExampleVRE"  # example

# -- The remote spaces ---------------------------------------------------------------------
# Both use the login's tokens: users enter nothing. "onezone" and "oneprovider" are host
# names here, without https://.
c.NBSpaces.remote = {
    "datahub": {
        "kind": "onedata",
        "label": "DataHub",
        "onezone": "datahub.egi.eu",
        "oneprovider": ONEPROVIDER,  # preferred for data; others serve spaces it does not support
        "groups": {"*": "rw"},
        "description": "Your EGI DataHub spaces, one folder each",
    },
    "workspace": {
        "kind": "d4science",
        "label": "D4Science workspace",
        "url": "https://api.d4science.org/workspace",  # the default
        "groups": {"*": "rw"},
        "description": "Your D4Science workspace",
    },
}

# The last line: validates the catalog, adds the nbspaces service, the culler and the roles
# (servers may read their own user's auth_state, for fresh tokens). Settings after it are not
# seen.
configure_hub(c)
