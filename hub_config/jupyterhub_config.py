# The hub that `make run` starts: nbspaces on one machine, with its embedded defaults.
#
# Everything it keeps (database, cookie secret, homes, the demo's shared folders, the login
# passwords) lives in one data directory, $NBSPACES_DATA_DIR (make run: ./.nbspaces-data).
# It listens on 127.0.0.1 only and creates no system account. Its WebDAV storage keeps its files
# in the data directory too.
import base64
import hashlib
import os
import secrets
import socket
import sys
from pathlib import Path

from nbspaces.spawner import LocalSpaceSpawner, configure_hub

c = get_config()  # type: ignore[name-defined]  # noqa: F821

data = Path(os.environ.get("NBSPACES_DATA_DIR", ".nbspaces-data")).resolve()
data.mkdir(parents=True, exist_ok=True, mode=0o711)
os.environ["NBSPACES_DATA_DIR"] = str(data)
# The hub's own state (database, cookie secret, passwords) is for the hub's eyes only.
state = data / "hub"
state.mkdir(exist_ok=True, mode=0o700)
state.chmod(0o700)

bind_url = os.environ.get("NBSPACES_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.bind_url = bind_url
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")


def _password(name: str, length: int) -> tuple[Path, str]:
    """A password made at first start and kept 0600 in the hub's state folder."""
    path = state / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(length) + "\n")
        path.chmod(0o600)
    return path, path.read_text().strip()


# Login: any user name with one shared password; 'admin' has a password of its own.
user_file, user_password = _password("login-password", 12)
admin_file, admin_password = _password("admin-password", 32)
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = user_password
c.SharedPasswordAuthenticator.admin_password = admin_password
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# A small WebDAV storage to try remote spaces with: rclone serve webdav on 127.0.0.1, run by the
# hub as a service. Its password reaches rclone as a hash in an htpasswd file (never argv or env).
dav_user = "demo"
dav_file, dav_password = _password("webdav-password", 12)
dav_htpasswd = state / "webdav.htpasswd"
dav_htpasswd.touch(mode=0o600)
dav_htpasswd.write_text(
    f"{dav_user}:{{SHA}}{base64.b64encode(hashlib.sha1(dav_password.encode()).digest()).decode()}\n"
)
dav_root = data / "webdav"
dav_root.mkdir(exist_ok=True)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    dav_port = s.getsockname()[1]
c.JupyterHub.services = [{
    "name": "demo-webdav",
    "command": [str(Path(sys.executable).parent / "rclone"), "serve", "webdav", str(dav_root),
                "--addr", f"127.0.0.1:{dav_port}", "--htpasswd", str(dav_htpasswd), "--config", "/dev/null"],
}]

print(
    f"\nnbspaces: open {bind_url} and log in with any user name and the password in {user_file}\n"
    f"  (user 'admin', a hub admin, uses the password in {admin_file};\n"
    "   'alice' manages the shared folders of the 'climate' community)\n"
    f"  The remote space 'demo-storage' asks for user name '{dav_user}' and the password in {dav_file}.\n",
    file=sys.stderr,
)

# The demo catalog: a read-only `datasets` folder for everyone, and a community folder.
datasets = data / "shared" / "datasets"
if not datasets.exists():
    datasets.mkdir(parents=True)
    (datasets / "README.md").write_text(
        "# datasets\n\nShared read-only with every user of this hub. Copy a file to your home to change it.\n"
    )
    (datasets / "stations.csv").write_text(
        "station,lat,lon,elevation_m\nPAY,46.81,6.94,491\nJFJ,46.55,7.99,3580\nCMA,41.78,12.65,110\n"
    )
    (datasets / "temperature.csv").write_text(
        "date,station,t_mean_c\n2026-01-01,PAY,-0.4\n2026-01-01,JFJ,-13.1\n2026-01-01,CMA,9.8\n"
    )
climate = data / "shared" / "climate-data"
climate.mkdir(parents=True, exist_ok=True)

c.JupyterHub.load_groups = {"climate": {"users": ["alice", "bob"]}}
c.JupyterHub.spawner_class = LocalSpaceSpawner
c.LocalSpaceSpawner.data_dir = str(data)
# 'auto': strong isolation (an account per user, kernel read-only folders, a hard quota) where
# this machine allows it, as root; basic otherwise. See docs/isolation.md.
c.LocalSpaceSpawner.isolation = os.environ.get("NBSPACES_ISOLATION", "auto")
c.NBSpaces.home = {"size": "20GiB"}
c.NBSpaces.shared = {
    "datasets": {
        "source": str(datasets),
        "groups": {"*": "ro"},
        "description": "Sample data for everyone (read-only)",
    },
    "climate-data": {
        "source": str(climate),
        "groups": {"climate": "ro"},
        "users": {"alice": "rw"},
        "description": "The climate community's data",
    },
}
c.NBSpaces.remote = {
    "demo-storage": {
        "kind": "webdav",
        "label": "Demo WebDAV storage",
        "url": f"http://127.0.0.1:{dav_port}/",
        "groups": {"*": "rw"},
        "description": "A WebDAV storage on this machine, to try remote spaces (its own login)",
    },
}
c.NBSpaces.user_kinds = ["webdav"]
c.NBSpaces.community_admins = {"climate": ["alice"]}

configure_hub(c)
