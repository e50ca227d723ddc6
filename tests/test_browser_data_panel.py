"""The JupyterLab Data panel in a real browser (Debian's Chromium, driven by Playwright).

A real hub and single-user server, a real WebDAV server (wsgidav) standing in for B2DROP, a
home with a 20 GiB quota and a read-only shared folder; then the same user in Notebook 7, and a
`jupyter lab` as a hub's server without an nbspaces plan, whose root holds a folder that is not kept. No browser is
downloaded: Playwright drives /usr/bin/chromium (`apt-get install chromium`, done by `make deps`).
The tests of this module run in order on one page (one user's session).

Screenshots go to a temporary folder; with NBSPACES_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/images/ that the user guide (docs/data-panel.md) shows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright import sync_api

from tests.realhub import ROOT, Hub, free_port, plan_of, start_hub, stop_process, wait_http
from tests.webdav_servers import DavServer, wsgidav

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
LABEXTENSION = ROOT / "nbspaces" / "labextension" / "package.json"
TIMEOUT_MS = 30_000



@pytest.fixture(scope="module", autouse=True)
def _browser_and_panel() -> None:
    """make test installs both; without them these tests fail with what to do, never skip silently."""
    assert Path(CHROMIUM).exists(), "needs Debian's chromium: apt-get install chromium (make test does)"
    assert LABEXTENSION.exists(), "the Data panel is not built: make labextension (make test does)"


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
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: sync_api.Browser) -> tuple[sync_api.BrowserContext, sync_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture(scope="module")
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context, page = new_page(browser)
    try:
        yield page
    finally:
        context.close()


def space_row(page: sync_api.Page, name: str) -> sync_api.Locator:
    return page.locator(f'#nbspaces-data-panel li.nbs-Space[data-space="{name}"]')


def listing_item(page: sync_api.Page, name: str) -> sync_api.Locator:
    """An item of the file browser's listing, by its exact name."""
    text = page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".jp-FileBrowser .jp-DirListing-item", has=text)


def run_from_palette(page: sync_api.Page, label: str) -> None:
    """Opens the command palette with its shortcut, finds the command by its label, runs it with Enter."""
    page.keyboard.press("Control+Shift+C")
    search = page.locator(".lm-CommandPalette-input")
    expect = sync_api.expect
    expect(search).to_be_focused()
    search.fill(label)
    expect(page.locator(".lm-CommandPalette-item.lm-mod-active")).to_contain_text(label)
    page.keyboard.press("Enter")


def upload(page: sync_api.Page, name: str, data: bytes) -> None:
    """Uploads a file into the folder the file browser shows, through its upload button."""
    button = page.locator('.jp-FileBrowser [data-jp-item-name="uploader"] button')
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "text/plain", "buffer": data}])


def shot_top(page: sync_api.Page, selector: str, path: Path, height: int = 240) -> None:
    """A screenshot of the top of an element (the file browser is as tall as the window)."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    page.screenshot(path=str(path), clip={**box, "height": min(height, box["height"])})


def tab_to(page: sync_api.Page, selector: str, limit: int = 60) -> None:
    """Presses Tab until the element matching ``selector`` has the focus, as a keyboard user does."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reached with Tab")


OFF_THE_EDGE = r"""
panel => {
  // Elements of the panel whose box ends right of the panel's (what a user sees cut or running off).
  const edge = panel.getBoundingClientRect().right + 0.5;
  return [...panel.querySelectorAll('*')]
    .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > edge)
    .map(e => `${e.className.baseVal ?? e.className}: ${(e.textContent || '').slice(0, 40)}`);
}
"""


CONTRAST = r"""
([selector, bgSelector]) => {
  // WCAG contrast of an element's text against the panel's background (alpha blended).
  const rgba = c => c.match(/[\d.]+/g).map(Number);
  const bg = rgba(getComputedStyle(document.querySelector(bgSelector)).backgroundColor);
  const [r, g, b, a = 1] = rgba(getComputedStyle(document.querySelector(selector)).color);
  const fg = [r, g, b].map((v, i) => v * a + bg[i] * (1 - a));
  const lum = ([x, y, z]) => [x, y, z].map(v => v / 255)
    .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [hi, lo] = [lum(fg), lum(bg.slice(0, 3))].sort((m, n) => n - m);
  return (hi + 0.05) / (lo + 0.05);
}
"""


def test_data_panel_in_the_browser(site: tuple[Hub, DavServer, Path], page: sync_api.Page, shots: Path) -> None:
    hub, dav, base = site
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
    expect(b2drop.locator(".nbs-Space-name")).to_have_text("B2DROP")  # the catalog's label
    expect(b2drop.locator(".nbs-Space-mount")).to_have_text("~/b2drop · WebDAV")
    expect(b2drop).to_have_attribute("data-status", "needs-credentials")
    expect(b2drop.locator(".nbs-Status")).to_have_attribute("title", "Needs credentials")
    # Every line fits the panel, the longest badge too (basic isolation's "read-only in the file browser only").
    assert panel.evaluate(OFF_THE_EDGE) == []
    panel.screenshot(path=str(shots / "data-panel.png"))

    # Connect with a wrong password: the server's refusal shows in the dialog, which stays open.
    b2drop.locator('button[data-action="connect"]').click()
    dialog = page.locator(".nbs-Dialog")
    expect(dialog).to_be_visible()
    inputs = dialog.locator(".nbs-Form-input")
    expect(inputs).to_have_count(2)  # exactly the credential fields: user name and password
    expect(dialog.locator('input[name="remember"]')).to_be_checked()  # stored unless the user says not to
    password = dialog.locator('input[name="password"]')
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_value("")
    dialog.locator('input[name="username"]').fill(dav.user)
    password.fill("not-the-password")
    dialog.locator(".jp-Dialog-footer .jp-mod-accept").click()
    message = dialog.locator(".nbs-Form-message")
    expect(message).to_have_text("B2DROP refused the user name or password")  # a WebDAV server, not Nextcloud
    expect(password).to_have_value("")  # a refused secret is not kept in the form
    dialog.locator(".jp-Dialog-content").screenshot(path=str(shots / "data-panel-credentials.png"))
    assert not (hub.data_dir / "homes" / "ada" / ".nbspaces" / "credentials").exists()

    # The right password: the dialog closes and B2DROP turns mounted.
    password.fill(dav.password)
    password.press("Enter")
    expect(dialog).to_have_count(0)
    expect(b2drop).to_have_attribute("data-status", "mounted")
    expect(status).to_have_text("Data: 3 spaces")
    # Stored credentials are never shown again: the dialog only says they are stored.
    b2drop.locator('button[data-action="credentials"]').click()
    expect(dialog.locator(".nbs-Form-stored")).to_have_text(
        "Credentials are stored for B2DROP; the ones you give here replace them.")
    expect(dialog.locator('input[name="username"]')).to_have_value("")
    expect(dialog.locator('input[name="password"]')).to_have_value("")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # Open it in the file browser.
    (dav.root / "from-the-service.txt").write_text("hello\n")
    b2drop.locator('button[data-action="open"]').click()
    listing = page.locator(".jp-FileBrowser .jp-DirListing-content")
    expect(listing.locator('.jp-DirListing-item[title*="from-the-service.txt"]')).to_be_visible()
    expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("b2drop")

    # Upload a file through the file browser's upload button; it lands on the WebDAV server.
    upload(page, "uploaded.csv", b"t,v\n1,2\n")
    expect(listing.locator('.jp-DirListing-item[title*="uploaded.csv"]')).to_be_visible()
    assert (dav.root / "uploaded.csv").read_bytes() == b"t,v\n1,2\n"
    # An error in JupyterLab's requests after the upload would open a dialog late; expect() cannot wait
    # for something that must not come, so give it 1.5 s to appear. Asserted at the end of the test.
    page.wait_for_timeout(1500)
    upload_errors: list[str] = []
    for dialog_node in page.locator(".jp-Dialog").all():
        upload_errors.append(dialog_node.get_attribute("aria-label") or dialog_node.inner_text())
        dialog_node.locator(".jp-Dialog-footer button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)

    # In the home everything is kept: no hint. The read-only shared folder has a lock in the listing.
    page.locator(".jp-FileBrowser .jp-BreadCrumbs-home").click()
    expect(listing_item(page, "datasets").locator(".nbs-ReadOnlyMark")).to_be_visible()
    # A space's root has no date on the storage: its row shows none (not 1970's "56y ago", nor the date
    # the row showed for the file listed there before); a folder of the home shows its own.
    no_date = listing_item(page, "b2drop").locator(".jp-DirListing-itemModified")
    expect(no_date).to_have_text("")
    expect(no_date).to_have_attribute("title", "The storage gives no date")
    assert "1970" not in (listing_item(page, "b2drop").get_attribute("title") or "")
    expect(listing_item(page, "datasets").locator(".jp-DirListing-itemModified")).to_have_text(re.compile(r"\S"))
    expect(listing_item(page, "datasets")).to_have_class(re.compile(r"\bnbs-mod-readonly\b"))
    expect(listing_item(page, "b2drop").locator(".nbs-ReadOnlyMark")).to_have_count(0)
    hint = page.locator(".jp-FileBrowser .nbs-FolderHint")
    expect(hint).to_be_hidden()

    # Inside it: the line above the listing says it is read-only, its files have the lock too.
    status.click()  # back to the Data panel
    expect(panel).to_be_visible()
    page.locator('#nbspaces-data-panel li.nbs-Space[data-space="datasets"] button[data-action="open"]').click()
    expect(listing.locator('.jp-DirListing-item[title*="stations.csv"]')).to_be_visible()
    expect(hint).to_be_visible()
    expect(hint).to_have_text(re.compile(r"^Read-only: datasets is shared with you to read"))
    expect(hint.locator(".nbs-FolderHint-notkept")).to_have_count(0)
    expect(listing_item(page, "stations.csv").locator(".nbs-ReadOnlyMark")).to_have_attribute(
        "aria-label", "Read-only: you can open it, not change it")
    shot_top(page, ".jp-FileBrowser", shots / "data-panel-read-only.png")

    # A new folder, and an upload (a save), in the read-only folder: refused in the server's words.
    page.locator('.jp-FileBrowser [data-jp-item-name="new-directory"] button').click()
    error = page.locator(".jp-Dialog-content")
    expect(error).to_contain_text("shared with you read-only")
    error.locator(".jp-Dialog-footer button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    upload(page, "notes.txt", b"mine\n")
    expect(error).to_contain_text("Cannot save 'datasets/notes.txt': 'datasets' is shared with you read-only")
    error.locator(".jp-Dialog-footer button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    assert not (base / "src" / "datasets" / "notes.txt").exists()

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

    # A refresh the server answers with an error keeps the spaces and says why on a line that wraps
    # inside the panel, however long the server's words (here an address). The route stands in for a
    # server that answers so: nothing on 127.0.0.1 answers the panel's list with an error at will.
    refused = "The list cannot be made: http://127.0.0.1:8000/" + "a" * 200 + " does not answer"
    spaces_api = re.compile(r"/nbspaces/api/spaces(\?.*)?$")
    page.route(spaces_api, lambda route: route.fulfill(status=500, json={"message": refused}))
    try:
        panel.locator('button[aria-label="Refresh"]').click()
        notice = panel.locator(".nbs-DataPanel-notice")
        expect(notice).to_have_text(f"Not up to date: {refused}")
        expect(b2drop).to_be_visible()
        assert notice.evaluate("n => n.scrollWidth <= n.clientWidth"), "the line runs off the panel"
        assert panel.evaluate(OFF_THE_EDGE) == []
    finally:
        page.unroute(spaces_api)
    panel.locator('button[aria-label="Refresh"]').click()
    expect(panel.locator(".nbs-DataPanel-notice")).to_be_hidden()
    b2drop.locator('button[data-action="retry"]').click()
    expect(b2drop).to_have_attribute("data-status", "mounted")
    assert upload_errors == [], "the upload into B2DROP showed an error"


def test_keyboard_palette_add_and_remove(site: tuple[Hub, DavServer, Path], page: sync_api.Page,
                                         shots: Path) -> None:
    """Runs after test_data_panel_in_the_browser, on its page: no mouse from here on."""
    hub, dav, _ = site
    expect = sync_api.expect
    panel = page.locator("#nbspaces-data-panel")

    # The shortcut opens the panel and moves the focus into it; Tab reaches its buttons.
    page.locator('.jp-SideBar [data-id="filebrowser"]').click()
    expect(panel).to_be_hidden()
    page.keyboard.press("Alt+Shift+D")
    expect(panel).to_be_visible()
    assert page.evaluate("document.getElementById('nbspaces-data-panel').contains(document.activeElement)")

    # The palette has the panel's commands; "Add a Space…" opens the form.
    run_from_palette(page, "Add a Space")
    dialog = page.locator(".nbs-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text("Add a space")
    expect(dialog.locator('input[name="name"]')).to_be_focused()
    # Exactly the fields the server declares for WebDAV, each drawn from its type: the address
    # (required, marked as the credentials it needs are), the label, the TLS check (a checkbox left
    # to the server's default until chosen), the chunk size (a number in its range), the credentials.
    names = dialog.locator("input").evaluate_all("inputs => inputs.map(i => i.name)")
    assert names == ["name", "setting:url", "setting:label", "setting:verify_tls", "setting:chunk_mib",
                     "credential:username", "credential:password"]
    expect(dialog.locator('input[name="setting:url"]')).to_have_attribute("type", "url")
    expect(dialog.locator('label[for]:has(.nbs-Form-required)')).to_have_text(
        ["Name *", "Address (URL) *", "User name *", "Password *"])
    tls = dialog.locator('input[name="setting:verify_tls"]')
    expect(tls).to_have_attribute("type", "checkbox")
    expect(tls).to_be_checked()  # the driver's default, as it is
    chunk = dialog.locator('input[name="setting:chunk_mib"]')
    expect(chunk).to_have_attribute("type", "number")
    expect(chunk).to_have_attribute("min", "5")
    expect(chunk).to_have_attribute("placeholder", "10")  # the default, shown where nothing is typed
    expect(dialog.locator('input[name="credential:password"]')).to_have_attribute("type", "password")

    # Nothing is said before the user typed: an empty form is not an error yet. Trying to send it is.
    message = dialog.locator(".nbs-Form-message")
    expect(dialog.locator('input[name="name"]')).to_have_value("")
    expect(message).to_be_hidden()
    page.keyboard.press("Enter")
    expect(message).to_have_text("Please fill out this field.")
    expect(dialog).to_be_visible()

    # Validation in the form: a bad address is named, and the form is not sent.
    page.keyboard.type("mydav")
    page.keyboard.press("Tab")
    expect(dialog.locator('input[name="setting:url"]')).to_be_focused()
    page.keyboard.type("dav.example.org/dav")
    expect(message).to_have_text("Give an http:// or https:// address.")
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()

    # The server's message on failure: a service that does not answer.
    down = f"http://127.0.0.1:{free_port()}/dav"
    dialog.locator('input[name="setting:url"]').fill(down)
    expect(message).to_be_hidden()
    # A number out of the range the server declares is named too.
    chunk.fill("2")
    expect(message).to_have_text("Upload chunk size (MiB): give a number from 5 to 1024.")
    chunk.fill("")
    expect(message).to_be_hidden()
    dialog.locator('input[name="credential:username"]').fill(dav.user)
    expect(message).to_have_text("Give the required credentials too, or none (then give them later).")
    dialog.locator('input[name="credential:password"]').fill(dav.password)
    page.keyboard.press("Enter")
    expect(message).to_contain_text("mydav cannot be reached at http://127.0.0.1:")
    expect(dialog.locator('input[name="credential:password"]')).to_have_value("")
    dialog.locator(".jp-Dialog-content").screenshot(path=str(shots / "data-panel-add.png"))

    # The right address and a label: added, tested and mounted; the server keeps it, the panel shows the label.
    dialog.locator('input[name="setting:url"]').fill(dav.url)
    dialog.locator('input[name="setting:label"]').fill("Team files")
    dialog.locator('input[name="credential:password"]').fill(dav.password)
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0, timeout=TIMEOUT_MS)  # the server tests the service before it answers
    mydav = space_row(page, "mydav")
    expect(mydav).to_have_attribute("data-status", "mounted")
    expect(mydav.locator(".nbs-Space-name")).to_have_text("Team files")
    expect(mydav.locator(".nbs-Space-mount")).to_have_text("~/mydav · WebDAV")
    expect(mydav.locator('button[data-action="forget"]')).to_be_visible()  # credentials are stored
    listed = hub.server("ada", "GET", "nbspaces/api/spaces").json()["spaces"]
    mine = next(s for s in listed if s["name"] == "mydav")
    assert mine["origin"] == "user" and mine["has_credentials"] is True
    assert mine["settings"] == {"url": dav.url, "label": "Team files"}

    # Remove it with the keyboard only: Tab to its Remove button, Enter, Enter to confirm.
    page.keyboard.press("Alt+Shift+D")
    tab_to(page, '#nbspaces-data-panel button[data-space="mydav"][data-action="remove"]')
    page.keyboard.press("Enter")
    confirm = page.locator(".jp-Dialog")
    expect(confirm).to_contain_text("Remove mydav?")
    page.keyboard.press("Enter")
    expect(mydav).to_have_count(0)
    listed = hub.server("ada", "GET", "nbspaces/api/spaces").json()["spaces"]
    assert "mydav" not in {s["name"] for s in listed}


def test_dark_theme(page: sync_api.Page, shots: Path) -> None:
    expect = sync_api.expect
    panel = page.locator("#nbspaces-data-panel")
    run_from_palette(page, "Use Theme: JupyterLab Dark")
    try:
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
        page.keyboard.press("Alt+Shift+D")
        expect(panel).to_be_visible()
        expect(space_row(page, "b2drop")).to_have_attribute("data-status", "mounted")
        background = page.evaluate(
            "getComputedStyle(document.getElementById('nbspaces-data-panel')).backgroundColor")
        assert background != "rgb(255, 255, 255)", "the panel does not follow the dark theme"
        # Text reads on the dark background (WCAG AA: 4.5 for normal text).
        for selector in (".nbs-Space-name", ".nbs-Status-text", ".nbs-Space-mount", ".nbs-Usage-text",
                         ".nbs-Badge-readonly"):
            ratio = page.evaluate(CONTRAST, [f"#nbspaces-data-panel {selector}", "#nbspaces-data-panel"])
            assert ratio >= 4.5, f"{selector}: contrast {ratio:.1f} in the dark theme"
        panel.screenshot(path=str(shots / "data-panel-dark.png"))
    finally:
        run_from_palette(page, "Use Theme: JupyterLab Light")
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true")


def test_notebook_7(site: tuple[Hub, DavServer, Path], page: sync_api.Page, shots: Path) -> None:
    """The same server's Notebook 7 tree: the panel opens in its left area; the read-only lock shows."""
    hub, _, _ = site
    expect = sync_api.expect
    page.goto(f"{hub.url}/user/ada/tree")
    expect(listing_item(page, "datasets")).to_be_visible(timeout=60_000)
    expect(listing_item(page, "datasets").locator(".nbs-ReadOnlyMark")).to_be_visible()
    # A space's root has no date: none is shown in Notebook's listing either.
    expect(listing_item(page, "b2drop").locator(".jp-DirListing-itemModified")).to_have_text("")
    panel = page.locator("#nbspaces-data-panel")
    expect(panel).to_be_hidden()
    # The View menu shows the way to the panel (the shortcut and the palette are not visible).
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^View$")).click()
    item = page.locator(".lm-Menu-item", has_text="Show the Data Panel")
    expect(item).to_be_visible()
    expect(item.locator(".lm-Menu-itemShortcut")).to_have_text("Alt+Shift+D")
    item.hover()
    page.locator(".lm-Menu").first.screenshot(path=str(shots / "data-panel-notebook7-menu.png"))
    item.click()
    expect(panel).to_be_visible()
    expect(space_row(page, "home").locator(".nbs-Usage-text")).to_contain_text("of 20 GiB")
    expect(space_row(page, "b2drop")).to_have_attribute("data-status", "mounted")
    page.screenshot(path=str(shots / "data-panel-notebook7.png"))
    # Open shows the space in Notebook's file view, with the read-only line.
    space_row(page, "datasets").locator('button[data-action="open"]').click()
    expect(listing_item(page, "stations.csv").locator(".nbs-ReadOnlyMark")).to_be_visible()
    expect(page.locator(".jp-FileBrowser .nbs-FolderHint")).to_contain_text("Read-only: datasets")
    # Its palette lists the panel's commands too.
    page.keyboard.press("Control+Shift+C")
    search = page.locator(".lm-CommandPalette-input")
    search.fill("Data Panel")
    expect(page.locator(".lm-CommandPalette-item", has_text="Show the Data Panel")).to_be_visible()
    page.keyboard.press("Escape")


@pytest.fixture(scope="module")
def plain_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`jupyter lab` with nbspaces installed but no plan, as another hub's server: its root holds the home and a
    scratch folder. JUPYTERHUB_SERVICE_PREFIX is what says "a hub's server" to nbspaces (jupyter lab ignores it)."""
    root = tmp_path_factory.mktemp("plain")
    home = root / "home" / "ada"
    home.mkdir(parents=True)
    (root / "scratch").mkdir()
    (root / "scratch" / "run.log").write_text("step 1\n")
    port, token = free_port(), "plain-lab-token-for-this-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBSPACES_", "JUPYTERHUB_", "JUPYTER_"))}
    env["HOME"] = str(home)
    env["JUPYTERHUB_SERVICE_PREFIX"] = "/"
    log_path = root / "lab.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}"],
        env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/status?token={token}", proc, log_path)
        yield f"{url}/lab/tree/scratch?token={token}", root
    finally:
        stop_process(proc)
        log.close()


def test_a_folder_that_is_not_kept_says_so(browser: sync_api.Browser, plain_lab: tuple[str, Path],
                                          shots: Path) -> None:
    url, root = plain_lab
    expect = sync_api.expect
    # The server decides: a hub's server without a plan keeps only $HOME, here the folder home/ada of its root.
    api = url.replace("/lab/tree/scratch?", "/nbspaces/api/kept?")
    assert requests.get(api, timeout=10).json() == {"kept": ["home/ada"], "source": "home"}
    context, page = new_page(browser)  # another server on this host: its own cookies
    try:
        page.goto(url)
        expect(listing_item(page, "run.log")).to_be_visible(timeout=60_000)
        hint = page.locator(".jp-FileBrowser .nbs-FolderHint")
        expect(hint).to_be_visible()
        expect(hint.locator(".nbs-FolderHint-notkept")).to_contain_text(
            "Not kept: files in this folder are lost when your server stops.")
        expect(page.locator(".nbs-StatusItem")).to_be_hidden()  # no spaces on this server
        shot_top(page, ".jp-FileBrowser", shots / "data-panel-not-kept.png")

        # Saving there warns once, with the way to the kept folder.
        upload(page, "results.csv", b"a,b\n1,2\n")
        expect(listing_item(page, "results.csv")).to_be_visible()
        assert (root / "scratch" / "results.csv").read_bytes() == b"a,b\n1,2\n"
        warning = page.locator(".jp-toast-message", has_text="scratch/results.csv is saved where nothing is kept")
        expect(warning).to_be_visible()
        page.locator(".jp-toast-button", has_text="Go to a kept folder").click()
        expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).to_contain_text("ada")
        expect(hint).to_be_hidden()
    finally:
        context.close()
