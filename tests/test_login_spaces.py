"""Log in through a real OpenID provider; DataHub and the D4Science workspace come from the login.

Onezone/Oneprovider and StorageHub + the D4Science IAM are stand-ins (tests/standins/: no
such server can run here); both accept only IdP tokens the real OpenID provider vouches for.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.kernel import run_code
from tests.oidc_op import OP, OPUser, start_op
from tests.realhub import Hub, plan_of, start_hub
from tests.standins.d4science import IAMStandIn, StorageHubStandIn
from tests.standins.onedata import OnedataStandIn
from tests.waiting import wait_until

ACCESS_TTL = 30  # the IdP's access tokens
D4S_TTL = 8  # D4Science tokens: short, so the test sees them replaced in a running server
CONTEXT = "/gcube/devsec/devVRE"


@dataclass
class Site:
    op: OP
    hub: Hub
    od: OnedataStandIn
    storagehub: StorageHubStandIn
    iam: IAMStandIn
    space: str

    def auth_state(self, name: str) -> dict[str, Any]:
        r = self.hub.api("GET", f"/users/{name}")
        r.raise_for_status()
        return dict(r.json().get("auth_state") or {})

    def ready(self, name: str) -> None:
        """The user logged in (once) and their server running with settled spaces."""
        if self.hub.api("GET", f"/users/{name}").status_code == 404 or not self.auth_state(name):
            self.login(name)
        self.hub.spawn(name)
        plan_of(self.hub, name)

    def login(self, name: str) -> requests.Session:
        session = requests.Session()
        r = self.op.login(session, f"{self.hub.url}/hub/oauth_login?next=/hub/home", name,
                          self.op.users[name].password)
        assert r.url == f"{self.hub.url}/hub/home", r.url
        return session


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("login")
    op = start_op(root / "op", access_ttl=ACCESS_TTL, users=[OPUser("ada"), OPUser("bea")])
    od = OnedataStandIn(root / "od").start()
    ada = od.add_user("Ada")
    second = od.add_provider("Second Oneprovider")
    space = od.add_space("climate", [ada], providers=[od.provider_id, second])
    od.add_file(space, "readme.txt", b"from DataHub\n")
    # Onezone takes an IdP token (x-auth-token: egi:<token>) only when the real OP vouches for it.
    od.idp_validator = lambda idp, tok: (
        ada if idp == "egi" and op.userinfo(tok).status_code == 200
        and op.userinfo(tok).json().get("preferred_username") == "ada" else None)
    storagehub = StorageHubStandIn(root / "sh", user="ada")
    (storagehub.workspace / "notes.txt").write_text("from the workspace\n")
    iam = IAMStandIn(storagehub, lambda tok: op.userinfo(tok).status_code == 200, CONTEXT, ttl=D4S_TTL)
    settings = textwrap.dedent(op.authenticator_settings()).replace(
        '"generic-oauth"', '"nbspaces.spawner.checkin.CheckinAuthenticator"')
    settings = settings.replace("c.GenericOAuthenticator.", "c.CheckinAuthenticator.") + textwrap.dedent(f"""
        c.CheckinAuthenticator.onezone_url = "https://{od.onezone_host}"
        c.CheckinAuthenticator.services_ca_certs = "{od.ca_file}"
        c.CheckinAuthenticator.d4science_token_url = "{iam.token_url}"
        c.CheckinAuthenticator.d4science_context = "{CONTEXT}"
        c.CheckinAuthenticator.refresh_margin = 4
        c.Authenticator.allow_all = True
        c.Authenticator.auth_refresh_age = 2
        c.Authenticator.refresh_pre_spawn = True
        c.JupyterHub.load_roles[0]["scopes"].append("admin:auth_state")
        c.NBSpaces.oneprovider_host = "{od.provider_domain()}"
        c.NBSpaces.remote = {{
            "datahub": {{"kind": "onedata", "oneprovider": "{od.provider_domain()}", "verify_tls": "{od.ca_file}",
                        "groups": {{"*": "rw"}}}},
            "workspace": {{"kind": "d4science", "url": "{storagehub.url}", "groups": {{"*": "rw"}}}},
        }}
        c.NBSpaces.posix_mounts = False
        c.NBSpaces.cull_timeout = 0
        c.Spawner.environment = {{"REQUESTS_CA_BUNDLE": "{od.ca_file}"}}
        c.Spawner.args = ["--SpacesApp.token_refresh_interval=2"]
    """)
    hub: Hub | None = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTERHUB_CRYPT_KEY", Fernet.generate_key().decode())
            hub = start_hub(root / "hub", settings)
        op.set_redirect_uris([f"{hub.url}/hub/oauth_callback"])
        yield Site(op, hub, od, storagehub, iam, space)
    finally:
        if hub is not None:
            for name in ("ada", "bea"):
                hub.api("DELETE", f"/users/{name}/server")
            hub.stop()
        iam.stop()
        storagehub.stop()
        od.stop()
        op.stop()


def spaces(site: Site, user: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in plan_of(site.hub, user)["spaces"]}


def test_login_gets_the_onedata_and_d4science_tokens(site: Site) -> None:
    site.login("ada")
    state = site.auth_state("ada")
    assert state["nbspaces_errors"] == {}
    assert site.od.token(state["onedata_token"]) is not None  # a real named token in Onezone
    domains = {p["domain"] for p in state["onedata_providers"]}
    assert domains == {site.od.provider_domain(pid) for pid in site.od.providers}  # both support her space
    assert state["d4science_token"] in site.iam.issued


def test_datahub_and_workspace_in_the_file_browser(site: Site) -> None:
    site.ready("ada")
    found = spaces(site, "ada")
    assert found["datahub"]["status"] == "mounted" and found["workspace"]["status"] == "mounted"
    assert found["datahub"]["credential_fields"] == []  # it uses the login: nothing to enter
    root = {e["name"]: e for e in site.hub.contents("ada", "GET", "").json()["content"]}
    # A space's root has no time of its own: the file browser shows no date, not "56 years ago".
    assert root["datahub"]["last_modified"] is None and root["workspace"]["last_modified"] is None
    assert all(not (e["last_modified"] or "").startswith("1970") for e in root.values())
    listing = site.hub.contents("ada", "GET", "datahub")
    assert listing.status_code == 200, listing.text
    assert [e["name"] for e in listing.json()["content"]] == ["climate"]
    assert site.hub.contents("ada", "GET", "datahub/climate/readme.txt").json()["content"] == "from DataHub\n"
    assert site.hub.put_text("ada", "datahub/climate/new.txt", "written in the browser\n").status_code == 201
    assert (site.od.space_dir(site.space) / "new.txt").read_text() == "written in the browser\n"
    names = [e["name"] for e in site.hub.contents("ada", "GET", "workspace").json()["content"]]
    assert "notes.txt" in names
    assert site.hub.put_text("ada", "workspace/up.txt", "to D4Science\n").status_code == 201
    assert site.storagehub.disk("up.txt").read_text() == "to D4Science\n"
    r = site.hub.server("ada", "PUT", "nbspaces/api/spaces/workspace/credentials", json={"token": "x"})
    assert r.status_code == 400 and "login" in r.json()["message"]


def test_egi_snippet_runs_in_a_kernel(site: Site) -> None:
    site.ready("ada")
    site.hub.put_text("ada", "datahub/climate/new.txt", "written in the browser\n")
    out = run_code(site.hub, "ada", """
import os
from fs.onedatafs import OnedataFS
odfs = OnedataFS(os.environ['ONEPROVIDER_HOST'], os.environ['ONECLIENT_ACCESS_TOKEN'], force_direct_io=True)
f = odfs.open("/climate/new.txt")
print(f.read().strip())
""")
    assert out.strip() == "written in the browser"


def test_tokens_stay_fresh_in_a_running_server(site: Site) -> None:
    site.ready("ada")
    first = site.auth_state("ada")["d4science_token"]
    time.sleep(D4S_TTL + 3)  # the first D4Science token has expired at StorageHub by now
    def renewed() -> bool:
        r = site.hub.contents("ada", "GET", "workspace")
        return r.status_code == 200 and site.auth_state("ada")["d4science_token"] != first

    wait_until(renewed, "the workspace opens with a renewed D4Science token", 30, interval=1)
    assert len(site.iam.issued) >= 2
    # A kernel started now also works with the new token, through the Python API.
    out = run_code(site.hub, "ada", "import nbspaces; print(nbspaces.open('workspace/notes.txt').read())")
    assert out.strip() == "from the workspace"


def test_a_onezone_refusal_never_blocks_login_or_spawn(site: Site) -> None:
    site.login("bea")  # Onezone does not know bea: her IdP token is refused there
    state = site.auth_state("bea")
    assert "onedata_token" not in state and "Onezone" in state["nbspaces_errors"]["onedata"]
    site.hub.spawn("bea")
    found = spaces(site, "bea")
    assert found["datahub"]["status"] == "needs-credentials" and "no onedata token" in found["datahub"]["reason"]
    assert site.hub.put_text("bea", "home.txt", "the home works\n").status_code == 201


def test_no_token_in_logs_plans_or_answers(site: Site) -> None:
    site.ready("ada")
    state = site.auth_state("ada")
    secrets = [state["onedata_token"], state["d4science_token"], state["access_token"], state["refresh_token"]]
    log = site.hub.log()
    assert not [s for s in secrets if s in log]
    answer = site.hub.server("ada", "GET", "nbspaces/api/spaces").text
    assert not [s for s in secrets if s in answer]
    plan = json.dumps(site.hub.server("ada", "GET", "nbspaces/api/spaces").json())
    assert not [s for s in secrets if s in plan]


def test_users_choose_another_oneprovider_of_their_spaces(site: Site) -> None:
    site.login("ada")
    providers = [p["domain"] for p in site.auth_state("ada")["onedata_providers"]]
    other = next(d for d in providers if d != site.od.provider_domain())
    site.hub.stop_server("ada")
    r = site.hub.api("POST", "/users/ada/server", json={"oneprovider_host": other})
    assert r.status_code in (201, 202)
    site.hub.spawn("ada")
    env = site.hub.server_env("ada")
    assert env.get("ONEPROVIDER_HOST") == other, sorted(k for k in env if "NBS" in k or "ONE" in k)
    site.hub.stop_server("ada")
    site.hub.api("POST", "/users/ada/server", json={"oneprovider_host": "evil.example.org"})
    site.hub.spawn("ada")
    assert site.hub.server_env("ada")["ONEPROVIDER_HOST"] == site.od.provider_domain()  # not theirs: the default
    assert "supports none of their spaces" in site.hub.log()


def test_rename_delete_and_a_big_space_through_the_server(site: Site) -> None:
    site.ready("ada")
    for i in range(5000):
        site.od.add_file(site.space, f"many/f{i:05d}.dat", b"")
    listing = site.hub.contents("ada", "GET", "datahub/climate/many")
    assert listing.status_code == 200, listing.text
    assert len(listing.json()["content"]) == 5000  # every page, not the first 1,000
    for top, disk in (("datahub/climate", site.od.space_dir(site.space)), ("workspace", site.storagehub.workspace)):
        assert site.hub.put_text("ada", f"{top}/draft.txt", "v1\n").status_code == 201
        r = site.hub.contents("ada", "PATCH", f"{top}/draft.txt", json={"path": f"{top}/final.txt"})
        assert r.status_code == 200, r.text
        assert (disk / "final.txt").read_text() == "v1\n" and not (disk / "draft.txt").exists()
        assert site.hub.contents("ada", "DELETE", f"{top}/final.txt").status_code == 204
        assert not (disk / "final.txt").exists()
    assert site.storagehub.trash_items()  # D4Science deletes go to the trash


def test_a_provider_down_fails_only_datahub_and_recovers(site: Site) -> None:
    site.ready("ada")
    for pid in site.od.providers:  # every provider of the space
        site.od.go_offline(pid, how="no_onezone")
    try:
        r = site.hub.contents("ada", "GET", "datahub/climate")
        assert r.status_code == 503 and "try again later" in r.json()["message"]
        assert site.hub.contents("ada", "GET", "workspace").status_code == 200  # the others still work
        assert site.hub.put_text("ada", "home-ok.txt", "fine\n").status_code in (200, 201)
        retry = site.hub.server("ada", "POST", "nbspaces/api/spaces/datahub/retry").json()
        assert retry["status"] == "error" and retry["reason"]
    finally:
        for pid in site.od.providers:
            site.od.go_online(pid)
    wait_until(lambda: site.hub.server("ada", "POST", "nbspaces/api/spaces/datahub/retry").json()["status"]
               == "mounted", "datahub comes back after the provider did", 20, interval=1)
    assert site.hub.contents("ada", "GET", "datahub/climate").status_code == 200
