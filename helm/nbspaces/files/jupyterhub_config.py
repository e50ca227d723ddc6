# The hub config of the nbspaces Helm chart. The chart mounts it with values.json (the chart's
# values the hub needs, no secret) from a ConfigMap, and the secrets as files from Secrets. Edit
# the chart's values, not this file; hub.extraConfig (a file of the Secret,
# hub.extra-config.json) runs before configure_hub(c) for the rest.
#
# NBSPACES_CHART_CONFIG and NBSPACES_CHART_SECRETS name the two folders (the chart sets them);
# the hub also reads JUPYTERHUB_CRYPT_KEY, JPY_COOKIE_SECRET and CONFIGPROXY_AUTH_TOKEN from its
# environment, which the chart fills from its Secret.
import json
import os
from pathlib import Path
from typing import Any

from nbspaces.spawner import configure_hub

c = get_config()  # type: ignore[name-defined]  # noqa: F821

CONFIG_DIR = Path(os.environ.get("NBSPACES_CHART_CONFIG", "/etc/nbspaces/config"))
SECRET_DIR = Path(os.environ.get("NBSPACES_CHART_SECRETS", "/etc/nbspaces/secret"))
# The hub's working folder: the sqlite database (on its PVC) lives here.
DATA_DIR = Path(os.environ.get("NBSPACES_CHART_DATA", "/srv/jupyterhub"))
HUB_PORT = 8081
SERVICE_PORT = 8082
PROXY_API_PORT = 8001

values: dict[str, Any] = json.loads((CONFIG_DIR / "values.json").read_text())
names, hub, auth, nb, singleuser = (values[k] for k in ("names", "hub", "auth", "nbspaces", "singleuser"))


def secret(key: str) -> str:
    """One value of the hub's secrets, read from its file; the message never holds the value."""
    path = SECRET_DIR / key
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        raise SystemExit(f"nbspaces chart: the secret {key} is missing from {SECRET_DIR}; "
                         "check the chart's values") from None
    if not value:
        raise SystemExit(f"nbspaces chart: the secret {key} in {SECRET_DIR} is empty")
    return value


# -- Hub, proxy, database ------------------------------------------------------------------------
base_url = hub["baseUrl"]
c.JupyterHub.base_url = base_url
c.JupyterHub.hub_bind_url = f"http://:{HUB_PORT}"
c.JupyterHub.hub_connect_url = f"http://{names['hub']}:{HUB_PORT}"
# The proxy runs in its own Deployment; the hub talks to its API with CONFIGPROXY_AUTH_TOKEN.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = f"http://{names['proxyApi']}:{PROXY_API_PORT}"
# User pods outlive a hub restart (an upgrade): the hub finds them again through Kubernetes.
c.JupyterHub.cleanup_servers = False
if hub["db"]["type"] == "postgres":
    c.JupyterHub.db_url = secret("hub.db-url")
else:
    c.JupyterHub.db_url = f"sqlite:///{DATA_DIR / 'jupyterhub.sqlite'}"
c.Authenticator.admin_users = set(hub["adminUsers"])
c.JupyterHub.load_groups = {group: {"users": list(users)} for group, users in hub["loadGroups"].items()}

# -- Login -----------------------------------------------------------------------------------------
if auth["type"] == "checkin":
    checkin = auth["checkin"]
    c.JupyterHub.authenticator_class = "nbspaces.spawner.checkin.CheckinAuthenticator"
    c.CheckinAuthenticator.authorize_url = f"{checkin['url']}/auth"
    c.CheckinAuthenticator.token_url = f"{checkin['url']}/token"
    c.CheckinAuthenticator.userdata_url = f"{checkin['url']}/userinfo"
    c.CheckinAuthenticator.oauth_callback_url = checkin["callbackUrl"]
    c.CheckinAuthenticator.client_id = checkin["clientId"]
    c.CheckinAuthenticator.client_secret = secret("auth.client-secret")
    c.CheckinAuthenticator.login_service = "EGI Check-in"
    c.CheckinAuthenticator.scope = list(checkin["scope"])
    c.CheckinAuthenticator.username_claim = checkin["usernameClaim"]
    c.CheckinAuthenticator.onezone_url = checkin["onezoneUrl"]
    c.CheckinAuthenticator.d4science_token_url = checkin["d4scienceTokenUrl"]
    c.CheckinAuthenticator.d4science_context = checkin["d4scienceContext"]
    # Tokens live in auth_state, encrypted with JUPYTERHUB_CRYPT_KEY.
    c.CheckinAuthenticator.enable_auth_state = True
    c.Authenticator.auth_refresh_age = 120
    c.Authenticator.refresh_pre_spawn = True
    c.Authenticator.allow_all = True
    entitlements = set(checkin["allowedEntitlements"])
    if entitlements:

        def only_entitled(authenticator: Any, handler: Any, authentication: dict[str, Any]) -> dict[str, Any] | None:
            """Keep the login of users with one of the allowed entitlements (None: 403)."""
            claims = (authentication.get("auth_state") or {}).get("oauth_user") or {}
            if entitlements & set(claims.get("eduperson_entitlement") or []):
                return authentication
            authenticator.log.warning("%s has none of the allowed entitlements; login refused", authentication["name"])
            return None

        c.Authenticator.post_auth_hook = only_entitled
else:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = secret("auth.user-password")
    c.SharedPasswordAuthenticator.admin_password = secret("auth.admin-password")
    c.Authenticator.allow_all = True
    c.Authenticator.admin_users = {*c.Authenticator.admin_users, "admin"}

# -- User pods -------------------------------------------------------------------------------------
c.JupyterHub.spawner_class = "nbspaces-kubernetes"
c.KubeSpawner.namespace = names["namespace"]
c.KubeSpawner.image = f"{singleuser['image']['name']}:{singleuser['image']['tag']}"
c.KubeSpawner.image_pull_policy = singleuser["image"]["pullPolicy"]
c.KubeSpawner.image_pull_secrets = list(singleuser["imagePullSecrets"])
c.KubeSpawner.node_selector = dict(singleuser["nodeSelector"])
# The labels the chart's NetworkPolicies select user pods by.
# (KubeSpawner adds app.kubernetes.io/component: singleuser-server).
c.KubeSpawner.extra_labels = {"app.kubernetes.io/instance": names["release"]}
c.KubeSpawner.uid = singleuser["uid"]
c.KubeSpawner.gid = singleuser["fsGid"]
c.KubeSpawner.fs_gid = singleuser["fsGid"]
c.KubeSpawner.cpu_limit = singleuser["cpu"]["limit"]
c.KubeSpawner.cpu_guarantee = singleuser["cpu"]["guarantee"]
c.KubeSpawner.mem_limit = singleuser["memory"]["limit"]
c.KubeSpawner.mem_guarantee = singleuser["memory"]["guarantee"]
c.KubeSpawner.start_timeout = singleuser["startTimeout"]
c.KubeSpawner.default_url = singleuser["defaultUrl"]
c.KubeSpawner.working_dir = nb["home"]["mountPath"]
c.KubeSpawner.storage_class = nb["home"]["storageClass"] or None
c.KubeSpawner.storage_access_modes = list(nb["home"]["accessModes"])
c.KubeSpaceSpawner.home_mount_path = nb["home"]["mountPath"]
c.KubeSpaceSpawner.home_quota_enforced_by = nb["home"]["quotaEnforcedBy"]
# Pod security: the "restricted" Pod Security Standard, unless FUSE mounts are allowed.
c.KubeSpawner.pod_security_context = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
container_security: dict[str, Any] = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
if nb["allowFuse"]:
    fuse = nb["fuse"]
    c.KubeSpaceSpawner.allow_fuse = True
    # A non-root user mounts through the setuid fusermount3, which needs CAP_SYS_ADMIN in the
    # container's bounding set and setuid to take effect (no_new_privs off). Nothing else is added.
    c.KubeSpawner.allow_privilege_escalation = True
    container_security["allowPrivilegeEscalation"] = True
    container_security["capabilities"] = {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    if fuse["appArmorUnconfined"]:
        container_security["appArmorProfile"] = {"type": "Unconfined"}
    if fuse["resourceName"]:
        c.KubeSpawner.extra_resource_limits = {fuse["resourceName"]: "1"}
    else:
        c.KubeSpawner.volumes = {"nbspaces-fuse": {"name": "nbspaces-fuse",
                                                   "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}}}
        c.KubeSpawner.volume_mounts = {"nbspaces-fuse": {"name": "nbspaces-fuse", "mountPath": "/dev/fuse"}}
c.KubeSpawner.container_security_context = container_security

# -- nbspaces --------------------------------------------------------------------------------------
home = nb["home"]
c.NBSpaces.home = {"size": home["size"], "groups": dict(home["groups"]), "users": dict(home["users"])}
c.NBSpaces.shared = {
    name: {
        "volume": folder["volume"],
        **({"sub_path": folder["subPath"]} if folder.get("subPath") else {}),
        "groups": folder.get("groups", {}),
        "users": folder.get("users", {}),
        "description": folder.get("description", ""),
    }
    for name, folder in nb["shared"].items()
}
c.NBSpaces.remote = nb["remote"]
c.NBSpaces.user_kinds = list(nb["userKinds"])
c.NBSpaces.community_admins = nb["communityAdmins"]
c.NBSpaces.oneprovider_host = nb["oneproviderHost"]
c.NBSpaces.cull_timeout = nb["cullTimeout"]
c.NBSpaces.cull_every = nb["cullEvery"]
# The credential-store keys' service runs beside the hub; user pods reach it at the hub's Service.
c.NBSpaces.service_ip = "0.0.0.0"
c.NBSpaces.service_port = SERVICE_PORT
c.NBSpaces.service_url = f"http://{names['hub']}:{SERVICE_PORT}{base_url.rstrip('/')}/services/nbspaces"
c.NBSpaces.secret_file = str(SECRET_DIR / "nbspaces.secret")

# -- The operator's own settings, then nbspaces' checks and services --------------------------------
extra_config: dict[str, str] = json.loads(secret("hub.extra-config.json"))
for name in sorted(extra_config):
    exec(compile(extra_config[name], f"<hub.extraConfig.{name}>", "exec"), {"c": c})

configure_hub(c)
