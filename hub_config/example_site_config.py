# An example hub config for a real site on one machine: copy it, then change the names,
# paths and sizes. Everything here is explained in docs/admin-guide.md,
# docs/community-admins.md and docs/isolation.md.
#
# What this site has:
#   - every user: a 20 GiB home (kept across stops and idle culling) and the site-wide,
#     read-only `datasets` folder;
#   - two communities, "climate" and "genomics", each with its own shared folders and a
#     community admin who manages them at run time;
#   - bigger homes for the members of the groups "home-50g" and "home-100g";
#   - strong isolation: one unix account per server, a hard quota, kernel read-only mounts.
#
# Before the first start, as root:
#
#   # shared folders live under a root-only directory (see docs/isolation.md)
#   install -d -m 0700 /srv/nbspaces
#   install -d -m 0755 /srv/nbspaces/shared/datasets /srv/nbspaces/shared/climate \
#       /srv/nbspaces/shared/climate-scratch /srv/nbspaces/shared/genomics-refs \
#       /srv/nbspaces/shared/genomics-results
#   # readers read as "others": keep the files in shared folders readable (chmod -R o+rX)
#   # the user environment: every uid must be able to read it; --system-site-packages lets
#   # users' `pip install --user` put packages in ~/.local, in their home; keep its nbspaces
#   # at the hub's version (a server that cannot read the hub's plan does not start)
#   python3 -m venv --system-site-packages /opt/nbspaces-user
#   /opt/nbspaces-user/bin/pip install /path/to/nbspaces "jupyterhub==<the hub's version>" jupyterlab
#
# Start the hub as root (strong isolation needs it), with configurable-http-proxy on PATH:
#
#   jupyterhub -f /etc/nbspaces/jupyterhub_config.py
#
# Until you set up an OAuthenticator (see "Login" below), the login passwords are in
# /var/lib/nbspaces-hub/login-password and /var/lib/nbspaces-hub/admin-password (root only).
import secrets
from pathlib import Path

from nbspaces.spawner import LocalSpaceSpawner, configure_hub

c = get_config()  # type: ignore[name-defined]  # noqa: F821

# -- Where state lives ---------------------------------------------------------------------
# Homes (homes/) and home images (home-images/) go to DATA. Not under /tmp: each server gets
# a private /tmp, which would hide them, so the spawner refuses to start servers with a DATA
# under /tmp. DATA must stay traversable (0711) by every uid.
DATA = Path("/var/lib/nbspaces")
# The hub's own database, cookie secret and login passwords go to a directory only root can
# read.
HUB_STATE = Path("/var/lib/nbspaces-hub")
DATA.mkdir(parents=True, exist_ok=True, mode=0o711)
HUB_STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
HUB_STATE.chmod(0o700)

c.JupyterHub.db_url = f"sqlite:///{HUB_STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(HUB_STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(HUB_STATE / "jupyterhub-proxy.pid")

# Listen on localhost only, behind a reverse proxy (nginx, Caddy...) that terminates TLS.
c.JupyterHub.bind_url = "http://127.0.0.1:8000"

# -- Login ---------------------------------------------------------------------------------
# A real site uses an OAuthenticator (pip install oauthenticator) instead of the shared
# passwords below, for example:
#
#   c.JupyterHub.authenticator_class = "generic-oauth"
#   c.GenericOAuthenticator.client_id = "..."
#   c.GenericOAuthenticator.client_secret = "..."
#   c.GenericOAuthenticator.oauth_callback_url = "https://notebooks.example.org/hub/oauth_callback"
#   c.GenericOAuthenticator.authorize_url = "https://login.example.org/authorize"
#   c.GenericOAuthenticator.token_url = "https://login.example.org/token"
#   c.GenericOAuthenticator.userdata_url = "https://login.example.org/userinfo"
#   c.Authenticator.enable_auth_state = True  # needs JUPYTERHUB_CRYPT_KEY in the hub's environment
#
# EGI Check-in support in nbspaces comes in a later issue. ONECLIENT_ACCESS_TOKEN is only set
# when the authenticator keeps the user's Onedata token in auth_state under the key
# c.NBSpaces.onedata_token_key ("onedata_token" by default).
#
# Until you set up an OAuthenticator, this config logs in as `make run` does, with JupyterHub's
# SharedPasswordAuthenticator ("shared-password"): any user name with one shared password
# (HUB_STATE/login-password), and the hub admin "admin" with a password of its own
# (HUB_STATE/admin-password). Both are made at the first start and kept 0600 in HUB_STATE:
# only root can read them. Whoever has the login password can log in as any user but "admin":
# it is for trying nbspaces out, never for a hub open to real users. With an OAuthenticator,
# remove `import secrets`, the _password function and the SharedPasswordAuthenticator lines,
# and list your real admins in admin_users.


def _password(name: str, length: int) -> str:
    """A password made at the first start and kept 0600 in the root-only HUB_STATE."""
    path = HUB_STATE / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(length) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = _password("login-password", 12)
# JupyterHub wants at least 8 characters for the login password, and 32 for the admin's.
c.SharedPasswordAuthenticator.admin_password = _password("admin-password", 32)
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# -- Groups --------------------------------------------------------------------------------
# JupyterHub groups are the communities. load_groups creates them and adds these members at
# every start; it never removes a member, so members added at run time (by an admin or a
# community admin) stay. Do not give these groups "properties" here: the hub would overwrite
# what the community admins set at every restart.
c.JupyterHub.load_groups = {
    "climate": {"users": ["alice", "bob"]},
    "genomics": {"users": ["gwen", "hugo"]},
    # Bigger homes: add a user to one of these groups (one REST call), then restart their server.
    "home-50g": {"users": []},
    "home-100g": {"users": []},
}

# -- The catalog ---------------------------------------------------------------------------
c.NBSpaces.home = {
    "size": "20GiB",
    # A member of several groups gets the largest size; a per-user size wins over groups.
    "groups": {"home-50g": "50GiB", "home-100g": "100GiB"},
    "users": {"dana": "200GiB"},
}

SHARED = "/srv/nbspaces/shared"
c.NBSpaces.shared = {
    # Site-wide: everyone reads; dana, the data steward, writes.
    "datasets": {
        "source": f"{SHARED}/datasets",
        "groups": {"*": "ro"},
        "users": {"dana": "rw"},
        "description": "Reference data for every user (read-only)",
    },
    # The climate community: members read the data and share a scratch folder.
    "climate-data": {
        "source": f"{SHARED}/climate",
        "groups": {"climate": "ro"},
        "users": {"alice": "rw"},
        "description": "Observations and model runs of the climate community",
    },
    "climate-scratch": {
        "source": f"{SHARED}/climate-scratch",
        "groups": {"climate": "rw"},
        "description": "Work in progress, writable by every climate member",
    },
    # The genomics community: reference genomes for members; a results folder offered to the
    # group but off until gwen, its community admin, turns it on.
    "genomics-refs": {
        "source": f"{SHARED}/genomics-refs",
        "groups": {"genomics": "ro"},
        "description": "Reference genomes",
    },
    "genomics-results": {
        "source": f"{SHARED}/genomics-results",
        "groups": {"genomics": "off"},
        "description": "Results shared within the genomics community",
    },
}

# Community admins: each gets the role nbspaces-community-admin-<group> (for lowercase group
# names like these; others get a cleaned name plus a hash), scoped to that one group, to set
# its folders' modes through the JupyterHub REST API (docs/community-admins.md).
c.NBSpaces.community_admins = {"climate": ["alice"], "genomics": ["gwen"]}

# -- Remote storage --------------------------------------------------------------------------
# Passed to every server as ONEPROVIDER_HOST.
c.NBSpaces.oneprovider_host = "oneprovider.example.org"

# -- Idle culling --------------------------------------------------------------------------
# Stop servers idle for an hour; homes and shared folders stay. Must exceed
# c.JupyterHub.last_activity_interval (300 s by default).
c.NBSpaces.cull_timeout = 3600
c.NBSpaces.cull_every = 300

# -- Isolation -----------------------------------------------------------------------------
c.JupyterHub.spawner_class = LocalSpaceSpawner
c.LocalSpaceSpawner.data_dir = str(DATA)
c.LocalSpaceSpawner.isolation = "strong"
# The servers run from an environment every uid can read (not the hub's, if root owns it
# privately): nbspaces, the hub's jupyterhub version and jupyterlab.
c.LocalSpaceSpawner.cmd = ["/opt/nbspaces-user/bin/jupyterhub-singleuser"]
# Users without a system account run as uid/gid 200000 + their hub user id (no /etc/passwd
# entry). With LDAP or SSSD accounts, set use_system_users = True instead.
c.LocalSpaceSpawner.uid_base = 200000
c.LocalSpaceSpawner.use_system_users = False
# Writers of a shared folder share the group shared_gid_base + a number from its name. If two
# folder names give the same number, configure_hub stops the hub: rename one of them.
c.LocalSpaceSpawner.shared_gid_base = 300000
# Each server's private /tmp (a tmpfs, counted in memory). While it is set, the spawner refuses
# to start servers if data_dir or cmd is under /tmp; '' keeps the host's /tmp.
c.LocalSpaceSpawner.private_tmp_size = "2g"

# The last line: validates the catalog (a wrong one, or a missing source, stops the hub with a
# message naming every wrong key), checks the writers' groups of strong isolation, and adds the
# culler and the community-admin roles. Settings after it are not seen.
configure_hub(c)
