"""A stand-in for gCube StorageHub, the REST service behind D4Science workspaces.

No StorageHub can run here: it needs a JCR repository, the gCube storage backend and the
D4Science IAM. This plain-HTTP server on 127.0.0.1 answers the calls that
``reference/apis.md`` lists ("D4Science workspace (gCube StorageHub)"), shaped as StorageHub's
own sources shape them (gcube-releases: storagehub ``WorkspaceManager``/``ItemsManager``,
storagehub-model ``Item``/``Content``/``TrashItem``, gx-rest error entities):

- ``Authorization: Bearer <token>``; an unknown, revoked or missing token gets 401.
- ``GET /?relPath=a/b`` and ``GET /items/{id}`` -> ``{"item": {...}}`` with ``@class`` set to the
  Java class name; a relPath that does not exist is a 500 ``BackendGenericError`` wrapping
  ``javax.jcr.PathNotFoundException`` (as the sources do), an unknown id a 404.
- ``/items/{id}/children``, ``/children/paged?start&limit``, ``/children/count``; the Workspace
  root hides its ``Trash`` and ``MySpecialFolders`` folders, as StorageHub does.
- ``/items/{id}/download`` streams a file with a Content-Length (a ZIP for a folder); no Range.
- ``POST /items/{id}/create/FOLDER`` (form) and ``/create/FILE`` (multipart, parsed as it
  streams, stored only when complete; the same name again makes a new version).
- ``PUT /items/{id}/rename|move|copy`` (forms); copy takes files only.
- ``DELETE /items/{id}`` moves the item into the Trash inside a ``TrashItem``; ``?force=true``
  (or deleting something already trashed) removes it for good. ``GET /trash``,
  ``GET /vrefolders``, ``GET /vrefolder``.
- Errors: ``{"id": -1, "message", "exceptionClass", "encodedTrace"}`` with the status of the
  storagehub-model exception (ItemAlreadyExists 400, IdNotFound 404, BackendGenericError 500).

Items live in a directory on disk (``<base>/storagehub/Workspace``); ids are UUIDs kept in a
map from path to id. Test hooks: :meth:`add_token`, :meth:`revoke`, :meth:`go_offline`,
:meth:`go_online`, :meth:`drop_connections`, and :attr:`calls`, the log of requests, to count them.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import posixpath
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = "/workspace"
TRASH, SPECIAL = "Trash", "MySpecialFolders"
ITEMS = "org.gcube.common.storagehub.model.items."
ERRORS = "org.gcube.common.storagehub.model.exceptions."
PIECE = 64 * 1024


class HubError(Exception):
    def __init__(self, status: int, exception: str, message: str):
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


def _exists(what: str) -> HubError:
    return HubError(400, "ItemAlreadyExistsException", f"item already exists: {what}")


def _invalid(message: str) -> HubError:
    return HubError(400, "InvalidCallParameters", message)


class _Truncated(Exception):
    """The client stopped sending before the end of its body."""


class _Answered(Exception):
    """The request got its answer early (a refused token)."""


class StorageHubStandIn:
    """One user's workspace, served at :attr:`url` until :meth:`stop`."""

    def __init__(self, base: Path, user: str = "alice", vres: tuple[str, ...] = ("gcube-devsec-devVRE",)):
        self.user = user
        self.root = base / "storagehub"
        self.workspace = self.root / "Workspace"
        self.staging = self.root / "staging"
        for folder in (self.workspace / TRASH, self.staging, *(self.workspace / SPECIAL / v for v in vres)):
            folder.mkdir(parents=True, exist_ok=True)
        self.tokens: dict[str, str] = {}
        self.revoked: set[str] = set()
        self.expires: dict[str, float] = {}  # token -> time.time() after which it is refused
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request, for counting
        self.versions: dict[str, int] = {}  # id -> number of versions of a file
        self._ids: dict[str, str] = {}  # path under Workspace ("" is the Workspace) -> id
        self._paths: dict[str, str] = {}
        self._trashed: dict[str, dict[str, Any]] = {}  # "Trash/<uuid>" -> what TrashItem records
        self._lock = threading.RLock()
        self._conns: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.offline = False
        self.go_online()

    # -- test hooks -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def add_token(self, token: str | None = None, ttl: float | None = None) -> str:
        token = token or secrets.token_urlsafe(24)
        self.tokens[token] = self.user
        self.revoked.discard(token)
        if ttl is not None:
            self.expires[token] = time.time() + ttl
        return token

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def go_offline(self) -> None:
        """Refuse new connections and cut the open ones, as a service that went away."""
        self.offline = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close the kept-alive connections without a word, as servers and proxies do when idle."""
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def go_online(self) -> None:
        class Handler(_Handler):
            hub = self

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server, self.offline = server, False
        threading.Thread(target=server.serve_forever, args=(0.05,), name="storagehub-standin", daemon=True).start()

    def stop(self) -> None:
        self.go_offline()

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(1 for m, p in self.calls if (method is None or m == method) and contains in p)

    def disk(self, rel: str) -> Path:
        """Where an item of the workspace is on disk, for tests to look at or prepare."""
        return self.workspace / rel if rel else self.workspace

    def trash_items(self) -> list[dict[str, Any]]:
        """The TrashItems, with the name of what each holds."""
        with self._lock:
            return [dict(meta, holds=os.listdir(self.workspace / key)) for key, meta in self._trashed.items()]

    # -- ids and items ----------------------------------------------------------------

    def _id(self, rel: str) -> str:
        with self._lock:
            if rel not in self._ids:
                new = str(uuid.uuid4())
                self._ids[rel], self._paths[new] = new, rel
            return self._ids[rel]

    def _rel(self, item_id: str) -> str:
        with self._lock:
            rel = self._paths.get(item_id)
        if rel is None or not self.disk(rel).exists():
            raise HubError(404, "IdNotFoundException", f"Item with id {item_id} not found")
        return rel

    def _relink(self, old: str, new: str | None) -> None:
        """An item and everything under it changed path (or went, for ``new`` None)."""
        with self._lock:
            for rel in [r for r in self._ids if r == old or r.startswith(old + "/")]:
                item_id = self._ids.pop(rel)
                if new is None:
                    del self._paths[item_id]
                    continue
                moved = new + rel[len(old):]
                self._ids[moved], self._paths[item_id] = item_id, moved

    def _abs(self, rel: str) -> str:
        return f"/Home/{self.user}/Workspace" + (f"/{rel}" if rel else "")

    def _item(self, rel: str) -> dict[str, Any]:
        where = self.disk(rel)
        st = where.stat()
        parent, name = posixpath.split(rel)
        item: dict[str, Any] = {
            "id": self._id(rel), "name": name or "Workspace", "title": name or "Workspace", "description": "",
            "path": self._abs(rel), "parentId": self._id(parent) if rel else None,
            "parentPath": self._abs(parent) if rel else f"/Home/{self.user}",
            "primaryType": "nthl:workspaceItem", "trashed": rel.startswith(TRASH + "/"),
            "shared": rel.startswith(SPECIAL + "/"), "locked": False, "publicItem": False, "hidden": False,
            "lastModifiedBy": self.user, "owner": self.user, "lastAction": "CREATED",
            # Jackson writes a java.util.Calendar as epoch milliseconds.
            "lastModificationTime": int(st.st_mtime * 1000), "creationTime": int(st.st_ctime * 1000),
        }
        if rel in self._trashed:
            item.update({"@class": ITEMS + "TrashItem", "primaryType": "nthl:trashItem", **self._trashed[rel]})
        elif where.is_dir():
            vre = parent == SPECIAL
            item["@class"] = ITEMS + ("VreFolder" if vre else "FolderItem")
            if vre:
                item["primaryType"] = "nthl:workspaceSharedItem"
        else:
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            item.update({"@class": ITEMS + "GenericFileItem", "primaryType": "nthl:externalFile",
                         "content": {"size": st.st_size, "mimeType": mime, "storageId": item["id"],
                                     "remotePath": self._abs(rel)}})
        return item

    def _folder(self, item_id: str) -> str:
        rel = self._rel(item_id)
        if not self.disk(rel).is_dir() or rel in self._trashed:
            raise HubError(400, "InvalidItemException", "the destination is not a folder")
        return rel

    def _writable(self, rel: str) -> None:
        """The Workspace, its Trash and VRE folders are never renamed, moved or deleted."""
        if rel in ("", TRASH, SPECIAL) or posixpath.dirname(rel) == SPECIAL or rel.startswith(TRASH + "/"):
            raise HubError(403, "UserNotAuthorizedException", f"the item {self._abs(rel)} is protected")

    def _can_hold(self, folder: str) -> None:
        """Nothing new goes into the Trash or MySpecialFolders."""
        if folder in (TRASH, SPECIAL) or folder.startswith(TRASH + "/"):
            raise HubError(403, "UserNotAuthorizedException", f"the folder {self._abs(folder)} is protected")

    def _child_names(self, rel: str) -> list[str]:
        names = sorted(os.listdir(self.disk(rel)))
        return [n for n in names if n not in (TRASH, SPECIAL)] if rel == "" else names

    @staticmethod
    def _check_name(name: str | None) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise _invalid(f"invalid name {name!r}")
        return name

    # -- operations (called by the handler) -------------------------------------------

    def lookup(self, rel_path: str | None) -> dict[str, Any]:
        rel = "/".join(p for p in (rel_path or "").split("/") if p)
        if ".." in rel.split("/"):
            raise _invalid("relPath leaves the workspace")
        if not self.disk(rel).exists():
            raise HubError(500, "BackendGenericError", f"javax.jcr.PathNotFoundException: {self._abs(rel)}")
        return self._item(rel)

    def children(self, item_id: str, start: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        rel = self._rel(item_id)
        if not self.disk(rel).is_dir():
            raise HubError(400, "InvalidItemException", "the item is not a folder")
        names = self._child_names(rel)
        names = names[start:] if limit is None else names[start:start + limit]
        return [self._item(posixpath.join(rel, n)) for n in names]

    def create_folder(self, parent_id: str, name: str | None) -> str:
        with self._lock:
            parent = self._folder(parent_id)
            self._can_hold(parent)
            rel = posixpath.join(parent, self._check_name(name))
            if self.disk(rel).exists():
                raise _exists(self._abs(rel))
            self.disk(rel).mkdir()
            return self._id(rel)

    def store_file(self, parent_id: str, name: str | None, staged: Path) -> str:
        """Put a complete upload in place; the same name again replaces the content as a new version."""
        with self._lock:
            parent = self._folder(parent_id)
            self._can_hold(parent)
            rel = posixpath.join(parent, self._check_name(name))
            if self.disk(rel).is_dir():
                raise _exists(self._abs(rel))
            os.replace(staged, self.disk(rel))
            item_id = self._id(rel)
            self.versions[item_id] = self.versions.get(item_id, 0) + 1
            return item_id

    def rename(self, item_id: str, new_name: str | None) -> str:
        with self._lock:
            rel = self._rel(item_id)
            self._writable(rel)
            new = posixpath.join(posixpath.dirname(rel), self._check_name(new_name))
            if self.disk(new).exists():
                raise _exists(self._abs(new))
            os.rename(self.disk(rel), self.disk(new))
            self._relink(rel, new)
            return item_id

    def move(self, item_id: str, destination_id: str | None) -> str:
        with self._lock:
            rel = self._rel(item_id)
            self._writable(rel)
            folder = self._folder(destination_id or "")
            self._can_hold(folder)
            if folder == rel or folder.startswith(rel + "/"):
                raise _invalid("an item cannot be moved into itself")
            new = posixpath.join(folder, posixpath.basename(rel))
            if self.disk(new).exists():
                raise _exists(self._abs(new))
            os.rename(self.disk(rel), self.disk(new))
            self._relink(rel, new)
            return item_id

    def copy(self, item_id: str, destination_id: str | None, file_name: str | None) -> str:
        with self._lock:
            rel = self._rel(item_id)
            if self.disk(rel).is_dir():
                raise HubError(400, "InvalidItemException", "folder cannot be copied")
            folder = self._folder(destination_id or "")
            self._can_hold(folder)
            new = posixpath.join(folder, self._check_name(file_name or posixpath.basename(rel)))
            if self.disk(new).exists():
                raise _exists(self._abs(new))
            shutil.copyfile(self.disk(rel), self.disk(new))
            return self._id(new)

    def delete(self, item_id: str, force: bool) -> None:
        with self._lock:
            rel = self._rel(item_id)
            if rel in ("", TRASH, SPECIAL) or posixpath.dirname(rel) == SPECIAL:
                raise HubError(403, "UserNotAuthorizedException", "protected folders cannot be deleted")
            where = self.disk(rel)
            if force or rel.startswith(TRASH + "/"):
                shutil.rmtree(where) if where.is_dir() else where.unlink()
                self._relink(rel, None)
                for key in [k for k in self._trashed if k == rel or k.startswith(rel + "/")]:
                    del self._trashed[key]
                return
            # As StorageHub does: a TrashItem named with a UUID, holding the item itself.
            holder = f"{TRASH}/{uuid.uuid4()}"
            self.disk(holder).mkdir()
            item = self._item(rel)
            self._trashed[holder] = {
                "deletedBy": self.user, "deletedFrom": self._abs(posixpath.dirname(rel)),
                "originalParentId": item["parentId"], "deletedTime": int(time.time() * 1000),
                "mimeType": item.get("content", {}).get("mimeType"),
                "lenght": item.get("content", {}).get("size", 0), "folder": where.is_dir(),
            }
            new = f"{holder}/{posixpath.basename(rel)}"
            os.rename(where, self.disk(new))
            self._relink(rel, new)

    def vre_folders(self) -> list[dict[str, Any]]:
        return [self._item(f"{SPECIAL}/{n}") for n in sorted(os.listdir(self.disk(SPECIAL)))]


class _Handler(BaseHTTPRequestHandler):
    hub: StorageHubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go apart
        self.hub._conns.add(self.connection)

    def finish(self) -> None:
        self.hub._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        hub = self.hub
        if hub.offline:
            self.close_connection = True
            return
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        hub.calls.append((method, path))
        self._left = int(self.headers.get("Content-Length") or 0)
        try:
            self._authorize()
            if path != PREFIX and not path.startswith(PREFIX + "/"):
                raise HubError(404, "NotFoundException", "HTTP 404 Not Found")
            self._route(method, path[len(PREFIX):].strip("/").split("/"), query)
        except HubError as e:
            self._drain()
            body = json.dumps({"id": -1, "message": e.message, "exceptionClass": ERRORS + e.exception,
                               "encodedTrace": ""}).encode()
            self._reply(e.status, body, "application/json", {"ETag": '"gxError"'})
        except _Answered:
            pass  # the body was drained: the connection stays usable, as with a real server
        except (_Truncated, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _authorize(self) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expired = time.time() > self.hub.expires.get(token, float("inf"))
        if token in self.hub.tokens and token not in self.hub.revoked and not expired:
            return
        self._drain()
        # Guessed from gateways in front of gCube services: the status and a short text.
        body = b"Unauthorized: the access token is not valid or has expired"
        self._reply(401, body, "text/plain", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        raise _Answered

    def _reply(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._reply(200, json.dumps(value).encode(), "application/json")

    def _text(self, value: str) -> None:
        self._reply(200, value.encode(), "text/plain")

    def _read(self, n: int = PIECE) -> bytes:
        if self._left <= 0:
            return b""
        data = self.rfile.read(min(n, self._left))
        if not data:
            raise _Truncated
        self._left -= len(data)
        return data

    def _drain(self) -> None:
        """Read what the client still sends, so that it hears the answer (as Tomcat does)."""
        with contextlib.suppress(_Truncated, OSError):
            while self._read():
                pass

    def _form(self) -> dict[str, str]:
        if self._left > 1 << 20:
            raise _invalid("form too large")
        body = b""
        while chunk := self._read():
            body += chunk
        return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}

    def _multipart(self) -> tuple[dict[str, str], Path | None]:
        """Parse multipart/form-data as it arrives: the file part goes to a staging file."""
        ctype = self.headers.get("Content-Type", "")
        boundary = ctype.partition("boundary=")[2].split(";")[0].strip().strip('"')
        if not ctype.startswith("multipart/form-data") or not boundary:
            raise _invalid("multipart/form-data expected")
        if "Content-Length" not in self.headers:
            raise HubError(411, "InvalidCallParameters", "Content-Length required")
        delim = b"\r\n--" + boundary.encode()
        fields: dict[str, str] = {}
        staged: Path | None = None
        sink: Any = None  # None (preamble), a bytearray (a field) or a file (the file part)
        name = ""
        buf = b"\r\n"  # the first boundary then looks like every other one

        def more() -> bytes:
            data = self._read()
            if not data:
                raise _Truncated
            return data

        def close_part() -> None:
            if isinstance(sink, bytearray):
                fields[name] = sink.decode("utf-8", "replace")
            elif sink is not None:
                sink.close()

        try:
            while True:
                at = buf.find(delim)
                if at < 0:
                    keep = len(delim) - 1
                    if len(buf) > keep:
                        self._emit(sink, buf[:-keep])
                        buf = buf[-keep:]
                    buf += more()
                    continue
                self._emit(sink, buf[:at])
                close_part()
                sink, buf = None, buf[at + len(delim):]
                while len(buf) < 2:
                    buf += more()
                if buf.startswith(b"--"):
                    self._drain()  # the epilogue
                    return fields, staged
                while (end := buf.find(b"\r\n\r\n")) < 0:
                    if len(buf) > 16384:
                        raise _invalid("part headers too long")
                    buf += more()
                head, buf = buf[2:end].decode("utf-8", "replace"), buf[end + 4:]
                disposition = next((line for line in head.split("\r\n")
                                    if line.lower().startswith("content-disposition")), "")
                name = disposition.partition('name="')[2].partition('"')[0]
                if name == "file":
                    fd, where = tempfile.mkstemp(dir=self.hub.staging)
                    staged, sink = Path(where), os.fdopen(fd, "wb")
                else:
                    sink = bytearray()
        except BaseException:
            if sink is not None and not isinstance(sink, bytearray):
                sink.close()
            if staged is not None:
                staged.unlink(missing_ok=True)
            raise

    @staticmethod
    def _emit(sink: Any, data: bytes) -> None:
        if sink is None or not data:
            return
        if isinstance(sink, bytearray) and len(sink) + len(data) > 65536:
            raise _invalid("form field too long")
        if isinstance(sink, bytearray):
            sink.extend(data)
        else:
            sink.write(data)

    def _download(self, item_id: str) -> None:
        hub = self.hub
        rel = hub._rel(item_id)
        where = hub.disk(rel)
        name = posixpath.basename(rel)
        if where.is_dir():
            with tempfile.TemporaryFile(dir=hub.staging) as z:
                with zipfile.ZipFile(z, "w") as archive:
                    for folder, _, files in os.walk(where):
                        for file_name in files:
                            full = Path(folder) / file_name
                            archive.write(full, full.relative_to(where.parent).as_posix())
                size = z.tell()
                z.seek(0)
                self._stream(z, size, "directory.zip")
            return
        with open(where, "rb") as f:
            self._stream(f, os.fstat(f.fileno()).st_size, name)

    def _stream(self, f: Any, size: int, name: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        # The name's UTF-8 bytes as they are (http.server writes headers as latin-1 characters).
        self.send_header("content-disposition", f"attachment; filename = {name}".encode().decode("latin-1"))
        self.end_headers()
        while piece := f.read(PIECE * 4):
            self.wfile.write(piece)

    def _route(self, method: str, parts: list[str], query: dict[str, list[str]]) -> None:
        hub = self.hub
        parts = [p for p in parts if p]
        q = {k: v[0] for k, v in query.items()}
        match method, parts:
            case "GET", []:
                self._json({"item": hub.lookup(q.get("relPath"))})
            case "GET", ["trash"]:
                self._json({"item": hub.lookup(TRASH)})
            case "GET", ["vrefolders"]:
                self._json({"itemlist": hub.vre_folders()})
            case "GET", ["vrefolder"]:
                vres = hub.vre_folders()
                if not vres:
                    raise HubError(500, "BackendGenericError", "vre folder not found")
                self._json({"item": vres[0]})
            case "GET", ["items", item_id]:
                self._json({"item": hub._item(hub._rel(item_id))})
            case "GET", ["items", item_id, "children"]:
                self._json({"itemlist": hub.children(item_id)})
            case "GET", ["items", item_id, "children", "paged"]:
                try:
                    start, limit = int(q.get("start", 0)), int(q.get("limit", 0))
                except ValueError:
                    raise _invalid("start and limit are numbers") from None
                self._json({"itemlist": hub.children(item_id, start, limit)})
            case "GET", ["items", item_id, "children", "count"]:
                self._json(len(hub.children(item_id)))
            case "GET", ["items", item_id, "download"]:
                self._download(item_id)
            case "POST", ["items", item_id, "create", "FOLDER"]:
                form = self._form()
                self._text(hub.create_folder(item_id, form.get("name")))
            case "POST", ["items", item_id, "create", "FILE"]:
                hub._folder(item_id)  # before reading the body: a bad parent fails at once
                fields, staged = self._multipart()
                if staged is None:
                    raise _invalid("the file part is missing")
                try:
                    self._text(hub.store_file(item_id, fields.get("name"), staged))
                finally:
                    staged.unlink(missing_ok=True)
            case "PUT", ["items", item_id, "rename"]:
                self._text(hub.rename(item_id, self._form().get("newName")))
            case "PUT", ["items", item_id, "move"]:
                self._text(hub.move(item_id, self._form().get("destinationId")))
            case "PUT", ["items", item_id, "copy"]:
                form = self._form()
                self._text(hub.copy(item_id, form.get("destinationId"), form.get("fileName")))
            case "DELETE", ["items", item_id]:
                hub.delete(item_id, q.get("force", "").lower() == "true")
                self._reply(200, b"", "text/plain")
            case _:
                raise HubError(404, "NotFoundException", "HTTP 404 Not Found")


UMA_GRANT = "urn:ietf:params:oauth:grant-type:uma-ticket"


class IAMStandIn:
    """Stand-in for the D4Science IAM's token endpoint (Keycloak), because none can run here.

    It does what nbspaces uses of it: the UMA grant that exchanges a login access token for a
    token of one VRE (``grant_type=urn:ietf:params:oauth:grant-type:uma-ticket``,
    ``audience=<VRE context>``, the login token as Bearer). ``validate`` says whether a login
    token is good (tests ask the real OpenID provider's userinfo). Issued tokens are good at the
    StorageHub stand-in for ``ttl`` seconds, as short-lived as the real ones.
    """

    def __init__(self, storagehub: StorageHubStandIn, validate: Any, context: str, ttl: float = 60.0):
        self.storagehub, self.validate, self.context, self.ttl = storagehub, validate, context, ttl
        self.issued: list[str] = []
        iam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                auth = self.headers.get("Authorization", "")
                if form.get("grant_type") != UMA_GRANT or form.get("audience") != iam.context:
                    self._json(400, {"error": "invalid_request", "error_description": "unknown grant or audience"})
                elif not auth.startswith("Bearer ") or not iam.validate(auth[7:]):
                    self._json(401, {"error": "invalid_token", "error_description": "Invalid bearer token"})
                else:
                    token = iam.storagehub.add_token(ttl=iam.ttl)
                    iam.issued.append(token)
                    self._json(200, {"access_token": token, "expires_in": int(iam.ttl), "token_type": "Bearer"})

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.token_url = f"http://127.0.0.1:{self._server.server_address[1]}/auth/realms/d4science/protocol/" \
                         "openid-connect/token"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
