"""S3, SMB and SFTP spaces through the Data panel in a real browser (Debian's Chromium, Playwright).

A real hub and real servers on 127.0.0.1 (tests/storage_servers.py): ``rclone serve s3``, Samba's
``smbd``, OpenSSH's ``sshd`` (key login) and ``rclone serve sftp`` (password login). The admins
declare an SMB share by its label and an SFTP archive; the user adds an S3 bucket and an SFTP
server of their own. Every form is built from the fields the server declares for the kind; the
host key of an SFTP server seen for the first time is shown for the user to trust, with the
fingerprint ``ssh-keygen -lf`` gives for it. The tests of this module run in order on one page.

With NBSPACES_UPDATE_SCREENSHOTS=1 the trust dialog's screenshot replaces docs/images/data-panel-trust.png.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright import sync_api

from tests.realhub import ROOT, Hub, plan_of, start_hub
from tests.storage_servers import S3Server, SftpServer, SmbServer, rclone_s3, rclone_sftp, smbd, sshd
from tests.test_browser_data_panel import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    LABEXTENSION,
    TIMEOUT_MS,
    listing_item,
    new_page,
    space_row,
)

expect = sync_api.expect
# A Nextcloud's address (nothing answers there: the space only waits for credentials).
NEXTCLOUD = "https://cloud.example.org/nc"


@dataclass
class Site:
    hub: Hub
    s3: S3Server
    smb: SmbServer
    ssh: SftpServer  # sshd: the user's own server, key login
    archive: SftpServer  # rclone serve sftp: the admins' archive, password login


@pytest.fixture(scope="module", autouse=True)
def _browser_and_panel() -> None:
    """make test installs both; without them these tests fail with what to do, never skip silently."""
    assert Path(CHROMIUM).exists(), "needs Debian's chromium: apt-get install chromium (make test does)"
    assert LABEXTENSION.exists(), "the Data panel is not built: make labextension (make test does)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("kinds")
    servers = []
    hub: Hub | None = None
    try:
        s3 = rclone_s3(base / "s3")
        servers.append(s3)
        smb = smbd(base / "smb")
        servers.append(smb)
        ssh = sshd(base / "ssh")
        servers.append(ssh)
        archive = rclone_sftp(base / "archive")
        servers.append(archive)
        (s3.bucket("lab-data") / "results.csv").write_text("run,value\n1,0.5\n")
        (smb.root / "minutes.txt").write_text("team meeting\n")
        (ssh.root / "run.log").write_text("step 1\n")
        (archive.root / "2019.tar").write_bytes(b"old data")
        hub = start_hub(base / "hub", f"""
            c.NBSpaces.remote = {{
                "team": {{"kind": "smb", "host": "127.0.0.1", "port": {smb.port}, "share": "{smb.share}",
                          "label": "Team share", "groups": {{"*": "rw"}}}},
                "archive": {{"kind": "sftp", "host": "127.0.0.1", "port": {archive.port}, "label": "Archive",
                             "groups": {{"*": "rw"}}}},
                "cloud": {{"kind": "webdav", "url": "{NEXTCLOUD}/remote.php/webdav", "label": "Team cloud",
                           "groups": {{"*": "rw"}}}},
            }}
            c.NBSpaces.user_kinds = ["s3", "sftp"]
            c.NBSpaces.posix_mounts = False
            c.NBSpaces.cull_timeout = 0
            c.Spawner.default_url = "/lab"
        """)
        hub.ensure_user("cy")
        hub.spawn("cy")
        plan_of(hub, "cy")  # nothing left mounting
        yield Site(hub, s3, smb, ssh, archive)
    finally:
        if hub is not None:
            hub.api("DELETE", "/users/cy/server")
            hub.stop()
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("screenshots")
    yield out
    if os.environ.get("NBSPACES_UPDATE_SCREENSHOTS") == "1":
        for png in out.glob("*.png"):
            shutil.copy(png, ROOT / "docs" / "images" / png.name)


@pytest.fixture(scope="module")
def page() -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context, page = new_page(browser)
            yield page
            context.close()
        finally:
            browser.close()


def fingerprint(public_key: Path) -> str:
    """The SHA256 fingerprint of a host key as OpenSSH's ssh-keygen prints it (SHA256:...)."""
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True, text=True).stdout
    found = re.search(r"SHA256:\S+", out)
    assert found, out
    return found.group(0)


def spaces(site: Site) -> dict[str, dict]:
    r = site.hub.server("cy", "GET", "nbspaces/api/spaces")
    assert r.status_code == 200, r.text
    return {s["name"]: s for s in r.json()["spaces"]}


def open_in_browser(page: sync_api.Page, name: str, file: str) -> None:
    """Opens a mounted space from its row and sees one of its files listed, then comes back to the panel."""
    row = space_row(page, name)
    expect(row).to_have_attribute("data-status", "mounted", timeout=TIMEOUT_MS)
    row.locator('button[data-action="open"]').click()
    expect(listing_item(page, file)).to_be_visible()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text(name)
    page.locator(".nbs-StatusItem").click()
    expect(page.locator("#nbspaces-data-panel")).to_be_visible()


def open_add_form(page: sync_api.Page) -> sync_api.Locator:
    page.locator("#nbspaces-data-panel .nbs-DataPanel-add").click()
    dialog = page.locator(".nbs-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Add a space")
    return dialog


def accept_button(dialog: sync_api.Locator) -> sync_api.Locator:
    return dialog.locator(".jp-Dialog-footer .jp-mod-accept")


def test_connect_a_share_the_admins_declared_by_its_label_for_this_session(site: Site, page: sync_api.Page) -> None:
    page.goto(f"{site.hub.url}/hub/login")
    page.fill("#username_input", "cy")
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/user/cy/lab"), timeout=60_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.locator(".nbs-StatusItem").click()

    # The share is shown by its label, with the kind as the server names it; it waits for a password.
    team = space_row(page, "team")
    expect(team.locator(".nbs-Space-name")).to_have_text("Team share")
    expect(team.locator(".nbs-Space-mount")).to_have_text("~/team · SMB share")
    expect(team).to_have_attribute("data-status", "needs-credentials")

    # The dialog asks exactly the share's credentials: a user name and a password, both required.
    team.locator('button[data-action="connect"]').click()
    dialog = page.locator(".nbs-Dialog")
    expect(dialog.locator(".nbs-Form-input")).to_have_count(2)
    expect(dialog.locator("label:has(.nbs-Form-required)")).to_have_text(["User name *", "Password *"])
    password = dialog.locator('input[name="password"]')
    expect(password).to_have_attribute("type", "password")
    dialog.locator('input[name="username"]').fill(site.smb.user)
    password.fill(site.smb.password)
    # Typed for this mount only: used until the server stops, never stored.
    remember = dialog.locator('input[name="remember"]')
    remember.uncheck()
    # While the server tests them, nothing in the form can change, the choice to remember neither.
    held: list[sync_api.Route] = []
    credentials_api = re.compile(r"/nbspaces/api/spaces/team/credentials")
    page.route(credentials_api, lambda route: held.append(route))
    try:
        password.press("Enter")
        expect(remember).to_be_disabled()
        expect(password).to_be_disabled()
        assert len(held) == 1 and "remember=false" in urlsplit(held[0].request.url).query.split("&"), held
        held[0].continue_()
    finally:
        page.unroute(credentials_api)
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)
    open_in_browser(page, "team", "minutes.txt")
    assert spaces(site)["team"]["has_credentials"] is False


def test_add_a_bucket_with_wrong_then_right_keys(site: Site, page: sync_api.Page) -> None:
    dialog = open_add_form(page)
    # The first kind the admins let users add is chosen; each kind is named as the server names it.
    kind = dialog.locator("#nbs-add-kind")
    expect(kind).to_have_value("s3")
    expect(kind.locator("option")).to_have_text(["S3 bucket", "SFTP server"])
    names = dialog.locator(".nbs-Form-input").evaluate_all("inputs => inputs.map(i => i.name)")
    assert names == ["kind", "name", "setting:endpoint", "setting:bucket", "setting:folder", "setting:region",
                     "setting:label", "setting:verify_tls", "credential:access_key_id",
                     "credential:secret_access_key"]
    expect(dialog.locator('input[name="setting:endpoint"]')).to_have_attribute("type", "url")
    expect(dialog.locator('input[name="setting:verify_tls"]')).to_have_attribute("type", "checkbox")
    secret = dialog.locator('input[name="credential:secret_access_key"]')
    expect(secret).to_have_attribute("type", "password")

    dialog.locator('input[name="name"]').fill("lab")
    dialog.locator('input[name="setting:endpoint"]').fill(site.s3.url)
    dialog.locator('input[name="setting:bucket"]').fill("lab-data")
    dialog.locator('input[name="credential:access_key_id"]').fill(site.s3.user)
    secret.fill("not-the-secret")
    accept_button(dialog).click()
    message = dialog.locator(".nbs-Form-message")
    expect(message).to_have_text("lab refused the access key ID or secret access key", timeout=TIMEOUT_MS)
    expect(secret).to_have_value("")  # a refused secret is not kept in the form
    assert "lab" not in spaces(site)  # refused: nothing added

    secret.fill(site.s3.password)
    secret.press("Enter")
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)
    lab = space_row(page, "lab")
    expect(lab.locator(".nbs-Space-mount")).to_have_text("~/lab · S3 bucket")
    open_in_browser(page, "lab", "results.csv")
    assert spaces(site)["lab"]["settings"] == {"endpoint": site.s3.url, "bucket": "lab-data", "label": "lab"}


def fill_sftp_form(dialog: sync_api.Locator, site: Site) -> None:
    dialog.locator("#nbs-add-kind").select_option("sftp")
    dialog.locator('input[name="name"]').fill("files")
    dialog.locator('input[name="setting:host"]').fill("127.0.0.1")
    dialog.locator('input[name="setting:port"]').fill(str(site.ssh.port))
    dialog.locator('input[name="setting:folder"]').fill(str(site.ssh.root))
    dialog.locator('input[name="credential:username"]').fill(site.ssh.user)
    assert site.ssh.client_key is not None
    dialog.locator('textarea[name="credential:private_key"]').fill(site.ssh.client_key.read_text())


def test_add_an_sftp_server_and_trust_its_host_key(site: Site, page: sync_api.Page, shots: Path) -> None:
    dialog = open_add_form(page)
    dialog.locator("#nbs-add-kind").select_option("sftp")
    # The port is a number in its range; the private key a text area with the server's hint.
    port = dialog.locator('input[name="setting:port"]')
    expect(port).to_have_attribute("type", "number")
    expect(port).to_have_attribute("min", "1")
    expect(port).to_have_attribute("max", "65535")
    key = dialog.locator('textarea[name="credential:private_key"]')
    expect(key).to_have_class(re.compile(r"\bnbs-Form-secret\b"))
    key_hint = dialog.locator(f"#{key.get_attribute('aria-describedby')}")
    expect(key_hint).to_have_text("The whole key, from -----BEGIN to -----END")
    port.fill("70000")
    expect(dialog.locator(".nbs-Form-message")).to_have_text("Port: give a number from 1 to 65535.")

    # The server is new: the dialog shows its fingerprint, the one ssh-keygen gives for its host key.
    fill_sftp_form(dialog, site)
    accept_button(dialog).click()
    trust = dialog.locator(".nbs-Form-trust")
    expect(trust).to_be_visible(timeout=TIMEOUT_MS)
    expect(trust).to_contain_text(fingerprint(Path(f"{site.ssh.host_key}.pub")))
    expect(trust).to_contain_text("127.0.0.1 is a server nbspaces has not seen before")
    expect(accept_button(dialog)).to_have_text("Trust this server")
    expect(dialog.locator(".jp-Dialog-footer .jp-mod-reject")).to_be_focused()  # Enter trusts nothing
    expect(key).to_be_hidden()
    dialog.locator(".jp-Dialog-content").screenshot(path=str(shots / "data-panel-trust.png"))

    # Cancel changes nothing: no space, nothing trusted.
    dialog.locator(".jp-Dialog-footer .jp-mod-reject").click()
    expect(dialog).to_have_count(0)
    assert "files" not in spaces(site)
    expect(space_row(page, "files")).to_have_count(0)

    # Again, and trust it: the space is added with the key in its settings, and mounted.
    dialog = open_add_form(page)
    fill_sftp_form(dialog, site)
    accept_button(dialog).click()
    expect(accept_button(dialog)).to_have_text("Trust this server", timeout=TIMEOUT_MS)
    accept_button(dialog).click()
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)
    files = space_row(page, "files")
    expect(files.locator(".nbs-Space-mount")).to_have_text("~/files · SFTP server")
    open_in_browser(page, "files", "run.log")
    assert spaces(site)["files"]["settings"]["host_key"] == site.ssh.host_public_key


def test_connect_a_declared_sftp_server_and_trust_its_host_key(site: Site, page: sync_api.Page) -> None:
    archive = space_row(page, "archive")
    expect(archive).to_have_attribute("data-status", "needs-credentials")
    archive.locator('button[data-action="connect"]').click()
    dialog = page.locator(".nbs-Dialog")
    # A password or a private key: only the user name is required.
    expect(dialog.locator("label:has(.nbs-Form-required)")).to_have_text(["User name *"])
    expect(dialog.locator('textarea[name="private_key"]')).to_be_visible()
    dialog.locator('input[name="username"]').fill(site.archive.user)
    dialog.locator('input[name="password"]').fill(site.archive.password)
    accept_button(dialog).click()
    trust = dialog.locator(".nbs-Form-trust")
    expect(trust).to_contain_text(fingerprint(Path(f"{site.archive.host_key}.pub")), timeout=TIMEOUT_MS)
    # Trusting accepts the key, then sends the credentials again: connected.
    accept_button(dialog).click()
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)
    open_in_browser(page, "archive", "2019.tar")
    assert spaces(site)["archive"]["has_credentials"] is True


def test_a_nextcloud_asks_for_an_app_password_and_links_to_where_one_is_made(page: sync_api.Page) -> None:
    """What the dialog says comes from the server: a WebDAV space on a Nextcloud asks for an app
    password, with the help line and the link its driver declares for that address."""
    cloud = space_row(page, "cloud")
    cloud.locator('button[data-action="connect"]').click()
    dialog = page.locator(".nbs-Dialog")
    password = dialog.locator('input[name="password"]')
    expect(dialog.locator(f'label[for="{password.get_attribute("id")}"]')).to_have_text("App password *")
    hint = dialog.locator(f"#{password.get_attribute('aria-describedby')}")
    expect(hint).to_contain_text("Create new app password")
    link = hint.locator("a")
    expect(link).to_have_text("Where do I get this?")
    expect(link).to_have_attribute("href", f"{NEXTCLOUD}/settings/user/security")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    dialog.locator(".jp-Dialog-footer .jp-mod-reject").click()
    expect(dialog).to_have_count(0)
