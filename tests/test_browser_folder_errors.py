"""The file browser says why a folder cannot be opened, in a real browser (Debian's Chromium, Playwright).

A remote space whose WebDAV server went away answers 503 with a message; double-clicking its
folder used to do nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright import sync_api

from tests.realhub import Hub, start_hub
from tests.test_browser_data_panel import CHROMIUM, CHROMIUM_FLAGS, LABEXTENSION, listing_item, new_page
from tests.webdav_servers import DavServer, wsgidav


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, DavServer]]:
    assert LABEXTENSION.exists(), "the Data panel is not built: make labextension (make test does)"
    base = tmp_path_factory.mktemp("browser-errors")
    dav = wsgidav(base)
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.remote = {{"b2drop": {{"kind": "webdav", "url": "{dav.url}", "label": "B2DROP",
                                        "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.cull_timeout = 0
        c.Spawner.default_url = "/lab"
    """)
    hub.ensure_user("ada")
    hub.spawn("ada")
    try:
        yield hub, dav
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()
        dav.stop()


def test_opening_a_folder_of_an_unreachable_space_shows_why(site: tuple[Hub, DavServer]) -> None:
    hub, dav = site
    r = hub.server("ada", "PUT", "nbspaces/api/spaces/b2drop/credentials",
                   json={"username": dav.user, "password": dav.password})
    assert r.status_code == 200 and r.json()["status"] == "mounted"
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context, page = new_page(browser)
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", "ada")
            page.click("#login_submit")
            page.wait_for_url(re.compile(r"/user/ada/lab"), timeout=60_000)
            b2drop = listing_item(page, "b2drop")
            expect(b2drop).to_be_visible(timeout=60_000)
            dav.stop()  # the server goes away while the user looks at the file browser
            b2drop.dblclick()
            toast = page.locator(".Toastify__toast", has_text="B2DROP cannot be reached")
            expect(toast).to_be_visible()
            b2drop.dblclick()  # again: the space is now in error, and says so
            expect(page.locator(".Toastify__toast", has_text="'b2drop' is not available")).to_be_visible()
            context.close()
        finally:
            browser.close()
