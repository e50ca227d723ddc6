"""Bad input to the spaces API gets a clear 4xx naming what is wrong, never a 500, and changes nothing.

The registry is driven in-process (no Jupyter server); what only the HTTP layer does (body size,
nesting) goes through a real hub and single-user server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from nbspaces.catalog import Catalog
from nbspaces.keys import KeyUnavailable
from nbspaces.plan import resolve
from nbspaces.server_extension.registry import Registry, RegistryError, new_space
from nbspaces.session import USER_SPACES, load_user_spaces
from tests.realhub import Hub, plan_of, start_hub
from tests.webdav_servers import rclone, wsgidav

URL = "http://127.0.0.1:9/dav"  # nothing listens there: adding a space makes no request


def registry(home: Path) -> Registry:
    catalog = Catalog.parse(None, None, user_kinds=["webdav"])
    plan, _ = resolve(catalog, "ada", {}, isolation="basic", quota_enforced_by="server")
    return Registry(plan, str(home), lambda: Fernet.generate_key())


async def refused(coro: object, status: int = 400) -> str:
    with pytest.raises(RegistryError) as err:
        await coro  # type: ignore[misc]
    assert err.value.status == status, err.value.message
    return err.value.message


@pytest.mark.parametrize("name", ["x\n", "home\n", "datasets\n", "x\r\n"])
async def test_a_name_ending_in_a_newline_is_refused(tmp_path: Path, name: str) -> None:
    reg = registry(tmp_path)
    assert "cannot be a space name" in await refused(reg.add(name, "webdav", None, {"url": URL}))
    assert "cannot be a space folder" in await refused(reg.add("fine", "webdav", name, {"url": URL}))
    assert reg.mounts == {} and not (tmp_path / USER_SPACES).exists()


def test_catalog_names_ending_in_a_newline_are_refused() -> None:
    from nbspaces.catalog import NAME_RE, PRINCIPAL_RE

    assert NAME_RE.match("data") and not NAME_RE.match("data\n")
    assert PRINCIPAL_RE.match("alice") and not PRINCIPAL_RE.match("alice\n")


async def test_spaces_added_concurrently_are_all_kept(tmp_path: Path) -> None:
    reg = registry(tmp_path)
    names = [f"s{i}" for i in range(24)]
    await asyncio.gather(*(reg.add(n, "webdav", None, {"url": URL}) for n in names))
    assert set(reg.mounts) == set(names)
    saved = load_user_spaces(tmp_path, reg.plan)
    assert sorted(s.name for s in saved) == sorted(names)
    assert [p.name for p in (tmp_path / ".nbspaces").iterdir()] == ["spaces.json"]  # no temporary file left
    # Removing concurrently too.
    await asyncio.gather(*(reg.remove(n) for n in names[:12]))
    assert sorted(s.name for s in load_user_spaces(tmp_path, reg.plan)) == sorted(names[12:])


@pytest.mark.parametrize(("settings", "says"), [
    ({"url": URL, "label": {"a": 1}}, "'label' (Label) must be text, not an object"),
    ({"url": URL, "label": "x" * 50_000}, "'label' (Label) must be at most 1024 bytes"),
    ({"url": URL, "label": "two\nlines"}, "'label' (Label) must be one line of text"),
    ({"url": ["http://x"]}, "'url' (Address (URL)) must be text, not a list"),
    ({"url": "ftp://example.org/dav"}, "'url' (Address (URL)) must start with http:// or https://"),
    ({"url": "https:///dav"}, "'url' (Address (URL)) must name a host"),
    ({"url": "https://example.org:0/dav"}, "port from 1 to 65535"),
    ({"url": "https://example.org:99999/dav"}, "port from 1 to 65535"),
    ({"url": URL, "verify_tls": "yes"}, "'verify_tls' (Check the server's TLS certificate) must be true or false"),
    ({"url": URL, "chunk_mib": "10"}, "(Upload chunk size (MiB)) must be a whole number from 5 to 1024, not text"),
    ({"url": URL, "chunk_mib": 10.5}, "must be a whole number"),
    ({"url": URL, "chunk_mib": 4}, "must be from 5 to 1024"),
    ({"url": URL, "chunk_mib": True}, "must be a whole number from 5 to 1024, not true or false"),
    ({}, "Please give: Address (URL)"),
])
async def test_settings_are_checked_against_the_kinds_fields(tmp_path: Path, settings: dict, says: str) -> None:
    reg = registry(tmp_path)
    assert says in await refused(reg.add("mine", "webdav", None, settings))
    assert reg.mounts == {} and not (tmp_path / USER_SPACES).exists()


@pytest.mark.parametrize(("values", "says"), [
    ({"username": "ada", "password": "x" * (5 * 1024 * 1024)}, "'password' (Password) must be at most 8192 bytes"),
    ({"username": "a" * 2000, "password": "p"}, "'username' (User name) must be at most 1024 bytes"),
    ({"username": {"a": 1}, "password": "p"}, "'username' (User name) must be text, not an object"),
    ({"username": "ada", "password": 12}, "'password' (Password) must be text, not a number"),
    ({"username": "ada"}, "Please give: Password"),
    ({"username": "ada", "password": "p", "otp": "1"}, "Unknown fields: otp"),
])
async def test_credentials_are_checked_against_the_kinds_fields(tmp_path: Path, values: dict, says: str) -> None:
    reg = registry(tmp_path)
    await reg.add("mine", "webdav", None, {"url": URL})
    assert says in await refused(reg.set_credentials("mine", values))
    assert not (tmp_path / ".nbspaces" / "credentials").exists()


async def test_a_space_whose_credentials_cannot_be_stored_is_not_added(tmp_path: Path) -> None:
    """Adding with credentials is one operation: when they cannot be stored, no space is left behind."""
    def no_key() -> bytes:
        raise KeyUnavailable("the hub's nbspaces service is not answering")

    catalog = Catalog.parse(None, None, user_kinds=["webdav"])
    plan, _ = resolve(catalog, "ada", {}, isolation="basic", quota_enforced_by="server")
    reg = Registry(plan, str(tmp_path), no_key)
    says = await refused(reg.add("mine", "webdav", None, {"url": URL}, {"username": "a", "password": "p"}), 503)
    assert "not answering" in says
    assert reg.mounts == {} and load_user_spaces(tmp_path, plan) == []


async def test_a_space_whose_credentials_are_refused_is_not_added(tmp_path: Path) -> None:
    dav = wsgidav(tmp_path / "dav")
    try:
        reg = registry(tmp_path / "home")
        good = {"username": dav.user, "password": dav.password}
        says = await refused(reg.add("mine", "webdav", None, {"url": dav.url}, {**good, "password": "wrong"}))
        assert "refused the user name" in says
        assert reg.mounts == {} and load_user_spaces(tmp_path / "home", reg.plan) == []
        mount = await reg.add("mine", "webdav", None, {"url": dav.url}, good)
        assert mount.status == "mounted" and await reg.stored_credentials() == {"mine"}
    finally:
        dav.stop()


@pytest.mark.parametrize(("body", "says"), [
    ({"kind": "webdav"}, "'name' must be text"),
    ({"name": 3, "kind": "webdav"}, "'name' must be text"),
    ({"name": "x", "kind": "webdav", "settings": []}, "'settings' must be an object"),
    ({"name": "x", "kind": "webdav", "credentials": "secret"}, "'credentials' must be an object"),
    ({"name": "x", "kind": "webdav", "colour": "red"}, "Unknown fields: colour"),
])
def test_a_new_spaces_fields_are_checked(body: dict, says: str) -> None:
    with pytest.raises(RegistryError) as err:
        new_space(body)
    assert err.value.status == 400 and says in err.value.message


# -- through HTTP -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    hub = start_hub(tmp_path_factory.mktemp("api-input"), """
        c.NBSpaces.user_kinds = ["webdav"]
        c.NBSpaces.cull_timeout = 0
    """)
    hub.ensure_user("ada")
    hub.spawn("ada")
    try:
        yield hub
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()


def test_deeply_nested_or_huge_bodies_are_refused(hub: Hub) -> None:
    for path, method in (("nbspaces/api/spaces", "POST"), ("nbspaces/api/spaces/mine/credentials", "PUT")):
        deep = "[" * 100_000 + "]" * 100_000
        r = hub.server("ada", method, path, data=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "64 KiB" in r.json()["message"], r.text
        nested = "[" * 30_000 + "]" * 30_000  # under 64 KiB, nested beyond any use
        r = hub.server("ada", method, path, data=nested, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "nested too deeply" in r.json()["message"], r.text
        big = json.dumps({"name": "big", "kind": "webdav", "settings": {"url": URL, "label": "x" * 200_000}})
        r = hub.server("ada", method, path, data=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
    r = hub.server("ada", "POST", "nbspaces/api/spaces",
                   json={"name": "odd", "kind": "webdav", "settings": {"url": URL, "label": {"x": 1}}})
    assert r.status_code == 400 and r.json()["message"].startswith("'label' (Label) must be text"), r.text
    r = hub.server("ada", "POST", "nbspaces/api/spaces", json={"name": "home\n", "kind": "webdav",
                                                              "settings": {"url": URL}})
    assert r.status_code == 400, r.text
    assert {s["name"] for s in plan_of(hub, "ada")["spaces"]} == {"home"}


# -- credentials in any script --------------------------------------------------------------

UNICODE_LOGINS = [("jürgen€", "pass€word"), ("Юлия", "пароль-Ж"), ("ada🙂", "🔑 key 🙂")]


@pytest.mark.parametrize("server", [wsgidav, rclone])
@pytest.mark.parametrize(("user", "password"), UNICODE_LOGINS)
async def test_user_names_and_passwords_beyond_ascii_connect(tmp_path: Path, server: object, user: str,
                                                             password: str) -> None:
    """Basic auth in UTF-8, as RFC 7617 and the servers say: a '€' in a password used to end in a 500."""
    dav = server(tmp_path, user=user, password=password)  # type: ignore[operator]
    try:
        reg = registry(tmp_path / "home")
        await reg.add("mine", "webdav", None, {"url": dav.url})
        assert "refused" in await refused(reg.set_credentials("mine", {"username": user, "password": password + "x"}))
        mount = await reg.set_credentials("mine", {"username": user, "password": password})
        assert mount.status == "mounted", mount.reason
        driver = reg.driver(mount)
        await asyncio.to_thread(driver.write, "note.txt", [b"hello"], 5)
        assert (dav.root / "note.txt").read_bytes() == b"hello"
        assert b"".join(await asyncio.to_thread(lambda: list(driver.read("note.txt")))) == b"hello"
    finally:
        dav.stop()
