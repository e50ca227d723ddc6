"""The JupyterLab Data panel in a real browser (Debian's Chromium, driven by Playwright).

A real hub and single-user server, a real WebDAV server (wsgidav) standing in for B2DROP, a
home with a 20 GiB quota and a read-only shared folder. No browser is downloaded: Playwright
drives /usr/bin/chromium (`apt-get install chromium`, done by `make deps`).

Screenshots go to a temporary folder; with NBSPACES_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/images/ that the user guide (docs/data-panel.md) shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realhub import ROOT, Hub, plan_of, start_hub
from tests.webdav_servers import DavServer, wsgidav

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
LABEXTENSION = ROOT / "nbspaces" / "labextension" / "package.json"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.skipif(not LABEXTENSION.exists(), reason="the Data panel is not built (make labextension)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, DavServer, Path]]:
    base = tmp_path_factory.mktemp("browser")
    datasets = base / "src" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "stations.csv").write_text("station,lat\nPAY,46.81\n")
    dav = wsgidav(base)
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.home = {{"size": "20GiB"}}
        c.NBSpaces.shared = {{"datasets": {{"source": "{datasets}", "groups": {{"*": "ro"}}}}}}
        c.NBSpaces.remote = {{"b2drop": {{"kind": "webdav", "url": "{dav.url}", "label": "B2DROP",
                                        "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.user_kinds = ["webdav"]
        c.NBSpaces.cull_timeout = 0
        c.Spawner.default_url = "/lab"
    """)
    hub.ensure_user("ada")
    hub.spawn("ada")
    plan_of(hub, "ada")  # nothing left mounting
    try:
        yield hub, dav, base
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()
        dav.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("screenshots")
    yield out
    if os.environ.get("NBSPACES_UPDATE_SCREENSHOTS") == "1":
        images = ROOT / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy(png, images / png.name)


@pytest.fixture(scope="module")
def page() -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


UPLOAD_ERRORS: list[str] = []


def space_row(page: sync_api.Page, name: str) -> sync_api.Locator:
    return page.locator(f'#nbspaces-data-panel li.nbs-Space[data-space="{name}"]')


def test_data_panel_in_the_browser(site: tuple[Hub, DavServer, Path], page: sync_api.Page, shots: Path) -> None:
    hub, dav, _ = site
    expect = sync_api.expect

    # Log in (the dummy authenticator takes any name) and land in JupyterLab.
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", "ada")
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/user/ada/lab"), timeout=60_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)

    # The status bar says B2DROP needs the user, and opens the panel.
    status = page.locator(".nbs-StatusItem")
    expect(status).to_have_text("Data: 1 needs attention")
    status.click()
    panel = page.locator("#nbspaces-data-panel")
    expect(panel).to_be_visible()

    # The home's quota bar, the read-only datasets badge, B2DROP waiting for credentials.
    home = space_row(page, "home")
    expect(home.locator(".nbs-Usage-text")).to_have_text(re.compile(r"^\d+(\.\d)? (B|KiB|MiB) of 20 GiB$"))
    expect(home.locator(".nbs-Usage-bar")).to_have_attribute("aria-valuemax", str(20 * 2**30))
    datasets = space_row(page, "datasets")
    expect(datasets.locator(".nbs-Badge-readonly")).to_be_visible()
    expect(datasets).to_have_attribute("data-status", "mounted")
    b2drop = space_row(page, "b2drop")
    expect(b2drop).to_have_attribute("data-status", "needs-credentials")
    expect(b2drop.locator(".nbs-Status")).to_have_attribute("title", "Needs credentials")
    panel.screenshot(path=str(shots / "data-panel.png"))

    # Connect with a wrong password: the server's refusal shows in the dialog, which stays open.
    b2drop.locator('button[data-action="connect"]').click()
    dialog = page.locator(".nbs-Dialog")
    expect(dialog).to_be_visible()
    inputs = dialog.locator("input")
    expect(inputs).to_have_count(2)  # exactly the credential fields: user name and password
    password = dialog.locator('input[name="password"]')
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_value("")
    dialog.locator('input[name="username"]').fill(dav.user)
    password.fill("not-the-password")
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    message = dialog.locator(".nbs-Form-message")
    expect(message).to_have_text("B2DROP refused the user name or app password")
    expect(password).to_have_value("")  # a refused secret is not kept in the form
    dialog.locator(".jp-Dialog-content").screenshot(path=str(shots / "data-panel-credentials.png"))
    assert not (hub.data_dir / "homes" / "ada" / ".nbspaces" / "credentials").exists()

    # The right password: the dialog closes and B2DROP turns mounted.
    password.fill(dav.password)
    password.press("Enter")
    expect(dialog).to_have_count(0)
    expect(b2drop).to_have_attribute("data-status", "mounted")
    expect(status).to_have_text("Data: 3 spaces")

    # Open it in the file browser.
    (dav.root / "from-the-service.txt").write_text("hello\n")
    b2drop.locator('button[data-action="open"]').click()
    listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
    expect(listing.locator('.jp-DirListing-item[title*="from-the-service.txt"]')).to_be_visible()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("b2drop")

    # Upload a file through the file browser's upload button; it lands on the WebDAV server.
    upload = page.locator('.jp-FileBrowser [data-jp-item-name="uploader"] button')
    with page.expect_file_chooser() as chooser:
        upload.click()
    chooser.value.set_files(files=[{"name": "uploaded.csv", "mimeType": "text/csv", "buffer": b"t,v\n1,2\n"}])
    expect(listing.locator('.jp-DirListing-item[title*="uploaded.csv"]')).to_be_visible()
    assert (dav.root / "uploaded.csv").read_bytes() == b"t,v\n1,2\n"
    # JupyterLab then asks for the file's hash; see test_upload_into_a_remote_space_shows_no_error.
    page.wait_for_timeout(1500)
    for dialog_node in page.locator(".jp-Dialog").all():
        UPLOAD_ERRORS.append(dialog_node.get_attribute("aria-label") or dialog_node.inner_text())
        dialog_node.locator(".jp-Dialog-footer button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)

    # A new folder in the read-only shared folder is refused with the server's message.
    status.click()  # back to the Data panel
    expect(panel).to_be_visible()
    page.locator('#nbspaces-data-panel li.nbs-Space[data-space="datasets"] button[data-action="open"]').click()
    expect(listing.locator('.jp-DirListing-item[title*="stations.csv"]')).to_be_visible()
    page.locator('.jp-FileBrowser [data-jp-item-name="new-directory"] button').click()
    error = page.locator(".jp-Dialog-content")
    expect(error).to_contain_text("shared with you read-only")
    error.locator(".jp-Dialog-footer button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)

    # The WebDAV server stops: connecting again fails, the status turns to error with a reason.
    page.locator('.jp-SideBar [data-id="nbspaces-data-panel"]').click()  # its tab works too
    expect(panel).to_be_visible()
    dav.stop()
    try:
        b2drop.locator('button[data-action="disconnect"]').click()
        expect(b2drop).to_have_attribute("data-status", "unmounted")
        expect(b2drop.locator(".nbs-Space-details")).to_have_text("disconnected by you")
        b2drop.locator('button[data-action="mount"]').click()
        expect(b2drop).to_have_attribute("data-status", "error")
        b2drop.locator('button[data-action="retry"]').click()
        expect(b2drop).to_have_attribute("data-status", "error")
        expect(b2drop.locator(".nbs-Space-details")).to_contain_text("B2DROP cannot be reached")
        reason = re.compile(r"^Error: B2DROP cannot be reached")
        expect(b2drop.locator(".nbs-Status")).to_have_attribute("title", reason)
        expect(status).to_have_text("Data: 1 needs attention")
        expect(space_row(page, "home")).to_have_attribute("data-status", "mounted")  # one failing space only
        panel.screenshot(path=str(shots / "data-panel-error.png"))
    finally:
        dav.start()
    b2drop.locator('button[data-action="retry"]').click()
    expect(b2drop).to_have_attribute("data-status", "mounted")


def test_upload_into_a_remote_space_shows_no_error() -> None:
    """Runs after test_data_panel_in_the_browser: its upload into B2DROP showed no error dialog."""
    assert UPLOAD_ERRORS == []
