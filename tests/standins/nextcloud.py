"""A stand-in for Nextcloud's WebDAV endpoints (as B2DROP runs them), with chunked upload v2.

No Nextcloud can run here (it is PHP, with a database, and not packaged for Debian), so tests
talk to this stand-in instead. It follows Nextcloud's documented chunked upload v2 API (the
developer manual's "Chunked file upload" page), the facts in the project's API notes
(``apis.md``, B2DROP section) and, where the manual is silent, Nextcloud's own sources (``apps/dav/lib/Upload``:
``ChunkingV2Plugin``, ``ChunkingPlugin``, ``UploadFolder``, ``AssemblyStream``; ``QuotaPlugin``).
It is a real HTTP server on 127.0.0.1 in its own process (cheroot, one WSGI app):

- ``/remote.php/dav/files/<user>/...`` and the legacy ``/remote.php/webdav/...`` (and ``/webdav/...``,
  as a reverse proxy may publish Nextcloud's WebDAV under a path without ``/remote.php/``) are one
  folder on disk, served by a wsgidav app (PROPFIND, GET with Range, PUT, MKCOL, MOVE, COPY,
  DELETE). Another user's ``files/<user>`` is 404.
- ``/remote.php/dav/uploads/<user>/<id>`` is implemented here, chunked upload v2:

  - ``MKCOL <id>`` with ``Destination: <URL in /remote.php/dav/files/<user>/...>`` makes the staging
    folder (201; 405 when it exists). Nextcloud keeps it in ``data/<user>/uploads/<id>``; so does this.
  - ``PUT <id>/<n>`` stores one chunk; ``n`` is a number 1..10000 (else 400 "Invalid chunk name,
    must be numeric between 1 and 10000"), so ``00001`` and ``1`` are the same chunk, as in v2
    (S3 part numbers). A chunk over 5 GiB is refused (400). ``OC-Total-Length`` is recorded.
  - ``MOVE <id>/.file`` with ``Destination`` assembles the chunks in the order of their numbers into
    the destination, atomically (a rename), replacing an existing file (204; 201 when new), and
    removes the staging folder. ``OC-Total-Length`` that differs from the chunks' sum is refused
    with Nextcloud's 400 "Chunks on server do not sum up to X but to Y bytes" and nothing moves.
    A destination folder that does not exist is 409.
  - ``DELETE <id>`` drops the upload (204); ``GET`` of a chunk is 405 ("Reading intermediate
    uploads is not allowed"); ``MKCOL`` inside is 403.

  Documented limits it enforces: every request of an upload carries ``Destination`` (400 without
  it) pointing into ``/remote.php/dav/files/<user>/`` (403 "out of base uri" elsewhere, as Sabre's
  ``calculateUri``; this is why the legacy ``/remote.php/webdav`` URL cannot be a destination);
  every chunk but the last holds at least 5 MiB, checked when ``.file`` is assembled (the only time
  the last chunk is known) and refused with 400 "Chunk too small".

  Where it is stricter than a real server, so that a client is held to the v2 contract: a real
  Nextcloud without a distributed cache or an S3 primary storage serves these very requests with
  chunking v1 (it ignores ``Destination`` when missing and checks no chunk size; assembly order is
  by name, ``strnatcmp``, the same as by number for 5-digit names); with S3 a too-small chunk fails
  the assembly in S3 (``EntityTooSmall``) and Nextcloud answers "Could not write chunked file".
  The 5 MiB floor and its 400 "Chunk too small" are this stand-in's reading of the documented limit.

- A Nextcloud bug is reproduced on purpose: a PUT with ``Transfer-Encoding: chunked`` and no
  ``Content-Length`` anywhere under these paths answers 201 (204 on replace) but stores an EMPTY
  file (or an empty chunk). That is what Nextcloud behind php-fpm does: the FastCGI request reaches
  PHP with no body (nextcloud/server#7995, #21315), and Sabre writes what it got, 0 bytes.

Basic auth: the login and password come from a 0600 JSON config file whose path is the only
argument (never the password in argv); a wrong one is 401 with ``WWW-Authenticate: Basic``.
``login`` may differ from the user id (Nextcloud allows logging in with an email address): paths
always use the user id. Not implemented: Nextcloud's own properties (``oc:*``), quota, chunking v1
names (``<start>-<end>``), listing the uploads home, X-OC-Mtime, locking beyond wsgidav's.

Test hooks on :class:`NextcloudStandIn`: :attr:`files` (the user's files folder on disk),
:attr:`uploads` (the staging folders), :attr:`legacy_url` / :attr:`files_url` / :attr:`alias_url`,
and :meth:`requests` / :meth:`count`, read from the server's request log (one JSON line per request,
written before its response leaves: method, path, status, content length, transfer encoding,
Destination, OC-Total-Length, and for chunks the bytes stored).
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

import requests

from tests.realhub import stop_process
from tests.waiting import Timeout, wait_until

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
MIN_CHUNK = 5 * MIB  # every chunk but the last
MAX_CHUNK = 5 * 1024 * MIB
MAX_CHUNK_NUMBER = 10_000
BLOCK = 256 * 1024
UPLOADS = "/remote.php/dav/uploads"
DAV_BASE = "/remote.php/dav/"

StartResponse = Callable[..., Any]


class _Refusal(Exception):
    """An error answered as Sabre answers it: a DAV:error XML body naming the exception (Sabre\\DAV\\Exception\\...)."""

    def __init__(self, status: int, exception: str, message: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.status, self.exception, self.message, self.headers = status, exception, message, list(headers)


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _respond(start_response: StartResponse, status: int, body: bytes = b"",
             headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    start_response(_status_line(status), [("Content-Length", str(len(body))), *headers])
    return [body]


def _sabre_body(refusal: _Refusal) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n'
        f"  <s:exception>Sabre\\DAV\\Exception\\{escape(refusal.exception)}</s:exception>\n"
        f"  <s:message>{escape(refusal.message)}</s:message>\n"
        "</d:error>\n"
    ).encode()


def _streamed_without_length(environ: dict[str, Any]) -> bool:
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH")


def _drain(environ: dict[str, Any]) -> int:
    """Read a request body to its end (the client is not told that it is thrown away)."""
    total, stream = 0, environ["wsgi.input"]
    while block := stream.read(BLOCK):
        total += len(block)
    return total


class NextcloudApp:
    """The WSGI app of the stand-in (runs in the server process)."""

    def __init__(self, config: dict[str, Any]):
        from wsgidav.wsgidav_app import WsgiDAVApp

        self.user, self.login, self.password = config["user"], config["login"], config["password"]
        self.files, self.uploads = Path(config["files"]), Path(config["uploads"])
        self.log_path = Path(config["log"])
        self.files_prefix = f"/remote.php/dav/files/{self.user}"
        self.webdav_prefixes = (self.files_prefix, "/remote.php/webdav", "/webdav")
        self.dav = WsgiDAVApp({
            "provider_mapping": {prefix: str(self.files) for prefix in self.webdav_prefixes},
            "simple_dc": {"user_mapping": {"*": True}},  # authenticated here, before wsgidav
            "http_authenticator": {"domain_controller": None, "accept_basic": True, "accept_digest": False,
                                   "default_to_digest": False},
            "dir_browser": {"enable": False},
            "property_manager": True,
            "lock_storage": True,
            "verbose": 1,
            "logging": {"enable": False},
        })
        self.lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------

    def _log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with self.lock, open(self.log_path, "a") as log:
            log.write(line)

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            login, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(login.encode(), self.login.encode()) and \
            hmac.compare_digest(password.encode(), self.password.encode())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        record: dict[str, Any] = {
            "method": method, "path": path, "length": environ.get("CONTENT_LENGTH") or None,
            "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
            "destination": environ.get("HTTP_DESTINATION"), "total_length": environ.get("HTTP_OC_TOTAL_LENGTH"),
        }

        def logged(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            record["status"] = int(status.split()[0])
            self._log(record)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return self._route(environ, logged, method, path, record)
        except _Refusal as refusal:
            headers = [("Content-Type", "application/xml; charset=utf-8"), *refusal.headers]
            return _respond(logged, refusal.status, _sabre_body(refusal), headers)

    def _route(self, environ: dict[str, Any], start_response: StartResponse, method: str, path: str,
               record: dict[str, Any]) -> Iterable[bytes]:
        if not self._authorized(environ):
            raise _Refusal(401, "NotAuthenticated",
                           "No public access to this resource., Username or password was incorrect",
                           [("WWW-Authenticate", 'Basic realm="Nextcloud", charset="UTF-8"')])
        if path == UPLOADS or path.startswith(UPLOADS + "/"):
            return self._uploads(environ, start_response, method, path[len(UPLOADS):].strip("/").split("/"), record)
        if any(path == p or path.startswith(p + "/") for p in self.webdav_prefixes):
            if method == "PUT" and _streamed_without_length(environ):
                # php-fpm hands PHP no body for a chunked request: Sabre stores 0 bytes, and says 201.
                record["dropped"] = _drain(environ)
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(b""), "0"
                environ.pop("HTTP_TRANSFER_ENCODING", None)
            return self.dav(environ, start_response)
        raise _Refusal(404, "NotFound", f"File with name {path.strip('/')} could not be located")

    def _destination(self, environ: dict[str, Any]) -> Path:
        """The file a ``Destination`` header names, in this user's files (as Sabre's calculateUri)."""
        value = environ.get("HTTP_DESTINATION", "")
        if not value:
            raise _Refusal(400, "BadRequest",
                           "The Destination header is required by chunked upload v2")
        target = unquote(urlsplit(value).path)
        if not target.startswith(DAV_BASE):
            raise _Refusal(403, "Forbidden",
                           f"Requested uri ({target}) is out of base uri ({DAV_BASE})")
        if not target.startswith(self.files_prefix + "/"):
            raise _Refusal(404, "NotFound", f"Node {target} could not be located")
        parts = [p for p in target[len(self.files_prefix):].split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise _Refusal(400, "BadRequest", f"{target} is not a file destination")
        return self.files.joinpath(*parts)

    # -- chunked upload v2 ------------------------------------------------------------

    def _uploads(self, environ: dict[str, Any], start_response: StartResponse, method: str, parts: list[str],
                 record: dict[str, Any]) -> Iterable[bytes]:
        if not parts[0] or len(parts) == 1:
            raise _Refusal(501, "NotImplemented",
                           f"{method} on the uploads home is not implemented by the stand-in")
        if parts[0] != self.user:
            raise _Refusal(404, "NotFound", f"Principal with name {parts[0]} not found")
        upload_id = parts[1]
        if upload_id in ("", ".", "..") or len(parts) > 3 or (len(parts) == 3 and parts[2] in ("", ".", "..")):
            raise _Refusal(404, "NotFound", "File not found")
        folder = self.uploads / upload_id
        if len(parts) == 2:
            if method == "MKCOL":
                if folder.exists():
                    raise _Refusal(405, "MethodNotAllowed",
                                   "The resource you tried to create already exists")
                self._destination(environ)
                folder.mkdir(parents=True)
                return _respond(start_response, 201)
            if not folder.is_dir():
                raise _Refusal(404, "NotFound", f"File with name {upload_id} could not be located")
            if method == "DELETE":
                shutil.rmtree(folder)
                return _respond(start_response, 204)
            raise _Refusal(501, "NotImplemented",
                           f"{method} on an upload folder is not implemented by the stand-in")
        name = parts[2]
        if not folder.is_dir():
            raise _Refusal(404, "NotFound", f"File with name {upload_id} could not be located")
        if method == "PUT":
            return self._put_chunk(environ, start_response, folder, name, record)
        if method == "MOVE" and name == ".file":
            return self._assemble(environ, start_response, folder)
        if method == "GET":
            raise _Refusal(405, "MethodNotAllowed", "Reading intermediate uploads is not allowed")
        if method == "MKCOL":
            raise _Refusal(403, "Forbidden", f"Permission denied to create file (filename {name})")
        if method == "DELETE":
            chunk = folder / name
            if not chunk.is_file():
                raise _Refusal(404, "NotFound", f"File with name {name} could not be located")
            chunk.unlink()
            return _respond(start_response, 204)
        raise _Refusal(501, "NotImplemented",
                       f"{method} in an upload folder is not implemented by the stand-in")

    def _put_chunk(self, environ: dict[str, Any], start_response: StartResponse, folder: Path, name: str,
                   record: dict[str, Any]) -> Iterable[bytes]:
        if not name.isdigit() or not 1 <= int(name) <= MAX_CHUNK_NUMBER:
            raise _Refusal(400, "BadRequest",
                           "Invalid chunk name, must be numeric between 1 and 10000")
        self._destination(environ)
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > MAX_CHUNK:
            raise _Refusal(400, "BadRequest", f"Chunk too large: {length} bytes (5 GiB at most)")
        chunk = folder / f"{int(name):05d}"
        part = folder / f".{chunk.name}.part"
        stored = 0
        with open(part, "wb") as out:
            if _streamed_without_length(environ):
                record["dropped"] = _drain(environ)  # the php-fpm bug: an empty chunk
            else:
                stream = environ["wsgi.input"]
                while block := stream.read(BLOCK):
                    out.write(block)
                    stored += len(block)
        if length.isdigit() and stored != int(length):  # the client went away
            part.unlink()
            raise _Refusal(400, "BadRequest",
                           f"Expected filesize of {length} bytes but read (from Nextcloud client) "
                           f"and wrote (to Nextcloud storage) {stored} bytes")
        os.replace(part, chunk)
        record["stored"] = stored
        return _respond(start_response, 201)

    def _assemble(self, environ: dict[str, Any], start_response: StartResponse, folder: Path) -> Iterable[bytes]:
        target = self._destination(environ)
        chunks = sorted((p for p in folder.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        sizes = [p.stat().st_size for p in chunks]
        for chunk, size in zip(chunks[:-1], sizes[:-1], strict=True):
            if size < MIN_CHUNK:
                raise _Refusal(400, "BadRequest",
                               f"Chunk too small: chunk {chunk.name} holds {size} bytes; every chunk but the "
                               f"last must hold at least {MIN_CHUNK} bytes")
        total = sum(sizes)
        expected = environ.get("HTTP_OC_TOTAL_LENGTH")
        if expected is not None and expected != str(total):
            raise _Refusal(400, "BadRequest",
                           f"Chunks on server do not sum up to {expected} but to {total} bytes")
        if not target.parent.is_dir():
            raise _Refusal(409, "Conflict", "The destination node is not found")
        if target.is_dir():
            raise _Refusal(409, "Conflict", "The destination is a folder")
        assembled = folder / ".assembled"
        with open(assembled, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as f:
                    shutil.copyfileobj(f, out, BLOCK)
        existed = target.exists()
        os.replace(assembled, target)  # same file system: the file appears whole, or not at all
        shutil.rmtree(folder)
        return _respond(start_response, 204 if existed else 201,
                        headers=[("Content-Type", "application/xml; charset=utf-8")])


def serve(config_path: str) -> None:
    from cheroot import wsgi

    config = json.loads(Path(config_path).read_text())
    server = wsgi.Server(("127.0.0.1", int(config["port"])), NextcloudApp(config), numthreads=8,
                         server_name="nextcloud-standin")
    server.start()  # until SIGTERM ends the process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NextcloudStandIn:
    """One Nextcloud user's WebDAV, served from ``base`` until :meth:`stop`."""

    def __init__(self, base: Path, *, user: str = "alice", login: str | None = None):
        self.base, self.user, self.login = base, user, login or user
        data = base / "nextcloud-data" / user
        self.files, self.uploads = data / "files", data / "uploads"
        self.files.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.password = secrets.token_urlsafe(12)
        self.port = _free_port()
        self.log_path = base / "nextcloud-requests.jsonl"
        self.server_log = base / "nextcloud-server.log"
        self.config_path = base / "nextcloud-standin.json"
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"user": user, "login": self.login, "password": self.password, "port": self.port,
                       "files": str(self.files), "uploads": str(self.uploads), "log": str(self.log_path)}, f)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def legacy_url(self) -> str:
        return f"{self.server_url}/remote.php/webdav"

    @property
    def files_url(self) -> str:
        return f"{self.server_url}/remote.php/dav/files/{self.user}"

    @property
    def alias_url(self) -> str:
        """The same files at a path without ``/remote.php/`` (a reverse proxy's)."""
        return f"{self.server_url}/webdav"

    @property
    def auth(self) -> tuple[str, str]:
        return self.login, self.password

    def start(self) -> NextcloudStandIn:
        with open(self.server_log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.standins.nextcloud", str(self.config_path)],
                                         stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Nextcloud stand-in exited:\n{self.server_log.read_text()[-2000:]}")
            r = requests.request("PROPFIND", self.legacy_url + "/", auth=self.auth, headers={"Depth": "0"}, timeout=2)
            return r.status_code == 207

        try:
            wait_until(answers, "the Nextcloud stand-in answers", 30, interval=0.1, ignore=(requests.ConnectionError,))
        except Timeout:
            raise RuntimeError(f"the Nextcloud stand-in did not start:\n{self.server_log.read_text()[-2000:]}") \
                from None
        self.reset_log()
        return self

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, 10)
        self.proc = None

    def __enter__(self) -> NextcloudStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_log(self) -> None:
        self.log_path.write_text("")

    def requests(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(1 for r in self.requests() if (method is None or r["method"] == method) and contains in r["path"])

    def staging(self) -> list[Path]:
        """The upload folders still there."""
        return sorted(self.uploads.iterdir())


if __name__ == "__main__":
    serve(sys.argv[1])
