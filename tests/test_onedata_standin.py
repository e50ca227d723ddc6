"""The Onedata stand-in checked against Onedata's own clients, so it cannot drift from the real API.

``onedatafilerestclient.OnedataFileRESTClient`` and ``fs.onedatarestfs.OnedataRESTFS`` (PyFilesystem2)
are Onedata's published pure-Python clients; every test here drives them against
:class:`tests.standins.onedata.OnedataStandIn` over real HTTPS. A response shape they do not expect
makes them fail (a missing key, a wrong status, a wrong error body), and so these tests.

The Onezone calls of the login flow (named tokens by an IdP access token) are in no client; they
are checked against the shapes of oz-worker's ``token_rest_translator`` with plain requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fs.errors
import pytest
import requests
from fs.onedatarestfs import OnedataRESTFS
from onedatafilerestclient import OnedataFileRESTClient, OnedataRESTError
from onedatafilerestclient.errors import NoAvailableProviderForSpaceError, ReadonlyTokenError
from onedatafilerestclient.onezone_rest_client import OnezoneRESTClient

from tests.standins.onedata import OnedataStandIn


@dataclass
class World:
    od: OnedataStandIn
    user: str
    space: str  # id of the space "alpha"
    token: str

    def client(self, token: str | None = None, **kw: Any) -> OnedataFileRESTClient:
        # verify_ssl is annotated bool but goes straight to requests' Session.verify, which takes a CA bundle path
        return OnedataFileRESTClient(self.od.onezone_host, token or self.token, verify_ssl=self.od.verify,
                                     timeout=(5, 20), **kw)

    def restfs(self, token: str | None = None) -> OnedataRESTFS:
        return OnedataRESTFS(self.od.onezone_host, token or self.token, verify_ssl=self.od.verify,
                             timeout=20)

    def disk(self, rel: str) -> Path:
        return self.od.space_dir(self.space) / rel


@pytest.fixture
def onedata(tmp_path: Path) -> Iterator[OnedataStandIn]:
    with OnedataStandIn(tmp_path / "onedata") as od:
        yield od
        assert od.errors == []


@pytest.fixture
def world(onedata: OnedataStandIn) -> World:
    user = onedata.add_user("Alice")
    space = onedata.add_space("alpha", [user])
    return World(onedata, user, space, onedata.create_token(user, name="rest"))


# ---- TLS, hosts, configuration


def test_tls_is_verified_with_the_stand_in_ca(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert world.od.onezone_host.startswith("127.0.0.1:")
    assert world.client().list_spaces() == ["alpha"]
    # HttpClient calls Session.send directly, so REQUESTS_CA_BUNDLE is not read: the CA must go in verify_ssl
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", world.od.verify)
    with pytest.raises(requests.exceptions.SSLError):
        OnedataFileRESTClient(world.od.onezone_host, world.token).list_spaces()


def test_provider_configuration_names_its_onezone(world: World) -> None:
    url = f"https://{world.od.provider_domain()}/api/v3/oneprovider/configuration"
    conf = requests.get(url, verify=world.od.verify, timeout=10).json()
    assert conf["onezoneDomain"] == world.od.onezone_host
    assert conf["providerId"] == world.od.provider_id
    assert conf["domain"] == world.od.provider_domain()


# ---- spaces


def test_list_spaces_and_token_scope(world: World) -> None:
    od = world.od
    s1, s2 = od.add_space("shared", [world.user]), od.add_space("shared", [world.user])
    od.add_space("not-mine", [od.add_user("Bob")])
    client = world.client()
    assert client.list_spaces() == ["alpha", *sorted([f"shared@{s1}", f"shared@{s2}"])]
    scope = client.get_token_scope()
    assert scope["validUntil"] is None and scope["dataAccessScope"]["readonly"] is False
    assert scope["dataAccessScope"]["spaces"][world.space] == {"name": "alpha", "supports": {od.provider_id: {
        "readonly": False}}}
    assert scope["dataAccessScope"]["providers"][od.provider_id]["domain"] == od.provider_domain()
    assert client.get_space_id("alpha") == world.space
    assert sorted(world.restfs().listdir("/")) == sorted(client.list_spaces())
    only_alpha = od.create_token(world.user, spaces=[world.space])
    assert world.client(only_alpha).list_spaces() == ["alpha"]
    with pytest.raises(KeyError):  # the client cannot even name a space outside the token's scope
        world.client(only_alpha).get_attributes(f"shared@{s1}")
    raw = requests.get(f"https://{od.provider_domain()}/api/v3/oneprovider/data/{s1}",
                       headers={"X-Auth-Token": only_alpha}, verify=od.verify, timeout=10)
    assert (raw.status_code, raw.json()["error"]["details"]) == (400, {"errno": "eacces"})


def test_space_root_ids(world: World) -> None:
    client = world.client()
    attrs = client.get_attributes("alpha")  # GET /data/{spaceId}: a space id stands for its root
    assert attrs["name"] == "alpha" and attrs["type"] == "DIR" and attrs["parentFileId"] is None
    assert attrs["fileId"] != world.space
    assert client.get_file_id("alpha") == attrs["fileId"]
    info = world.restfs().getinfo("alpha")
    assert info.is_dir and info.name == "alpha"


# ---- listing


def test_listing_2500_entries_pages(world: World) -> None:
    names = [f"f{i:04d}.txt" for i in range(2500)]
    for name in names:
        world.od.add_file(world.space, f"big/{name}", name.encode())
    restfs = world.restfs()
    before = world.od.count("GET", "/children")
    assert restfs.listdir("alpha/big") == names
    assert world.od.count("GET", "/children") - before == 3  # 1000 + 1000 + 500
    page = list(restfs.scandir("alpha/big", namespaces=["details"], page=(1500, 2500)))
    assert [i.name for i in page] == names[1500:2500] and page[0].size == len(names[1500])

    client = world.client()
    seen, token, pages = [], None, 0
    while True:
        res = client.list_children("alpha", file_path="big", limit=500, continuation_token=token)
        seen += [c["name"] for c in res["children"]]
        pages += 1
        if res["isLast"]:
            break
        token = res["nextPageToken"]
    assert seen == names and pages == 6  # isLast only once a page comes back short, as op-worker does
    res = client.list_children("alpha", file_path="big", limit=10000, attributes=["name", "size", "fileId"])
    assert len(res["children"]) == 2500 and res["isLast"] and set(res["children"][0]) == {"name", "size", "fileId"}
    with pytest.raises(OnedataRESTError) as e:
        client.list_children("alpha", file_path="big", limit=10001)
    assert (e.value.http_code, e.value.category) == (400, "badValueNotInRange")


# ---- create, write, read, stat


def test_create_dir_write_with_offsets_and_read_ranges(world: World) -> None:
    restfs, client = world.restfs(), world.client()
    restfs.makedir("alpha/docs")
    assert world.disk("docs").is_dir()
    with pytest.raises(fs.errors.DirectoryExists):
        restfs.makedir("alpha/docs")
    restfs.makedir("alpha/a/b/c", recreate=True)  # recreate=True sends create_parents=true
    assert world.disk("a/b/c").is_dir()

    with restfs.openbin("alpha/docs/data.bin", "w") as f:
        for chunk in (b"hello ", b"onedata ", b"world"):
            f.write(chunk)
    assert world.disk("docs/data.bin").read_bytes() == b"hello onedata world"
    assert world.od.count("PUT", "/content?offset=") == 3
    assert world.od.count("PUT", "?offset=6") == 1 and world.od.count("PUT", "?offset=14") == 1

    with restfs.openbin("alpha/docs/data.bin", "r") as f:
        f.seek(6)
        before = world.od.count("GET", "/content")
        assert f.read(7) == b"onedata"
        assert f.read(100) == b" world"
        assert f.read(1) == b""
    assert world.od.count("GET", "/content") - before == 2
    assert restfs.readbytes("alpha/docs/data.bin") == b"hello onedata world"
    assert client.get_file_content("alpha", file_path="docs/data.bin", offset=15, size=100) == b"orld"
    streamed = client.iter_file_content("alpha", file_path="docs/data.bin", chunk_size=4)
    assert b"".join(streamed) == b"hello onedata world"
    with pytest.raises(OnedataRESTError) as e:
        client.get_file_content("alpha", file_path="docs/data.bin", offset=19, size=1)
    assert e.value.http_code == 416

    client.put_file_content("alpha", b"HELLO", file_path="docs/data.bin", offset=0)
    assert world.disk("docs/data.bin").read_bytes() == b"HELLO onedata world"
    client.put_file_content("alpha", b"!", file_path="docs/data.bin", offset=21)
    assert world.disk("docs/data.bin").read_bytes() == b"HELLO onedata world\0\0!"
    client.put_file_content("alpha", b"new", file_path="docs/data.bin")  # no offset: the file is replaced
    assert world.disk("docs/data.bin").read_bytes() == b"new"
    with restfs.openbin("alpha/docs/data.bin", "w") as f:  # "w" on an existing file does not truncate
        f.write(b"N")
    assert world.disk("docs/data.bin").read_bytes() == b"New"

    with pytest.raises(OnedataRESTError) as e:
        client.create_file("alpha", "docs/data.bin")
    assert (e.value.http_code, e.value.category, e.value.details) == (400, "posix", {"errno": "eexist"})
    with pytest.raises(OnedataRESTError) as e:
        client.create_file("alpha", "nowhere/x.txt")
    assert e.value.details == {"errno": "enoent"}
    new_id = client.create_file("alpha", "nowhere/x.txt", create_parents=True, mode=0o600)
    assert client.get_file_id("alpha", file_path="nowhere/x.txt") == new_id
    assert client.get_attributes("alpha", file_id=new_id, attributes=["posixPermissions"]) == {
        "posixPermissions": "600"}


def test_stat_and_attributes(world: World) -> None:
    world.od.add_file(world.space, "docs/data.bin", b"x" * 1234)
    restfs, client = world.restfs(), world.client()
    info = restfs.getinfo("alpha/docs/data.bin", namespaces=["details", "access"])
    assert (info.name, info.is_dir, info.size) == ("data.bin", False, 1234)
    assert restfs.getinfo("alpha/docs").is_dir
    assert restfs.exists("alpha/docs/data.bin") and not restfs.exists("alpha/docs/missing")
    with pytest.raises(fs.errors.ResourceNotFound):
        restfs.getinfo("alpha/docs/missing")
    with pytest.raises(fs.errors.ResourceNotFound):  # a path below a file: enotdir, which the fs maps
        restfs.getinfo("alpha/docs/data.bin/below")

    attrs = client.get_attributes("alpha", file_path="docs/data.bin")  # the default set
    assert attrs["size"] == 1234 and attrs["type"] == "REG" and attrs["posixPermissions"] == "664"
    assert attrs["parentFileId"] == client.get_file_id("alpha", file_path="docs")
    some = client.get_attributes("alpha", file_path="docs/data.bin", attributes=["name", "path", "xattr.note"])
    assert some == {"name": "data.bin", "path": "/alpha/docs/data.bin", "xattr.note": None}
    with pytest.raises(KeyError):  # the client refuses attribute names it does not know
        client.get_attributes("alpha", file_path="docs/data.bin", attributes=["colour"])
    raw = requests.get(f"https://{world.od.provider_domain()}/api/v3/oneprovider/data/{attrs['fileId']}",
                       params={"attributes": "colour"}, headers={"X-Auth-Token": world.token},
                       verify=world.od.verify, timeout=10)
    assert raw.status_code == 400 and raw.json()["error"]["id"] == "badValueNotAllowed"


def test_older_provider_gets_the_deprecated_attribute_names(tmp_path: Path) -> None:
    with OnedataStandIn(tmp_path / "od", provider_version="21.02.4") as od:
        user = od.add_user()
        od.add_space("alpha", [user])
        od.add_file(od.spaces[next(iter(od.spaces))].id, "a/b.txt", b"12345")
        client = OnedataFileRESTClient(od.onezone_host, od.create_token(user), verify_ssl=od.verify)
        assert client.get_attributes("alpha", file_path="a/b.txt", attributes=["size"]) == {"size": 5}
        assert od.count("GET", "?attribute=size") == 1
        assert client.list_children("alpha", file_path="a")["children"] == [{"name": "b.txt", "type": "REG"}]
        assert od.count("GET", "attribute=name&attribute=type") == 1
        assert od.errors == []


# ---- rename, move, delete


def test_rename_and_move(world: World) -> None:
    od, restfs, client = world.od, world.restfs(), world.client()
    od.add_file(world.space, "docs/data.bin", b"payload")
    od.add_dir(world.space, "archive")
    file_id = client.get_file_id("alpha", file_path="docs/data.bin")
    restfs.move("alpha/docs/data.bin", "alpha/docs/renamed.bin")
    assert not world.disk("docs/data.bin").exists() and world.disk("docs/renamed.bin").read_bytes() == b"payload"
    assert od.count("PUT", "/cdmi/") == 1
    assert client.get_file_id("alpha", file_path="docs/renamed.bin") == file_id  # ids survive a rename
    restfs.move("alpha/docs/renamed.bin", "alpha/archive/renamed.bin")
    assert world.disk("archive/renamed.bin").read_bytes() == b"payload"
    od.add_file(world.space, "docs/other.bin", b"other")
    with pytest.raises(fs.errors.DestinationExists):
        restfs.move("alpha/docs/other.bin", "alpha/archive/renamed.bin")
    restfs.move("alpha/docs/other.bin", "alpha/archive/renamed.bin", overwrite=True)
    assert world.disk("archive/renamed.bin").read_bytes() == b"other"
    client.move("alpha", "archive", "alpha", "old-archive")  # folders move too (the fs refuses them itself)
    assert world.disk("old-archive/renamed.bin").exists()
    with pytest.raises(OnedataRESTError) as e:
        client.move("alpha", "missing.bin", "alpha", "x.bin")
    assert (e.value.http_code, e.value.details) == (400, {"errno": "enoent"})


def test_delete(world: World) -> None:
    od, restfs, client = world.od, world.restfs(), world.client()
    od.add_file(world.space, "docs/a.txt", b"a")
    od.add_file(world.space, "docs/sub/b.txt", b"b")
    restfs.remove("alpha/docs/a.txt")
    assert not world.disk("docs/a.txt").exists()
    with pytest.raises(fs.errors.DirectoryNotEmpty):
        restfs.removedir("alpha/docs")
    with pytest.raises(fs.errors.ResourceNotFound):
        restfs.remove("alpha/docs/a.txt")
    old_id = client.get_file_id("alpha", file_path="docs/sub/b.txt")
    client.remove("alpha", file_path="docs")  # DELETE /data/{id} removes a folder recursively
    assert not world.disk("docs").exists()
    with pytest.raises(OnedataRESTError) as e:
        client.get_attributes("alpha", file_id=old_id)
    assert (e.value.http_code, e.value.category, e.value.details) == (400, "posix", {"errno": "enoent"})
    assert "Operation failed with POSIX error: enoent." in str(e.value)


# ---- tokens


def test_wrong_tokens_fail_with_the_clients_errors(world: World) -> None:
    with pytest.raises(OnedataRESTError) as e:
        world.client("not-a-token").list_spaces()
    assert (e.value.http_code, e.value.category) == (400, "badValueToken")
    assert e.value.details["tokenError"]["id"] == "badToken"
    assert str(e.value).startswith('HTTP 400 [badValueToken] Bad value: provided "token" is not a valid token')
    with pytest.raises(fs.errors.FSError) as fe:
        world.restfs("not-a-token").listdir("/")
    # the fs puts the client's message in FSError(msg=...), whose str() runs str.format on it: the braces of
    # the error details make str() itself raise, so the message can only be read from _msg
    assert fe.value._msg.startswith("HTTP 400 [badValueToken]")
    with pytest.raises(KeyError):
        str(fe.value)
    unknown = world.od.create_token(world.user)
    del world.od.tokens[world.od.token(unknown).id]
    with pytest.raises(OnedataRESTError) as e:
        world.client(unknown).list_spaces()
    assert (e.value.http_code, e.value.category, e.value.description) == (400, "tokenInvalid",
                                                                          "Provided token is not valid.")
    raw = requests.post(f"https://{world.od.provider_domain()}/api/v3/oneprovider/lookup-file-id/alpha",
                        headers={"X-Auth-Token": "not-a-token"}, verify=world.od.verify, timeout=10)
    assert raw.status_code == 401
    assert raw.json()["error"]["details"]["authError"]["id"] == "badToken"


def test_revoked_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # keep the client's token scope cache (2 s) for the whole test, so its next call goes to the provider
    monkeypatch.setattr(OnezoneRESTClient, "_token_scope_cache_time_limit_ns", 10**12)
    cached = world.client()
    assert cached.list_spaces() == ["alpha"]
    world.od.revoke_token(world.token)
    with pytest.raises(OnedataRESTError) as e:
        world.client().list_spaces()
    assert (e.value.http_code, e.value.category) == (400, "tokenRevoked")
    assert str(e.value) == "HTTP 400 [tokenRevoked] Provided token has been revoked."
    with pytest.raises(OnedataRESTError) as e:
        cached.get_attributes("alpha")
    assert (e.value.http_code, e.value.category) == (401, "unauthorized")
    assert e.value.details == {"authError": {"id": "tokenRevoked", "description": "Provided token has been revoked."}}
    with pytest.raises(fs.errors.FSError, match="tokenRevoked"):
        world.restfs().listdir("/")


def test_expired_readonly_and_oneclient_only_tokens(world: World) -> None:
    od = world.od
    soon = int(time.time()) + 3600
    od.set_token_expiry(world.token, soon)
    assert world.client().get_token_scope()["validUntil"] == soon
    od.set_token_expiry(world.token, int(time.time()) - 10)
    with pytest.raises(OnedataRESTError) as e:
        world.client().list_spaces()
    assert (e.value.http_code, e.value.category) == (400, "tokenCaveatUnverified")
    assert e.value.details["caveat"]["type"] == "time"
    assert "this token has expired at" in str(e.value)

    readonly = od.create_token(world.user, readonly=True)
    assert world.client(readonly).get_token_scope()["dataAccessScope"]["readonly"] is True
    with pytest.raises(ReadonlyTokenError):
        world.client(readonly).create_file("alpha", "x.txt")
    root = world.client(readonly).get_file_id("alpha")
    raw = requests.put(f"https://{od.provider_domain()}/api/v3/oneprovider/data/{root}/path/x.txt",
                       headers={"X-Auth-Token": readonly}, verify=od.verify, timeout=10)
    assert raw.status_code == 400 and raw.json()["error"]["details"] == {"errno": "eacces"}

    oneclient_only = od.create_token(world.user, interface="oneclient")
    assert world.client(oneclient_only).list_spaces() == ["alpha"]  # Onezone ignores the interface caveat here
    with pytest.raises(OnedataRESTError) as e:  # but the provider's REST interface refuses the token
        world.client(oneclient_only).get_attributes("alpha")
    assert (e.value.http_code, e.value.category) == (401, "unauthorized")
    assert e.value.details["authError"]["details"]["caveat"] == {"type": "interface", "interface": "oneclient"}


# ---- provider offline


def test_provider_offline(world: World) -> None:
    od = world.od
    od.go_offline(zone_knows=True)  # Onezone reports it offline: the client does not even try it
    with pytest.raises(NoAvailableProviderForSpaceError) as e:
        world.client().get_attributes("alpha")
    assert "Could not find any available Onedata provider for the space 'alpha@" in str(e.value)
    restfs = world.restfs()
    assert restfs.listdir("/") == ["alpha"]  # listing spaces needs Onezone only
    assert [i.name for i in restfs.scandir("/")] == ["alpha"]  # with made-up attributes for the space
    with pytest.raises(fs.errors.FSError, match="Could not find any available Onedata provider"):
        restfs.getinfo("alpha")

    od.go_offline(zone_knows=False)  # still listed online, but connections drop: tried, graylisted, given up
    calls = od.count()
    with pytest.raises(NoAvailableProviderForSpaceError):
        world.client().get_attributes("alpha")
    assert od.count() - calls >= 2

    od.go_offline(how="no_onezone", zone_knows=False)  # answers 503 until Onezone notices it is gone
    with pytest.raises(OnedataRESTError) as e2:
        world.client().get_attributes("alpha")
    assert (e2.value.http_code, e2.value.category) == (503, "noConnectionToOnezone")

    od.go_online()
    assert world.client().get_attributes("alpha")["name"] == "alpha"


def test_second_provider_takes_over(world: World) -> None:
    od = world.od
    second = od.add_provider("Second Oneprovider")
    shared = od.add_space("shared", [world.user], providers=[od.provider_id, second])
    od.add_file(shared, "f.txt", b"both")
    od.go_offline(zone_knows=False)
    client = world.client(preferred_providers=[od.provider_id])
    assert client.get_file_content("shared", file_path="f.txt") == b"both"
    assert any(who == second for who, _, _ in od.calls)


# ---- login flow (not in the clients): named tokens by an IdP access token


def test_named_tokens_by_idp_access_token(world: World) -> None:
    od = world.od
    od.add_idp_token("idp-access-1", world.user)
    base = f"https://{od.onezone_host}/api/v3/onezone"
    auth = {"x-auth-token": "egi:idp-access-1"}
    missing = requests.get(f"{base}/user/tokens/named/name/jupyter", headers=auth, verify=od.verify, timeout=10)
    assert missing.status_code == 404 and missing.json() == {"error": {
        "id": "notFound", "description": "The resource could not be found."}}
    body = {"name": "jupyter", "type": {"accessToken": {}},
            "caveats": [{"type": "interface", "interface": "rest"},
                        {"type": "time", "validUntil": int(time.time()) + 3600}]}
    created = requests.post(f"{base}/user/tokens/named", json=body, headers=auth, verify=od.verify, timeout=10)
    assert created.status_code == 201 and set(created.json()) == {"tokenId", "token"}
    assert created.headers["Location"].endswith(f"/tokens/named/{created.json()['tokenId']}")
    got = requests.get(f"{base}/user/tokens/named/name/jupyter", headers=auth, verify=od.verify, timeout=10).json()
    assert got["token"] == created.json()["token"] and got["id"] == created.json()["tokenId"]
    assert got["revoked"] is False and got["subject"] == {"type": "user", "id": world.user}
    assert world.client(got["token"]).list_spaces() == ["alpha"]
    again = requests.post(f"{base}/user/tokens/named", json=body, headers=auth, verify=od.verify, timeout=10)
    assert again.status_code == 400 and again.json()["error"]["id"] == "badValueIdentifierOccupied"

    bad = requests.get(f"{base}/user/tokens/named/name/jupyter", headers={"x-auth-token": "egi:expired"},
                       verify=od.verify, timeout=10)
    assert bad.status_code == 401
    assert bad.json()["error"]["details"]["authError"] == {
        "id": "badIdpAccessToken", "details": {"idp": "egi"},
        "description": 'Provided access token for "egi" is not valid.'}
    od.idp_validator = lambda idp, token: world.user if (idp, token) == ("egi", "checked-by-oidc") else None
    ok = requests.get(f"{base}/user", headers={"x-auth-token": "egi:checked-by-oidc"}, verify=od.verify, timeout=10)
    assert ok.json()["userId"] == world.user
