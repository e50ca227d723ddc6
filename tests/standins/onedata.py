"""A stand-in for Onezone and Oneprovider (Onedata, as in EGI DataHub), following the published REST API.

No Onedata server can run here (a Onezone and a Oneprovider are Erlang clusters with Couchbase,
a storage backend and an identity provider), so tests talk to this stand-in instead. It is a real
HTTPS server on 127.0.0.1 (a certificate made at start, signed by a throw-away CA in
:attr:`OnedataStandIn.ca_file`), and it answers what Onedata's own pure-Python clients
(``onedatafilerestclient``, ``fs.onedatarestfs``) call, shaped as Onedata's sources shape it
(oz-worker ``token_logic_plugin``, op-worker ``rest_handler``, ``file_middleware_get_handler``,
``file_content_rest_handler``, ``cdmi_*``, ctool ``errors``); ``tests/test_onedata_standin.py``
runs those clients against it.

Onezone (``https://{onezone_host}/api/v3/onezone``):

- ``POST /tokens/infer_access_token_scope`` body ``{"token"}`` (no auth) -> ``{validUntil,
  dataAccessScope: {readonly, spaces: {id: {name, supports: {providerId: {readonly}}}},
  providers: {id: {name, domain, version, online}}}}``. Errors are 400: ``badValueToken`` (not
  a token), ``tokenInvalid``, ``tokenRevoked``, ``tokenCaveatUnverified`` (expired).
- ``GET /user``, ``GET /user/tokens/named/name/{name}`` and ``POST /user/tokens/named`` (201,
  ``{"tokenId", "token"}``), authenticated by ``x-auth-token: <token>`` or by an identity
  provider's access token as ``x-auth-token: egi:<idp access token>``, which
  :attr:`OnedataStandIn.idp_validator` accepts or refuses (401 ``badIdpAccessToken``).

Oneprovider (``https://{domain}/api/v3/oneprovider``, ``X-Auth-Token``; a bad token is 401
``unauthorized`` with the token error in ``details.authError``):

- ``GET /configuration`` (no auth): ``{providerId, name, domain, onezoneDomain, version, ...}``.
- ``POST /lookup-file-id/{space}/{path}`` (space as ``name`` or ``name@id``) -> ``{"fileId"}``.
- ``GET /data/{id}`` attributes (``{"attributes": [...]}`` body, deprecated ``?attribute=``
  query, or the default set in both namings); ``PUT /data/{id}`` ``{"mode"}``.
- ``GET /data/{id}/children?limit=&token=`` -> ``{children, isLast, nextPageToken}``, sorted by
  name, limit 1..10000 (default 1000), ``isLast`` once a page comes back short.
- ``GET /data/{id}/content`` (``Range``: 206 + ``Content-Range``, several ranges as
  multipart/byteranges, 416 when unsatisfiable); ``PUT /data/{id}/content[?offset=N]`` (no
  offset truncates first); ``DELETE /data/{id}`` (folders recursively).
- ``PUT|GET|DELETE /data/{id}/path/{rel}?type=REG|DIR&create_parents=&mode=`` (201 ``{"fileId"}``).
- CDMI ``PUT /cdmi/{space}/{path}`` with ``X-CDMI-Specification-Version`` and
  ``{"move": "{space}/{src}"}`` (or a plain create), as the client's ``move`` uses it.
- ``{id}`` is a file id or a supported space id (the space's root); POSIX failures are 400
  ``{"error": {"id": "posix", "details": {"errno": "enoent"}, ...}}``.

Hosts are ``127.0.0.1:<port>``, one port for Onezone and one per Oneprovider: the clients only
format them into ``https://{host}/...``, so no name mapping is needed. Not implemented: downloading
a folder (a 302 to a tarball), links, xattrs (``xattr.*`` attributes read as null) and metadata,
QoS, shares, the ``index``/``offset`` listing parameters; a readonly support is only reported.

Each space is a directory on disk (:meth:`OnedataStandIn.space_dir`); file ids are kept in a map
from path to id. Test hooks: :meth:`add_user`, :meth:`add_provider`, :meth:`add_space`,
:meth:`add_file`, :meth:`create_token`, :meth:`revoke_token`, :meth:`set_token_expiry`,
:meth:`add_idp_token`, :meth:`go_offline`, :meth:`go_online`, and :attr:`calls` / :meth:`count`.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import ipaddress
import json
import mimetypes
import os
import shutil
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OZ, OP = "/api/v3/onezone", "/api/v3/oneprovider"
MAX_LIST = 10000
FILE_MODE, DIR_MODE = 0o664, 0o775
# current attribute name -> deprecated (snake_case) name, for the attributes op-worker knows in both namings
DEPRECATED = {"fileId": "file_id", "parentFileId": "parent_id", "name": "name", "posixPermissions": "mode",
              "atime": "atime", "mtime": "mtime", "ctime": "ctime", "type": "type", "size": "size",
              "directShareIds": "shares", "index": "index", "displayUid": "storage_user_id",
              "displayGid": "storage_group_id", "ownerUserId": "owner_id", "originProviderId": "provider_id",
              "hardlinkCount": "hardlinks_count"}
CURRENT = [*DEPRECATED, "activePermissionsType", "acl", "conflictingName", "path", "creationTime",
           "isFullyReplicatedLocally", "localReplicationRate", "symlinkValue", "hasCustomMetadata",
           "effProtectionFlags", "effDatasetProtectionFlags", "effDatasetInheritancePath",
           "effQosInheritancePath", "aggregateQosStatus", "archiveRecallRootFileId"]
ProviderState = Literal["online", "down", "no_onezone"]


class OnedataError(Exception):
    """An error answer: ``{"error": {"id", "description"[, "details"]}}`` with its HTTP status."""

    def __init__(self, status: int, eid: str, description: str, details: Any = None):
        super().__init__(description)
        self.status, self.body = status, {"id": eid, "description": description}
        if details is not None:
            self.body["details"] = details


class _TokenRefused(Exception):
    """A token Onedata would refuse; ``error`` is the token error (``badToken``, ``tokenRevoked``, ...)."""

    def __init__(self, error: dict[str, Any]):
        super().__init__(error["id"])
        self.error = error


def posix(name: str) -> OnedataError:
    return OnedataError(400, "posix", f"Operation failed with POSIX error: {name}.", {"errno": name})


def _token_error(kind: str, caveat: dict[str, Any] | None = None) -> dict[str, Any]:
    if kind == "badToken":
        return {"id": "badToken", "description": "Provided token could not be understood by the server."}
    if kind == "tokenInvalid":
        return {"id": "tokenInvalid", "description": "Provided token is not valid."}
    if kind == "tokenRevoked":
        return {"id": "tokenRevoked", "description": "Provided token has been revoked."}
    assert caveat is not None
    if caveat["type"] == "time":
        stamp = datetime.fromtimestamp(caveat["validUntil"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        why = f"unverified time caveat: this token has expired at '{stamp}'"
    else:
        why = f"unverified interface caveat: this token can only be used in the '{caveat['interface']}' interface"
    return {"id": "tokenCaveatUnverified", "details": {"caveat": caveat},
            "description": f"Provided token is not valid - {why}."}


def unauthorized(auth_error: dict[str, Any] | None = None) -> OnedataError:
    if auth_error is None:
        return OnedataError(401, "unauthorized", "You must authenticate yourself to perform this operation.")
    return OnedataError(401, "unauthorized", "Provided authentication is not valid (see details).",
                        {"authError": auth_error})


def _bad(eid: str, key: str, text: str, **details: Any) -> OnedataError:
    return OnedataError(400, eid, f'Bad value: provided "{key}" {text}.', {"key": key, **details})


def _entity_id(kind: str, n: int) -> str:
    digest = hashlib.sha256(f"nbspaces-standin-{kind}-{n}".encode()).hexdigest()
    return f"{digest[:32]}ch{digest[32:36]}"  # the shape of real Onedata ids


def _mkdir(path: Path, mode: int = DIR_MODE) -> None:
    path.mkdir()
    os.chmod(path, mode)  # the mode Oneprovider gives, whatever the umask


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


@dataclass
class Token:
    id: str
    serialized: str
    user_id: str
    name: str
    caveats: list[dict[str, Any]]
    created: int
    revoked: bool = False

    def caveat(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.caveats if c.get("type") == kind), None)

    def space_whitelist(self) -> set[str] | None:
        """Space ids a ``data.path`` caveat allows (whole-space paths ``/<spaceId>``), None if no such caveat."""
        paths = [p for c in self.caveats if c.get("type") == "data.path" for p in c.get("whitelist", [])]
        return {base64.b64decode(p).decode().strip("/").split("/")[0] for p in paths} if paths else None


@dataclass
class Provider:
    id: str
    name: str
    server: _Server | None = None
    state: ProviderState = "online"
    zone_knows: bool = True

    @property
    def domain(self) -> str:
        assert self.server is not None, "start the stand-in first"
        return f"127.0.0.1:{self.server.server_address[1]}"


@dataclass
class Space:
    id: str
    name: str
    root: Path
    members: set[str]
    supports: dict[str, bool] = field(default_factory=dict)  # provider id -> readonly support


@dataclass
class Request:
    method: str
    path: str  # still percent-encoded
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise OnedataError(400, "malformedData", "Provided data could not be understood by the server.") from None
        if not isinstance(value, dict):
            raise OnedataError(400, "malformedData", "Provided data could not be understood by the server.")
        return value

    def param(self, key: str, default: str | None = None) -> str | None:
        return self.query[key][-1] if key in self.query else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any, **headers: str) -> Response:
    return Response(status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: Callable[[Request], Response | None], tls: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app, self.tls = app, tls

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()  # the TLS handshake happens in the request's own thread
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused certificates and dropped connections are the client's business


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        path, _, qs = self.path.partition("?")
        req = Request(self.command, path, parse_qs(qs, keep_blank_values=True), self.headers, self._body())
        resp = self.server.app(req)
        if resp is None:  # a provider that is down: the connection drops without an answer
            self.close_connection = True
            return
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", resp.headers.get("Content-Length", str(len(resp.body))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


def _make_tls(tls_dir: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nbspaces Onedata stand-in CA")])
    usage = {k: False for k in ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                                "encipher_only", "decipher_only")}
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tls_dir / "ca.pem", tls_dir / "server.pem", tls_dir / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_file, 0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ca_file, ctx


class OnedataStandIn:
    """One Onezone and its Oneproviders; :meth:`start` serves them until :meth:`stop`."""

    def __init__(self, base: Path, *, provider_version: str = "21.02.8", idp: str = "egi"):
        self.base, self.provider_version, self.idp = Path(base), provider_version, idp
        self.users: dict[str, str] = {}  # id -> full name
        self.providers: dict[str, Provider] = {}
        self.spaces: dict[str, Space] = {}
        self.tokens: dict[str, Token] = {}  # token id -> token
        self.idp_tokens: dict[str, str] = {}  # IdP access token -> user id
        # (idp, access token) -> user id, or None to refuse it; tests may plug in a real OIDC check here
        self.idp_validator: Callable[[str, str], str | None] = lambda _idp, tok: self.idp_tokens.get(tok)
        self.calls: list[tuple[str, str, str]] = []  # (onezone | provider id, method, path?query)
        self.download_ranges: list[str | None] = []  # each file download's Range header (None: the whole file)
        self.errors: list[str] = []  # unexpected exceptions in the stand-in itself (answered 500)
        self._lock = threading.RLock()
        self._ids: dict[str, tuple[str, str]] = {}  # file id -> (space id, relative path)
        self._paths: dict[tuple[str, str], str] = {}
        self._counter = 0
        self._zone: _Server | None = None
        self.ca_file, self._tls = _make_tls(self.base / "tls")
        self.provider_id = self.add_provider("Stand-in Oneprovider")

    # ---- life cycle
    def start(self) -> OnedataStandIn:
        self._zone = self._zone or self._serve(self._zone_app)
        for provider in self.providers.values():
            provider.server = provider.server or self._serve(self._provider_app(provider))
        return self

    def stop(self) -> None:
        for server in [self._zone, *(p.server for p in self.providers.values())]:
            if server is not None:
                server.shutdown()
                server.server_close()
        self._zone = None
        for provider in self.providers.values():
            provider.server = None

    def __enter__(self) -> OnedataStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, app: Callable[[Request], Response | None]) -> _Server:
        server = _Server(app, self._tls)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True, name="onedata-standin").start()
        return server

    @property
    def onezone_host(self) -> str:
        assert self._zone is not None, "start the stand-in first"
        return f"127.0.0.1:{self._zone.server_address[1]}"

    @property
    def verify(self) -> str:
        """What to pass as ``verify_ssl``/``verify``: the CA bundle that signed the servers' certificate."""
        return str(self.ca_file)

    def provider_domain(self, provider_id: str | None = None) -> str:
        return self.providers[provider_id or self.provider_id].domain

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(1 for _, m, p in self.calls if (method is None or m == method) and contains in p)

    # ---- test hooks
    def _next(self, kind: str) -> str:
        self._counter += 1
        return _entity_id(kind, self._counter)

    def add_user(self, full_name: str = "Alice") -> str:
        user_id = self._next("user")
        self.users[user_id] = full_name
        return user_id

    def add_provider(self, name: str) -> str:
        provider = Provider(self._next("provider"), name)
        self.providers[provider.id] = provider
        if self._zone is not None:
            provider.server = self._serve(self._provider_app(provider))
        return provider.id

    def add_space(self, name: str, members: list[str], *, providers: list[str] | None = None,
                  readonly_support: bool = False) -> str:
        space_id = self._next("space")
        root = self.base / "spaces" / space_id
        root.parent.mkdir(parents=True, exist_ok=True)
        _mkdir(root)
        supports = {p: readonly_support for p in (providers if providers is not None else [self.provider_id])}
        self.spaces[space_id] = Space(space_id, name, root, set(members), supports)
        return space_id

    def space_dir(self, space_id: str) -> Path:
        return self.spaces[space_id].root

    def add_dir(self, space_id: str, rel: str) -> Path:
        """A folder (and its parents) in the space, put there directly, as if by another client."""
        path = self.space_dir(space_id)
        for part in rel.strip("/").split("/"):
            path = path / part
            if not path.is_dir():
                _mkdir(path)
        return path

    def add_file(self, space_id: str, rel: str, data: bytes = b"") -> Path:
        """A file with ``data`` in the space, put there directly; its parents are made as needed."""
        parent = rel.strip("/").rpartition("/")[0]
        path = (self.add_dir(space_id, parent) if parent else self.space_dir(space_id)) / rel.rpartition("/")[2]
        path.write_bytes(data)
        os.chmod(path, FILE_MODE)
        return path

    def create_token(self, user_id: str, *, name: str | None = None, readonly: bool = False,
                     valid_until: int | None = None, interface: str | None = None, spaces: list[str] | None = None,
                     caveats: list[dict[str, Any]] | None = None) -> str:
        """A named access token of ``user_id``; the keywords add the caveats Onezone would carry."""
        cavs = list(caveats or [])
        if valid_until is not None:
            cavs.append({"type": "time", "validUntil": valid_until})
        if interface is not None:
            cavs.append({"type": "interface", "interface": interface})
        if readonly:
            cavs.append({"type": "data.readonly"})
        if spaces is not None:
            paths = [base64.b64encode(f"/{space_id}".encode()).decode() for space_id in spaces]  # as ctool encodes
            cavs.append({"type": "data.path", "whitelist": paths})
        return self._new_token(user_id, name, cavs).serialized

    def _new_token(self, user_id: str, name: str | None, caveats: list[dict[str, Any]]) -> Token:
        token_id = self._next("token")[:32]
        token = Token(token_id, "MDAx" + _b64(f"standin:{token_id}"), user_id, name or f"access token {token_id[:6]}",
                      caveats, int(time.time()))
        self.tokens[token_id] = token
        return token

    def token(self, serialized: str) -> Token:
        return self.tokens[self._parse(serialized) or ""]

    def revoke_token(self, serialized: str) -> None:
        self.token(serialized).revoked = True

    def set_token_expiry(self, serialized: str, valid_until: int | None) -> None:
        """Give the token a time caveat ending at ``valid_until`` (seconds since the epoch), or none."""
        token = self.token(serialized)
        token.caveats = [c for c in token.caveats if c.get("type") != "time"]
        if valid_until is not None:
            token.caveats.append({"type": "time", "validUntil": valid_until})

    def add_idp_token(self, access_token: str, user_id: str) -> None:
        self.idp_tokens[access_token] = user_id

    def go_offline(self, provider_id: str | None = None, *, how: Literal["down", "no_onezone"] = "down",
                   zone_knows: bool = True) -> None:
        """``down``: connections drop unanswered; ``no_onezone``: it answers 503 ``noConnectionToOnezone``.
        ``zone_knows``: Onezone reports the provider ``online: false`` (as it does once the provider's
        link to it is gone); False models the moments before it notices."""
        provider = self.providers[provider_id or self.provider_id]
        provider.state, provider.zone_knows = how, zone_knows

    def go_online(self, provider_id: str | None = None) -> None:
        self.providers[provider_id or self.provider_id].state = "online"

    # ---- tokens
    @staticmethod
    def _parse(serialized: str) -> str | None:
        """The token id if ``serialized`` has the shape of a token (Onedata's start ``MDAx``), else None."""
        if not serialized.startswith("MDAx"):
            return None
        try:
            kind, _, token_id = _unb64(serialized[4:]).partition(":")
        except ValueError:
            return None
        return token_id if kind == "standin" and token_id else None

    def _verify(self, serialized: str, interface: str | None) -> Token:
        """The token if Onedata would accept it (``interface``: where it is used), else :class:`_TokenRefused`."""
        token_id = self._parse(serialized)
        if token_id is None:
            raise _TokenRefused(_token_error("badToken"))
        token = self.tokens.get(token_id)
        if token is None or token.user_id not in self.users:
            raise _TokenRefused(_token_error("tokenInvalid"))
        if token.revoked:
            raise _TokenRefused(_token_error("tokenRevoked"))
        valid = token.caveat("time")
        if valid is not None and time.time() >= valid["validUntil"]:
            raise _TokenRefused(_token_error("tokenCaveatUnverified", valid))
        iface = token.caveat("interface")
        if interface is not None and iface is not None and iface["interface"] != interface:
            raise _TokenRefused(_token_error("tokenCaveatUnverified", iface))
        return token

    @staticmethod
    def _auth_header(req: Request) -> str:
        """The token of a REST call: ``X-Auth-Token`` or ``Authorization: Bearer``; 401 when there is none."""
        header = req.headers.get("X-Auth-Token") or req.headers.get("Authorization", "").removeprefix("Bearer ")
        if not header:
            raise unauthorized()
        return header

    def _zone_auth(self, req: Request) -> str:
        """The user behind a Onezone REST call's token, or an IdP access token ``<idp>:<token>``."""
        header = self._auth_header(req)
        if self._parse(header) is not None:
            try:
                return self._verify(header, "rest").user_id
            except _TokenRefused as e:
                raise unauthorized(e.error) from None
        idp, sep, access_token = header.partition(":")
        if not sep or idp != self.idp:
            raise unauthorized(_token_error("badToken"))
        user_id = self.idp_validator(idp, access_token)
        if user_id is None:
            raise unauthorized({"id": "badIdpAccessToken", "details": {"idp": idp},
                                "description": f'Provided access token for "{idp}" is not valid.'})
        return user_id

    def _scope(self, token: Token) -> dict[str, Any]:
        allowed = token.space_whitelist()
        spaces = [s for s in self.spaces.values()
                  if token.user_id in s.members and (allowed is None or s.id in allowed)]
        provider_ids = sorted({p for s in spaces for p in s.supports})
        valid = token.caveat("time")
        return {
            "validUntil": valid["validUntil"] if valid else None,
            "dataAccessScope": {
                "readonly": token.caveat("data.readonly") is not None,
                "spaces": {s.id: {"name": s.name, "supports": {p: {"readonly": ro} for p, ro in s.supports.items()}}
                           for s in spaces},
                "providers": {p: {"name": self.providers[p].name, "domain": self.providers[p].domain,
                                  "version": self.provider_version,
                                  "online": self.providers[p].state == "online" or not self.providers[p].zone_knows}
                              for p in provider_ids},
            },
        }

    @staticmethod
    def _valid_caveats(caveats: Any) -> bool:
        if not isinstance(caveats, list) or not all(isinstance(c, dict) and "type" in c for c in caveats):
            return False
        try:
            Token("", "", "", "", caveats, 0).space_whitelist()
        except (ValueError, TypeError, AttributeError):
            return False
        return True

    def _named_token_json(self, token: Token) -> dict[str, Any]:
        return {"id": token.id, "name": token.name, "subject": {"type": "user", "id": token.user_id},
                "type": {"accessToken": {}}, "caveats": token.caveats, "revoked": token.revoked,
                "metadata": {"creationTime": token.created, "custom": {}}, "token": token.serialized}

    # ---- Onezone
    def _answer(self, who: str, req: Request, route: Callable[[Request], Response]) -> Response:
        query = "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
        self.calls.append((who, req.method, req.path + (f"?{query}" if query else "")))
        try:
            return route(req)
        except OnedataError as e:
            return _json(e.status, {"error": e.body})
        except Exception as e:  # a bug in the stand-in: say so instead of dropping the connection
            self.errors.append(f"{req.method} {req.path}: {e!r}")
            return _json(500, {"error": {"id": "internalServerError", "description": repr(e)}})

    def _zone_app(self, req: Request) -> Response:
        with self._lock:
            return self._answer("onezone", req, self._zone_route)

    def _zone_route(self, req: Request) -> Response:
        path = unquote(req.path)
        if (req.method, path) == ("POST", f"{OZ}/tokens/infer_access_token_scope"):
            serialized = req.json().get("token")
            if not isinstance(serialized, str):
                raise OnedataError(400, "missingRequiredValue", "Missing required value: token.", {"key": "token"})
            if self._parse(serialized) is None:
                raise _bad("badValueToken", "token", "is not a valid token (see details)",
                           tokenError=_token_error("badToken"))
            try:
                return _json(200, self._scope(self._verify(serialized, None)))  # interface caveats are ignored here
            except _TokenRefused as e:
                raise OnedataError(400, e.error["id"], e.error["description"], e.error.get("details")) from None
        if (req.method, path) == ("GET", f"{OZ}/user"):
            user_id = self._zone_auth(req)
            return _json(200, {"userId": user_id, "fullName": self.users[user_id], "username": None})
        if req.method == "GET" and path.startswith(f"{OZ}/user/tokens/named/name/"):
            user_id, name = self._zone_auth(req), path.removeprefix(f"{OZ}/user/tokens/named/name/")
            found = [t for t in self.tokens.values() if t.user_id == user_id and t.name == name]
            if not found:
                raise OnedataError(404, "notFound", "The resource could not be found.")
            return _json(200, self._named_token_json(found[0]))
        if (req.method, path) == ("POST", f"{OZ}/user/tokens/named"):
            user_id, data = self._zone_auth(req), req.json()
            name, caveats = data.get("name"), data.get("caveats", [])
            if not isinstance(name, str) or not name:
                raise OnedataError(400, "missingRequiredValue", "Missing required value: name.", {"key": "name"})
            if not self._valid_caveats(caveats):
                raise _bad("badValueCaveats", "caveats", "must be a list of valid caveats")
            if any(t.user_id == user_id and t.name == name for t in self.tokens.values()):
                raise _bad("badValueIdentifierOccupied", "name", "is already occupied")
            token = self._new_token(user_id, name, caveats)
            return _json(201, {"tokenId": token.id, "token": token.serialized},
                         Location=f"https://{self.onezone_host}{OZ}/tokens/named/{token.id}")
        return Response(404)

    # ---- files
    def _file_id(self, space_id: str, rel: str) -> str:
        key = (space_id, rel)
        if key not in self._paths:
            uuid = f"space_{space_id}" if rel == "" else self._next("file")[:32]
            guid = f"guid#{uuid}#{space_id}".encode()
            object_id = f"0000000000{len(guid):02X}0000{guid.hex().upper()}"
            self._paths[key], self._ids[object_id] = object_id, key
        return self._paths[key]

    def _relink(self, space_id: str, old: str, new: str | None) -> None:
        """Keep ids when ``old`` (and what is under it) moves to ``new``; drop them when it goes."""
        for (sid, rel), fid in list(self._paths.items()):
            if sid == space_id and (rel == old or rel.startswith(old + "/")):
                del self._paths[(sid, rel)]
                if new is None:
                    del self._ids[fid]
                else:
                    self._paths[(sid, new + rel[len(old):])] = fid
                    self._ids[fid] = (sid, new + rel[len(old):])

    def _attrs(self, space: Space, rel: str, provider: Provider) -> dict[str, Any]:
        path = space.root / rel
        try:
            st = path.lstat()
        except OSError as e:
            raise posix(errno.errorcode[e.errno].lower()) from None
        name = rel.rsplit("/", 1)[-1] if rel else space.name
        parent = None if rel == "" else self._file_id(space.id, rel.rpartition("/")[0])
        is_dir = path.is_dir()
        return {"fileId": self._file_id(space.id, rel), "index": _b64(name), "type": "DIR" if is_dir else "REG",
                "activePermissionsType": "posix", "posixPermissions": f"{st.st_mode & 0o777:03o}", "acl": [],
                "name": name, "conflictingName": None, "path": f"/{space.name}/{rel}".rstrip("/"),
                "parentFileId": parent, "displayGid": st.st_gid, "displayUid": st.st_uid,
                "creationTime": int(st.st_ctime), "atime": int(st.st_atime), "mtime": int(st.st_mtime),
                "ctime": int(st.st_ctime), "size": 0 if is_dir else st.st_size, "isFullyReplicatedLocally": True,
                "localReplicationRate": 1.0, "originProviderId": provider.id, "directShareIds": [],
                "ownerUserId": sorted(space.members)[0] if space.members else None, "hardlinkCount": 1,
                "symlinkValue": None, "hasCustomMetadata": False, "effProtectionFlags": [],
                "effDatasetProtectionFlags": [], "effDatasetInheritancePath": "none",
                "effQosInheritancePath": "none", "aggregateQosStatus": "fulfilled", "archiveRecallRootFileId": None}

    @staticmethod
    def _select(attrs: dict[str, Any], data: dict[str, Any], query: dict[str, list[str]],
                default: list[str]) -> dict[str, Any]:
        """Requested attributes as op-worker's ``infer_requested_attributes`` does it."""
        if "attributes" in data or "attributes" in query:
            wanted = data.get("attributes", query.get("attributes"))
            wanted = wanted if isinstance(wanted, list) else [wanted]
            for name in wanted:
                if name not in CURRENT and not str(name).startswith("xattr."):
                    raise _bad("badValueNotAllowed", "attributes", "must be one of: " + ", ".join(CURRENT),
                               allowed=[*CURRENT, "xattr.*"])
            return {name: attrs.get(name) for name in wanted}  # no xattrs are kept: xattr.* are null
        if "attribute" in query or "attribute" in data:
            wanted = query.get("attribute") or data["attribute"]
            wanted = wanted if isinstance(wanted, list) else [wanted]
            back = {old: new for new, old in DEPRECATED.items()}
            for name in wanted:
                if name not in back:
                    raise _bad("badValueNotAllowed", "attribute", "must be one of: " + ", ".join(back),
                               allowed=list(back))
            return {name: attrs[back[name]] for name in wanted}
        return {**{k: attrs[k] for k in default}, **{DEPRECATED[k]: attrs[k] for k in default}}

    # ---- Oneprovider
    def _provider_app(self, provider: Provider) -> Callable[[Request], Response | None]:
        def app(req: Request) -> Response | None:
            with self._lock:
                if provider.state == "down":
                    self.calls.append((provider.id, req.method, req.path))
                    return None
                return self._answer(provider.id, req, lambda r: self._provider_route(provider, r))
        return app

    def _user_token(self, req: Request) -> Token:
        try:
            return self._verify(self._auth_header(req), "rest")
        except _TokenRefused as e:
            raise unauthorized(e.error) from None

    def _check_space(self, provider: Provider, token: Token, space: Space, *, write: bool) -> None:
        if space.id not in self.spaces or token.user_id not in space.members:
            raise OnedataError(403, "forbidden", "You are not authorized to perform this operation.")
        if provider.id not in space.supports:
            raise OnedataError(400, "spaceNotSupportedBy",
                               f"Specified space: {space.id} is not supported by provider {provider.id}.",
                               {"spaceId": space.id, "providerId": provider.id})
        allowed = token.space_whitelist()
        if (allowed is not None and space.id not in allowed) or (write and token.caveat("data.readonly")):
            raise posix("eacces")

    def _space_by_spec(self, token: Token, spec: str) -> Space:
        name, _, space_id = spec.partition("@")
        for space in self.spaces.values():
            if token.user_id in space.members and space.name == name and (not space_id or space.id == space_id):
                return space
        raise posix("enoent")

    def _resolve_id(self, provider: Provider, token: Token, file_id: str, *, write: bool) -> tuple[Space, str]:
        if file_id in self._ids:
            space_id, rel = self._ids[file_id]
        elif file_id in self.spaces and provider.id in self.spaces[file_id].supports:
            space_id, rel = file_id, ""
        elif file_id.startswith("0000000000"):
            raise posix("enoent")
        else:
            raise OnedataError(400, "spaceNotSupportedBy",
                               f"Specified space: {file_id} is not supported by provider {provider.id}.",
                               {"spaceId": file_id, "providerId": provider.id})
        space = self.spaces[space_id]
        self._check_space(provider, token, space, write=write)
        if not (space.root / rel).exists():
            raise posix("enoent")
        return space, rel

    @staticmethod
    def _join(base: str, tokens: list[str]) -> str:
        """``base`` and the path tokens of a URL as one relative path; ``..`` is refused."""
        parts = [t for t in tokens if t not in ("", ".")]
        if ".." in parts:
            raise OnedataError(400, "badValueFilePath", "Bad value: provided file path is invalid.")
        return "/".join([base, *parts]).strip("/")

    def _lookup(self, space: Space, base: str, tokens: list[str]) -> str:
        rel = self._join(base, tokens)
        walked = space.root
        for part in rel.split("/") if rel else []:
            if walked.exists() and not walked.is_dir():
                raise posix("enotdir")
            walked = walked / part
        if not walked.exists():
            raise posix("enoent")
        return rel

    def _provider_route(self, provider: Provider, req: Request) -> Response:
        path = req.path
        if (req.method, path) == ("GET", f"{OP}/configuration"):
            return _json(200, {"providerId": provider.id, "name": provider.name, "domain": provider.domain,
                               "onezoneDomain": self.onezone_host, "version": self.provider_version,
                               "build": "standin", "rtransferPort": 6665, "compatibilityRegistryRevision": 0,
                               "compatibleOnezoneVersions": [self.provider_version],
                               "compatibleOneproviderVersions": [self.provider_version],
                               "compatibleOneclientVersions": [self.provider_version]})
        if provider.state == "no_onezone":
            raise OnedataError(503, "noConnectionToOnezone", "No connection to Onezone.")
        tokens = [unquote(t) for t in path.split("/")]
        if path.startswith("/cdmi/") and req.method == "PUT":
            return self._cdmi_put(provider, self._user_token(req), req, tokens[2:])
        if not path.startswith(OP + "/"):
            return Response(404)
        tokens = tokens[4:]
        token = self._user_token(req)
        if req.method == "POST" and tokens[0] == "lookup-file-id" and len(tokens) > 1:
            space = self._space_by_spec(token, tokens[1])
            self._check_space(provider, token, space, write=False)
            return _json(200, {"fileId": self._file_id(space.id, self._lookup(space, "", tokens[2:]))})
        if tokens[0] != "data" or len(tokens) < 2:
            return Response(404)
        write = req.method in ("PUT", "DELETE", "POST")
        space, rel = self._resolve_id(provider, token, tokens[1], write=write)
        aspect = tokens[2] if len(tokens) > 2 else ""
        media = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        consumes = "application/octet-stream" if aspect in ("content", "path") else "application/json"
        if req.body and req.method in ("PUT", "POST") and media != consumes:
            return Response(415)
        disk = space.root / rel
        try:
            if (req.method, aspect) == ("GET", ""):
                attrs = self._attrs(space, rel, provider)
                return _json(200, self._select(attrs, req.json(), req.query, list(DEPRECATED)))
            if (req.method, aspect) == ("PUT", ""):
                mode = req.json().get("mode")
                if mode is not None:
                    os.chmod(disk, int(str(mode), 8) & 0o7777)
                return Response(204)
            if (req.method, aspect) == ("DELETE", ""):
                return self._delete(space, rel)
            if (req.method, aspect) == ("GET", "children"):
                return self._children(provider, space, rel, req)
            if aspect == "content" and req.method in ("GET", "PUT"):
                return self._download(space, rel, req) if req.method == "GET" else self._upload(space, rel, req)
            if aspect == "path" and req.method == "PUT":
                return self._create_at(provider, space, rel, tokens[3:], req)
            if aspect == "path" and req.method in ("GET", "DELETE"):
                target = self._lookup(space, rel, tokens[3:])
                return self._download(space, target, req) if req.method == "GET" else self._delete(space, target)
        except OSError as e:
            raise posix(errno.errorcode.get(e.errno or errno.EIO, "eio").lower()) from None
        return Response(404)

    def _delete(self, space: Space, rel: str) -> Response:
        if rel == "":
            raise posix("eperm")
        disk = space.root / rel
        if disk.is_dir():
            shutil.rmtree(disk)
        else:
            disk.unlink()
        self._relink(space.id, rel, None)
        return Response(204)

    def _children(self, provider: Provider, space: Space, rel: str, req: Request) -> Response:
        disk = space.root / rel
        if not disk.is_dir():
            raise posix("enotdir")
        raw_limit = req.param("limit", "1000") or ""
        try:
            limit = int(raw_limit)
        except ValueError:
            raise _bad("badValueInteger", "limit", "must be an integer") from None
        if not 1 <= limit <= MAX_LIST:
            raise _bad("badValueNotInRange", "limit", f"must be between <1, {MAX_LIST}>", low=1, high=MAX_LIST)
        after = None
        if req.param("token") is not None:
            try:
                after = json.loads(_unb64(req.param("token") or ""))["last"]
            except (ValueError, KeyError, TypeError):
                raise posix("einval") from None
        names = sorted((p.name for p in disk.iterdir()), key=lambda n: n.encode())
        if after is not None:
            names = [n for n in names if n.encode() > after.encode()]
        page = names[:limit]
        last = page[-1] if page else after
        children = [self._select(self._attrs(space, f"{rel}/{n}".lstrip("/"), provider), req.json(), req.query,
                                 ["fileId", "name"]) for n in page]
        return _json(200, {"children": children, "isLast": len(page) < limit,
                           "nextPageToken": _b64(json.dumps({"last": last, "done": len(page) < limit}))})

    def _download(self, space: Space, rel: str, req: Request) -> Response:
        disk = space.root / rel
        if disk.is_dir():
            raise OnedataError(501, "notImplemented", "This operation is not implemented.")
        data, size = disk.read_bytes(), disk.stat().st_size
        headers = {"Content-Type": mimetypes.guess_type(disk.name)[0] or "application/octet-stream",
                   # Oneprovider (cowboy) sends the name's UTF-8 bytes as they are; http.server writes
                   # headers as latin-1, so the bytes go as the latin-1 characters that are them.
                   "Content-Disposition": f'attachment; filename="{disk.name}"'.encode().decode("latin-1")}
        header = req.headers.get("Range")
        self.download_ranges.append(header)
        if header is None:
            return Response(200, data, headers)
        ranges = self._ranges(header, size)
        if ranges is None:
            return Response(416, b"", {"Content-Range": f"bytes */{size}"})
        if len(ranges) == 1:
            start, end = ranges[0]
            return Response(206, data[start:end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
        boundary, parts = "standinboundary", []
        for start, end in ranges:
            parts.append(f"--{boundary}\r\nContent-Type: {headers['Content-Type']}\r\n"
                         f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n".encode() + data[start:end + 1] + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return Response(206, body, {"Content-Type": f"multipart/byteranges; boundary={boundary}"})

    @staticmethod
    def _ranges(header: str, size: int) -> list[tuple[int, int]] | None:
        """ctool ``http_parser:parse_range_header``: None when invalid or unsatisfiable."""
        unit, _, spec = header.partition("=")
        if unit.strip() != "bytes":
            return None
        ranges = []
        try:
            for part in spec.replace(" ", ",").replace("\t", ",").split(","):
                if not part:
                    continue
                first, _, last = part.partition("-")
                start, end = ((max(0, size - int(last)), size - 1) if first == ""
                              else (int(first), size - 1 if last == "" else min(int(last), size - 1)))
                if start < 0 or start > end or start >= size:
                    return None
                ranges.append((start, end))
        except ValueError:
            return None
        return ranges or None

    def _upload(self, space: Space, rel: str, req: Request) -> Response:
        disk = space.root / rel
        if disk.is_dir():
            raise posix("eisdir")
        offset = req.param("offset")
        if offset is not None and (not offset.isdigit()):
            raise _bad("badValueInteger", "offset", "must be an integer")
        with open(disk, "r+b") as f:
            if offset is None:
                f.truncate(0)
            f.seek(int(offset or 0))
            f.write(req.body)
        return Response(204)

    def _create_at(self, provider: Provider, space: Space, base: str, tokens: list[str], req: Request) -> Response:
        rel = self._join(base, tokens)
        if rel == base:
            raise OnedataError(400, "missingRequiredValue", "Missing required value: path.", {"key": "path"})
        kind, mode = req.param("type", "REG"), req.param("mode")
        if kind not in ("REG", "DIR"):
            allowed = ["REG", "DIR", "LNK", "SYMLNK"]
            if kind in allowed:
                raise OnedataError(501, "notImplemented", "This operation is not implemented.")
            raise _bad("badValueNotAllowed", "type", "must be one of: " + ", ".join(allowed), allowed=allowed)
        try:
            perms = int(mode, 8) if mode is not None else (DIR_MODE if kind == "DIR" else FILE_MODE)
        except ValueError:
            raise _bad("badValueInteger", "mode", "must be an integer") from None
        parent = rel.rpartition("/")[0]
        if req.param("create_parents", "false") == "true":
            walked = space.root
            for part in parent.split("/") if parent else []:
                walked = walked / part
                if not walked.exists():
                    _mkdir(walked)
                elif not walked.is_dir():
                    raise posix("enotdir")
        else:
            self._lookup(space, "", parent.split("/") if parent else [])
        disk = space.root / rel
        if not disk.parent.is_dir():
            raise posix("enotdir")
        if disk.exists():
            raise posix("eexist")
        if kind == "DIR":
            _mkdir(disk, perms)
        else:
            with open(disk, "wb") as f:
                f.seek(int(req.param("offset", "0") or 0))
                f.write(req.body)
            os.chmod(disk, perms)
        file_id = self._file_id(space.id, rel)
        return _json(201, {"fileId": file_id}, Location=f"https://{provider.domain}{OP}/data/{file_id}")

    def _cdmi_put(self, provider: Provider, token: Token, req: Request, tokens: list[str]) -> Response:
        container = req.path.endswith("/")
        media = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media.startswith("application/cdmi-") and not req.headers.get("X-CDMI-Specification-Version"):
            raise OnedataError(400, "missingRequiredValue", "Missing required value: version.", {"key": "version"})
        if not tokens or not tokens[0]:
            raise posix("enoent")
        space = self._space_by_spec(token, tokens[0])
        self._check_space(provider, token, space, write=True)
        rel = self._join("", tokens[1:])
        parent = rel.rpartition("/")[0]
        self._lookup(space, "", parent.split("/") if parent else [])
        data = req.json()
        try:
            if isinstance(data.get("move"), str):
                src_tokens = data["move"].strip("/").split("/")
                src_space = self._space_by_spec(token, src_tokens[0])
                self._check_space(provider, token, src_space, write=True)
                src = self._lookup(src_space, "", src_tokens[1:])
                if src == "":
                    raise posix("eperm")
                if src_space is space:  # a rename keeps the file's id
                    os.replace(space.root / src, space.root / rel)
                    self._relink(space.id, rel, None)
                    self._relink(space.id, src, rel)
                else:
                    shutil.move(src_space.root / src, space.root / rel)
                    self._relink(src_space.id, src, None)
            elif container:
                if not (space.root / rel).is_dir():
                    _mkdir(space.root / rel)
            else:
                (space.root / rel).write_bytes(str(data.get("value", "")).encode())
                os.chmod(space.root / rel, FILE_MODE)
        except OSError as e:
            raise posix(errno.errorcode.get(e.errno or errno.EIO, "eio").lower()) from None
        attrs = self._attrs(space, rel, provider)
        kind = "application/cdmi-container" if attrs["type"] == "DIR" else "application/cdmi-object"
        body = {"objectType": kind, "objectID": attrs["fileId"], "objectName": attrs["name"],
                "parentURI": f"/{tokens[0]}/{parent}/".replace("//", "/"), "parentID": attrs["parentFileId"],
                "capabilitiesURI": f"cdmi_capabilities/{'container' if attrs['type'] == 'DIR' else 'dataobject'}/",
                "completionStatus": "Complete", "metadata": {}}
        return _json(201, body, **{"Content-Type": kind, "X-CDMI-Specification-Version": "1.1.1"})

