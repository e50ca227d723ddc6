# The hub that `make run` starts: nbspaces on one machine, with its embedded defaults.
#
# Everything it keeps (database, cookie secret, homes, the demo's shared folders, the login
# password) lives in one data directory, $NBSPACES_DATA_DIR (make run: ./.nbspaces-data).
# It listens on 127.0.0.1 only, creates no system account and mounts nothing.
import os
import secrets
import sys
from pathlib import Path

from nbspaces.spawner import LocalSpaceSpawner, configure_hub

c = get_config()  # type: ignore[name-defined]  # noqa: F821

data = Path(os.environ.get("NBSPACES_DATA_DIR", ".nbspaces-data")).resolve()
data.mkdir(parents=True, exist_ok=True, mode=0o711)
os.environ["NBSPACES_DATA_DIR"] = str(data)

c.JupyterHub.bind_url = os.environ.get("NBSPACES_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(data / "jupyterhub-proxy.pid")

# Login: any user name, one shared password made at first start (printed below, kept 0600).
password_file = data / "login-password"
if not password_file.exists():
    password_file.write_text(secrets.token_urlsafe(12) + "\n")
    password_file.chmod(0o600)
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = password_file.read_text().strip()
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}
print(
    f"\nnbspaces: open http://127.0.0.1:8000 and log in with any user name and the password in "
    f"{password_file}\n  (user 'admin' is a hub admin; 'alice' manages the 'climate' community)\n",
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
c.LocalSpaceSpawner.isolation = os.environ.get("NBSPACES_ISOLATION", "basic")
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
c.NBSpaces.community_admins = {"climate": ["alice"]}

configure_hub(c)
