"""Strong isolation with a real hub: own uid, ext4 home image, kernel read-only mounts.

Needs root, loop devices and mount namespaces, as CI has. Commands "in the server" run in
the server's own mount namespace as the user's uid (nsenter + setpriv), which is exactly what
code in the user's kernel or terminal is.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lockfile import locked
from tests.realhub import ROOT, Hub, start_hub, world_dir
from tests.storage_servers import S3Server, SftpServer, rclone_s3, rclone_sftp
from tests.waiting import wait_until
from tests.webdav_servers import DavServer, rclone

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="strong isolation needs root")


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted([ROOT / "pyproject.toml", ROOT / "requirements.lock", *ROOT.glob("nbspaces/**/*.py"),
                        *ROOT.glob("jupyter-config/**/*")]):
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def user_environment(name: str, system_site_packages: bool = False) -> Path:
    """A user environment (nbspaces, jupyterhub, a kernel) every uid can read, as a site's image is, made
    once per source under /var/tmp. The wheel is built with the locked build backend and installed
    at the lock's versions: a new upstream release changes nothing here either."""
    import jupyterhub

    env = Path(f"/var/tmp/{name}-{_source_hash()}")
    if (env / ".ready").exists():
        return env
    wheels = env.with_suffix(".wheels")
    subprocess.run(["rm", "-rf", str(env), str(wheels)], check=True)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    subprocess.run([python, "-m", "venv", *(["--system-site-packages"] if system_site_packages else []), str(env)],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(ROOT)], check=True)
    constraints = wheels / "constraints.txt"
    constraints.write_text("".join(f"{package}=={pin.version}\n" for package, pins in locked().items()
                                   for pin in pins if pin.applies()))
    wheel = next(wheels.glob("nbspaces-*.whl"))
    subprocess.run([str(env / "bin/pip"), "install", "-q", "-c", str(constraints), f"{wheel}[s3,smb,sftp]",
                    f"jupyterhub=={jupyterhub.__version__}", "ipykernel"], check=True)
    subprocess.run(["rm", "-rf", str(wheels)], check=True)
    (env / ".ready").touch()
    return env


@pytest.fixture(scope="session")
def user_env() -> Path:
    return user_environment("nbspaces-userenv")


@pytest.fixture(scope="module")
def standard_dev_fuse() -> Iterator[None]:
    """/dev/fuse as a standard Debian host has it (0666: users may mount with fusermount3).

    Some sandboxes create it 0600; the test restores whatever mode it found.
    """
    mode = os.stat("/dev/fuse").st_mode & 0o777
    os.chmod("/dev/fuse", 0o666)
    try:
        yield
    finally:
        os.chmod("/dev/fuse", mode)


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = rclone(tmp_path_factory.mktemp("strong-dav"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, SftpServer]]:
    """An S3 server and an SFTP server (password login), for spaces mounted as folders."""
    base = tmp_path_factory.mktemp("strong-stores")
    s3, sftp = rclone_s3(base / "s3"), rclone_sftp(base / "sftp")
    s3.bucket("gina-bucket")
    yield s3, sftp
    s3.stop()
    sftp.stop()


@pytest.fixture(scope="module")
def site(user_env: Path, dav: DavServer, stores: tuple[S3Server, SftpServer],
         standard_dev_fuse: None) -> Iterator[tuple[Hub, Path]]:
    s3, sftp = stores
    for base in world_dir("nbspaces-strong"):
        datasets, team = base / "src" / "datasets", base / "src" / "team"
        datasets.mkdir(parents=True)
        team.mkdir(parents=True)
        (datasets / "readme.txt").write_text("shared\n")
        hub = start_hub(base / "hub", f"""
            c.LocalSpaceSpawner.isolation = "strong"
            c.LocalSpaceSpawner.cmd = ["{user_env}/bin/jupyterhub-singleuser"]
            c.NBSpaces.home = {{"size": "64MiB", "users": {{"erin": "32MiB"}}}}
            c.NBSpaces.shared = {{
                "datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}},
                "team": {{"source": "{team}", "groups": {{"team": "ro"}}, "users": {{"frank": "rw"}}}},
            }}
            c.NBSpaces.remote = {{
                "dav": {{"kind": "webdav", "url": "{dav.url}", "groups": {{"*": "rw"}}}},
                "bucket": {{"kind": "s3", "endpoint": "{s3.url}", "bucket": "gina-bucket", "groups": {{"*": "rw"}}}},
                "sftp": {{"kind": "sftp", "host": "127.0.0.1", "port": {sftp.port},
                         "host_key": "{sftp.host_public_key}", "groups": {{"*": "rw"}}}},
            }}
            c.NBSpaces.cull_timeout = 0
        """)
        os.chmod(base / "hub", 0o711)
        for name, groups in {"erin": ["team"], "frank": ["team"], "gina": []}.items():
            hub.ensure_user(name, groups)
        try:
            yield hub, base / "src"
        finally:
            for name in ("erin", "frank", "gina"):
                hub.api("DELETE", f"/users/{name}/server")
            for name in ("erin", "frank", "gina"):
                hub.wait_stopped(name)
            hub.stop()


def status(pid: int) -> dict[str, list[str]]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.split() for k, _, v in (line.partition(":") for line in lines)}


def uid_of(pid: int) -> int:
    return int(status(pid)["Uid"][0])


def in_server(hub: Hub, user: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script as the user's server runs: its mount namespace, uid, groups and umask."""
    pid = hub.server_pid(user)
    st = status(pid)
    uid, gid, groups = st["Uid"][0], st["Gid"][0], ",".join(st.get("Groups", []))
    home = hub.data_dir / "homes" / user
    creds = [f"--groups={groups}"] if groups else ["--clear-groups"]
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "--", "setpriv", f"--reuid={uid}", f"--regid={gid}", *creds,
         "env", f"HOME={home}", "sh", "-c", f"umask {st['Umask'][0]}; {script}"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )


def loop_devices(image: Path) -> str:
    return subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True).stdout.strip()


def test_each_server_runs_as_its_own_account(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("erin")
    hub.spawn("frank")
    uids = {uid_of(hub.server_pid("erin")), uid_of(hub.server_pid("frank"))}
    assert 0 not in uids and len(uids) == 2
    # Inside its namespace the account has a name (tools like fusermount3, pip, git need one);
    # the host's /etc/passwd is untouched.
    assert in_server(hub, "erin", "id -un").stdout.strip() == "erin"
    assert "erin:" not in Path("/etc/passwd").read_text()
    # frank's code cannot read erin's home image or reach into erin's home.
    r = in_server(hub, "frank", f"cat {hub.data_dir}/home-images/erin.img > /dev/null")
    assert r.returncode != 0 and "Permission denied" in r.stderr
    r = in_server(hub, "frank", f"ls {hub.data_dir}/homes/erin")
    assert r.returncode != 0


def test_home_image_survives_stop_and_is_released(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("erin")
    assert hub.put_text("erin", "kept.txt", "still here\n").status_code == 201
    r = in_server(hub, "erin", 'echo from-kernel > "$HOME/kernel.txt" && echo tmp > /tmp/private-erin')
    assert r.returncode == 0, r.stderr
    assert not Path("/tmp/private-erin").exists()  # the server's /tmp is its own
    image = hub.data_dir / "home-images" / "erin.img"
    assert loop_devices(image)
    hub.stop_server("erin")
    assert loop_devices(image) == ""  # nothing holds the home once the server is gone
    assert os.listdir(hub.data_dir / "homes" / "erin") == []  # files live only in the image
    hub.spawn("erin")
    assert hub.contents("erin", "GET", "kept.txt").json()["content"] == "still here\n"
    assert hub.contents("erin", "GET", "kernel.txt").json()["content"] == "from-kernel\n"


def test_hard_quota_stops_code_running_in_the_server(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("erin")
    r = in_server(hub, "erin", 'dd if=/dev/zero of="$HOME/big.bin" bs=1M count=40')
    assert r.returncode != 0 and "No space left on device" in r.stderr
    in_server(hub, "erin", 'rm -f "$HOME/big.bin"')
    r = in_server(hub, "erin", 'dd if=/dev/zero of="$HOME/ok.bin" bs=1M count=8 && rm "$HOME/ok.bin"')
    assert r.returncode == 0, r.stderr


def test_kernel_refuses_writes_to_read_only_folders(site: tuple[Hub, Path]) -> None:
    hub, src = site
    hub.spawn("erin")
    hub.spawn("frank")
    hub.spawn("gina")
    r = in_server(hub, "erin", 'touch "$HOME/team/erin.txt"')
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = in_server(hub, "erin", 'cat "$HOME/datasets/readme.txt" && touch "$HOME/datasets/x"')
    assert r.stdout == "shared\n" and "Read-only file system" in r.stderr
    assert hub.put_text("erin", "team/api.txt", "x").status_code == 403
    r = in_server(hub, "frank", 'echo result > "$HOME/team/frank.txt"')
    assert r.returncode == 0, r.stderr
    assert (src / "team" / "frank.txt").read_text() == "result\n"
    r = in_server(hub, "gina", 'ls "$HOME/team"')
    assert r.returncode != 0  # gina is not in the team


def test_contents_api_reports_the_hard_quota(site: tuple[Hub, Path]) -> None:
    hub, _ = site
    hub.spawn("erin")
    spaces = {s["name"]: s for s in hub.server("erin", "GET", "nbspaces/api/spaces").json()["spaces"]}
    assert spaces["home"]["quota_enforced_by"] == "filesystem"
    # The usable size of the 32 MiB image (ext4 keeps some for its journal), not the 64 MiB default.
    assert 20 * 2**20 < spaces["home"]["quota_bytes"] <= 32 * 2**20
    import base64

    body = {"type": "file", "format": "base64", "content": base64.b64encode(b"\0" * 40 * 2**20).decode()}
    r = hub.contents("erin", "PUT", "too-big.bin", json=body)
    assert r.status_code == 507 and "quota" in r.json()["message"]
    assert hub.contents("erin", "GET", "too-big.bin").status_code == 404


def test_remote_space_in_strong_isolation(site: tuple[Hub, Path], dav: DavServer) -> None:
    """The server (its own uid, its own namespace) gets its key, stores credentials, mounts FUSE."""
    hub, _ = site
    hub.spawn("gina")
    r = hub.server("gina", "PUT", "nbspaces/api/spaces/dav/credentials",
                   json={"username": dav.user, "password": dav.password})
    assert r.status_code == 200 and r.json()["status"] == "mounted", r.text
    assert r.json()["posix"] is True, r.json()["posix_reason"]
    r = in_server(hub, "gina", 'echo from-strong > "$HOME/dav/strong.txt" && cat "$HOME/dav/strong.txt"')
    assert r.returncode == 0 and r.stdout == "from-strong\n", r.stderr
    for _ in range(50):
        if (dav.root / "strong.txt").exists():
            break
        time.sleep(0.2)
    assert (dav.root / "strong.txt").read_text() == "from-strong\n"
    # The FUSE mount lives in gina's namespace only: the host does not see it.
    assert not any("fuse.rclone" in line and "/homes/gina/" in line
                   for line in Path("/proc/mounts").read_text().splitlines())


def test_s3_and_sftp_spaces_are_folders_in_strong_isolation(site: tuple[Hub, Path],
                                                            stores: tuple[S3Server, SftpServer]) -> None:
    """rclone's s3 and sftp backends from the drivers' remotes: the bucket and the SFTP folder are
    folders a program writes into (the SFTP host key pinned by the admins is the one rclone checks)."""
    hub, _ = site
    s3, sftp = stores
    hub.spawn("gina")
    for name, creds in (("bucket", {"access_key_id": s3.user, "secret_access_key": s3.password}),
                        ("sftp", {"username": sftp.user, "password": sftp.password})):
        r = hub.server("gina", "PUT", f"nbspaces/api/spaces/{name}/credentials", json=creds)
        assert r.status_code == 200 and r.json()["status"] == "mounted", r.text
        assert r.json()["posix"] is True, r.json()["posix_reason"]
    r = in_server(hub, "gina", 'echo to-s3 > "$HOME/bucket/s3.txt" && echo to-sftp > "$HOME/sftp/sftp.txt" '
                               '&& cat "$HOME/bucket/s3.txt" "$HOME/sftp/sftp.txt"')
    assert r.returncode == 0 and r.stdout == "to-s3\nto-sftp\n", r.stderr
    wait_until(lambda: (s3.root / "gina-bucket" / "s3.txt").exists() and (sftp.root / "sftp.txt").exists(),
               "rclone uploads what the program wrote", 20)
    assert (s3.root / "gina-bucket" / "s3.txt").read_text() == "to-s3\n"
    assert (sftp.root / "sftp.txt").read_text() == "to-sftp\n"


def test_the_sites_shell_cmd_runs_as_the_user_in_their_namespace(user_env: Path) -> None:
    for base in world_dir("nbspaces-shell"):
        # A site sets up its servers' environment through a shell (a login shell's profile would).
        hub = start_hub(base / "hub", f"""
            c.LocalSpaceSpawner.isolation = "strong"
            c.LocalSpaceSpawner.cmd = ["{user_env}/bin/jupyterhub-singleuser"]
            c.Spawner.shell_cmd = ["/usr/bin/env", "SITE_PROFILE=loaded", "/bin/bash", "-c"]
            c.NBSpaces.home = {{"size": "32MiB"}}
        """)
        os.chmod(base / "hub", 0o711)
        try:
            hub.ensure_user("sheila")
            hub.spawn("sheila")
            assert hub.server_env("sheila")["SITE_PROFILE"] == "loaded"
            assert uid_of(hub.server_pid("sheila")) != 0
            assert hub.put_text("sheila", "notes.md", "x").status_code == 201
            assert os.listdir(hub.data_dir / "homes" / "sheila") == []  # written into the home image
        finally:
            hub.api("DELETE", "/users/sheila/server")
            hub.wait_stopped("sheila")
            hub.stop()


def test_a_server_program_users_cannot_run_is_named_in_the_log(user_env: Path) -> None:
    for base in world_dir("nbspaces-private"):
        private = base / "private"
        private.mkdir(mode=0o700)  # root's own: the users' accounts cannot reach it
        program = private / "jupyterhub-singleuser"
        program.symlink_to(user_env / "bin" / "jupyterhub-singleuser")
        hub = start_hub(base / "hub", f"""
            c.LocalSpaceSpawner.isolation = "strong"
            c.LocalSpaceSpawner.cmd = ["{program}"]
            c.NBSpaces.home = {{"size": "32MiB"}}
        """)
        os.chmod(base / "hub", 0o711)
        try:
            hub.ensure_user("pat")
            assert hub.api("POST", "/users/pat/server").status_code == 500  # JupyterHub's answer to a failed spawn
            assert f"Permission denied trying to run '{program}'. Does pat have access to this file?" in hub.log()
            assert "point c.LocalSpaceSpawner.cmd at a Python environment every user can read" in hub.log()
            assert loop_devices(hub.data_dir / "home-images" / "pat.img") == ""  # nothing left mounted
        finally:
            hub.stop()
