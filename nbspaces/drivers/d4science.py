"""D4Science workspaces: the gCube StorageHub REST API, on requests.

StorageHub addresses items by id. A path (relative to the user's Workspace folder) becomes
an item with one request, ``GET /?relPath=a/b``; the Workspace itself is ``GET /`` with no
relPath. A listing costs one request per page of ``/items/{id}/children/paged``.

Item JSON (storagehub-model ``Item``/``AbstractFileItem``/``Content``, serialised by Jackson
with ``@class`` holding the Java class name): ``id``, ``name``, ``lastModificationTime``,
``content.size``, ``content.mimeType``. Jackson writes a ``Calendar`` as epoch milliseconds
unless told otherwise, so both a number and an ISO 8601 string are read.

Reads: ``/items/{id}/download`` has no Range. A ranged read still streams the whole answer
from the start, throws away the bytes before ``start`` and stops at ``end``: memory stays at
one piece, but a read near the end of a big file transfers everything before it.

Writes: a multipart body (``name``, ``description``, ``file``) is streamed from the pieces
with a Content-Length (pieces of unknown total size are spooled to a temporary file first,
since proxies in front of StorageHub may refuse chunked bodies). The file is uploaded under a
temporary name beside the target and renamed when every byte arrived. An existing target is
renamed aside first and deleted for good (``force=true``) once the new file has its name: a
save replaces the file as on any disk, and autosaves do not fill the user's trash with old
copies. Uploading under the target's own name (StorageHub keeps same-name uploads as versions)
is not used: it would put an unfinished upload under the target's name.

Errors: StorageHub answers with a gx-rest entity ``{"message", "exceptionClass", ...}``;
the exception class decides when the status alone does not (old releases answer 406 for
everything, and a relPath that does not exist comes back as a 500 PathNotFoundException).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.util.retry import Retry

from .base import (
    LABEL,
    VERIFY_TLS,
    Capabilities,
    Driver,
    DriverError,
    Entry,
    Field,
    Network,
    Problem,
    Usage,
    aside,
    http_session,
    unreachable,
    window,
)

READ_PIECE = 256 * 1024
SEND_PIECE = 1024 * 1024
PAGE = 1000  # children per listing request
DEFAULT_URL = "https://api.d4science.org/workspace"
# The Java classes of folders; anything with a ``content`` node is a file.
_FOLDER_CLASSES = frozenset({"FolderItem", "SharedFolder", "VreFolder", "SmartFolder"})
# Accounting entries can be long and are never needed here.
_SLIM = {"exclude": "hl:accounting"}


class _SourceFailed(Exception):
    """The pieces of an upload failed; carries their exception through requests untouched.

    requests/urllib3 turn OSErrors raised while sending into connection errors; the caller's
    own failure (a stalled browser upload is a TimeoutError) must come out as itself.
    """

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class _Body:
    """A multipart body of known length, produced piece by piece as requests sends it."""

    def __init__(self, head: bytes, pieces: Iterator[bytes], size: int, tail: bytes):
        self._head, self._pieces, self._size, self._tail = head, pieces, size, tail

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        sent = 0
        try:
            for piece in self._pieces:
                sent += len(piece)
                if sent > self._size:
                    raise DriverError(Problem.INVALID, f"the file has more than the {self._size} bytes announced")
                if piece:
                    yield bytes(piece)
        except DriverError as e:
            raise _SourceFailed(e) from None
        except Exception as e:
            raise _SourceFailed(e) from e
        if sent != self._size:
            raise _SourceFailed(DriverError(
                Problem.INVALID, f"the file has {sent} bytes, not the {self._size} announced"))
        yield self._tail


def _file_pieces(f: IO[bytes]) -> Iterator[bytes]:
    while piece := f.read(SEND_PIECE):
        yield piece


def _date(value: Any) -> datetime | None:
    """Jackson's Calendar: epoch milliseconds, or an ISO 8601 string when so configured."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _is_folder(item: dict[str, Any]) -> bool:
    cls = str(item.get("@class") or "").rsplit(".", 1)[-1]
    if cls:
        return cls in _FOLDER_CLASSES
    return not isinstance(item.get("content"), dict)


def _form_part(boundary: str, name: str, value: str) -> bytes:
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: text/plain; charset=UTF-8\r\n\r\n{value}\r\n").encode()


class D4ScienceDriver(Driver):
    kind = "d4science"
    kind_label = "D4Science workspace"
    capabilities = Capabilities(ranged_reads=False, server_copy=True)  # its downloads have no Range
    credential_fields = {"token": Field("Access token", "password", required=True)}
    login_token = "d4science"
    setting_fields = {"url": Field("StorageHub address (URL)", "url"), "label": LABEL, "verify_tls": VERIFY_TLS}

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        url = str(settings.get("url") or DEFAULT_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DriverError(Problem.INVALID, f"'{url}' is not a D4Science workspace address; it starts with https://")
        self.url = url
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.label = str(settings.get("label") or "D4Science workspace")
        self.verify = bool(settings.get("verify_tls", True))
        # A kept-alive connection the server (or a proxy) closed fails on reuse: a GET tries once more.
        retry = Retry(total=1, connect=0, read=1, status=0, other=0, redirect=0,
                      allowed_methods=frozenset({"GET"}), raise_on_status=False)
        self.session = http_session(self.network, retry)
        self.session.headers["Accept"] = "application/json, text/plain, */*"

    # -- plumbing ---------------------------------------------------------------------

    def _request(self, method: str, endpoint: str, what: str, *, action: str | None = None,
                 **kwargs: Any) -> requests.Response:
        """One call; ``endpoint`` is relative to the workspace URL, ``what`` names the path for messages."""
        token = self.credentials.get("token")
        if not token:
            raise DriverError(Problem.AUTH, f"There is no access token for {self.label}; log in again")
        # The token is read at each call: a refreshed one is used as soon as it is stored.
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        try:
            r = self.session.request(method, self.url + endpoint, headers=headers,
                                     timeout=kwargs.pop("timeout", self.network.timeout),
                                     verify=self.verify, **kwargs)
        except requests.RequestException as e:
            raise unreachable(self.label, self.host, e) from None
        if r.status_code < 400:
            return r
        try:
            body = next(r.iter_content(8192), b"").decode("utf-8", "replace")
        except requests.RequestException:
            body = ""
        finally:
            r.close()
        raise self._error(r.status_code, body, action or method, what)

    def _error(self, status: int, body: str, action: str, what: str) -> DriverError:
        where = f"'{what}'" if what else "the workspace"
        cls, message = "", body.strip()
        with contextlib.suppress(ValueError, AttributeError):
            entity = json.loads(body)
            cls = str(entity.get("exceptionClass") or "").rsplit(".", 1)[-1]
            message = str(entity.get("message") or message)
        if status == 401:
            return DriverError(Problem.AUTH, "D4Science refused the access token; log in again")
        if status == 403 or cls == "UserNotAuthorizedException":
            return DriverError(Problem.FORBIDDEN, f"{self.label} does not allow you to {action} {where}")
        if (status == 404 or cls in ("ItemNotFoundException", "IdNotFoundException")
                or "PathNotFoundException" in message):
            return DriverError(Problem.NOT_FOUND, f"{where} does not exist on {self.label}")
        if status == 409 or cls == "ItemAlreadyExistsException":
            return DriverError(Problem.EXISTS, f"{where} already exists on {self.label}")
        if status in (413, 507) or "quota" in message.lower():
            return DriverError(Problem.NO_SPACE, f"{self.label} is full: its quota is reached")
        if status in (502, 503, 504):
            return DriverError(Problem.UNAVAILABLE, f"{self.label} is not answering ({status}); try again later")
        detail = f": {message[:300]}" if message and not message.lstrip().startswith("<") else ""
        if status == 400 or cls in ("InvalidItemException", "InvalidCallParameters"):
            return DriverError(Problem.INVALID, f"{self.label} cannot {action} {where}{detail}")
        return DriverError(Problem.OTHER, f"{self.label} answered {status} when asked to {action} {where}{detail}")

    def _json(self, r: requests.Response, key: str) -> Any:
        try:
            return r.json()[key]
        except (ValueError, KeyError, TypeError):
            raise DriverError(Problem.OTHER, f"{self.label} did not answer as a StorageHub service") from None

    def _item(self, path: str) -> dict[str, Any]:
        params = {**_SLIM, "relPath": path} if path else dict(_SLIM)
        item = self._json(self._request("GET", "", path, action="find", params=params), "item")
        if not isinstance(item, dict) or not item.get("id"):
            raise DriverError(Problem.OTHER, f"{self.label} did not answer as a StorageHub service")
        return item

    def _lookup(self, path: str) -> dict[str, Any] | None:
        try:
            return self._item(path)
        except DriverError as e:
            if e.problem == Problem.NOT_FOUND:
                return None
            raise

    def _folder(self, path: str) -> dict[str, Any]:
        item = self._item(path)
        if not _is_folder(item):
            raise DriverError(Problem.INVALID, f"'{path}' is a file, not a folder")
        return item

    def _children(self, item_id: str, what: str) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            r = self._request("GET", f"/items/{quote(item_id)}/children/paged", what, action="list",
                              params={**_SLIM, "start": start, "limit": PAGE})
            page = self._json(r, "itemlist") or []
            yield from page
            if len(page) < PAGE:
                return
            start += len(page)

    def _entry(self, item: dict[str, Any]) -> Entry:
        folder = _is_folder(item)
        content: dict[str, Any] = item["content"] if isinstance(item.get("content"), dict) else {}
        size = content.get("size")
        when = item.get("lastModificationTime")
        return Entry(
            name=str(item.get("name") or item.get("title") or ""),
            is_dir=folder,
            size=None if folder else int(size) if isinstance(size, int | float) else 0,
            modified=_date(when),
            # A new upload is a new item (see write), a new version changes the time.
            etag=f"{item['id']}-{when}" if when is not None else None,
            mimetype=None if folder else content.get("mimeType") or None,
        )

    def _form(self, method: str, endpoint: str, what: str, action: str, data: dict[str, str]) -> str:
        r = self._request(method, endpoint, what, action=action, data=data)
        return r.text.strip()

    def _rename(self, item_id: str, name: str, what: str) -> None:
        self._form("PUT", f"/items/{quote(item_id)}/rename", what, "rename", {"newName": name})

    def _move(self, item_id: str, folder_id: str, what: str) -> None:
        self._form("PUT", f"/items/{quote(item_id)}/move", what, "move", {"destinationId": folder_id})

    def _remove(self, item_id: str, what: str, *, force: bool = False) -> None:
        self._request("DELETE", f"/items/{quote(item_id)}", what, action="delete",
                      params={"force": "true"} if force else None)

    def _new_folder(self, parent_id: str, name: str, what: str) -> str:
        return self._form("POST", f"/items/{quote(parent_id)}/create/FOLDER", what, "create",
                          {"name": name, "description": "", "hidden": "false"})

    def check(self) -> None:
        if not _is_folder(self._item("")):
            raise DriverError(Problem.OTHER, f"{self.label} did not answer as a StorageHub service")

    def list(self, path: str) -> list[Entry]:
        folder = self._folder(path)
        return [self._entry(i) for i in self._children(str(folder["id"]), path)]

    def stat(self, path: str) -> Entry:
        entry = self._entry(self._item(path))
        return entry if path else Entry("", True, None, entry.modified, entry.etag, None)

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        item = self._item(path)
        if _is_folder(item):
            raise DriverError(Problem.INVALID, f"'{path}' is a folder, not a file")
        left = None if end is None else max(0, end - start + 1)
        return self._download(str(item["id"]), path, start, left)

    def _download(self, item_id: str, path: str, skip: int, left: int | None) -> Iterator[bytes]:
        if left == 0:
            return iter(())
        r = self._request("GET", f"/items/{quote(item_id)}/download", path, action="read", stream=True)
        return self._pieces(r, path, skip, left)

    def _pieces(self, r: requests.Response, path: str, skip: int, left: int | None) -> Iterator[bytes]:
        try:
            yield from window(r.iter_content(READ_PIECE), skip, left)  # no Range in the API
        except requests.RequestException:
            raise DriverError(
                Problem.UNAVAILABLE, f"{self.label} stopped sending '{path}'; try again later") from None
        finally:
            r.close()

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        folder, name = posixpath.split(path)
        if not name:
            raise DriverError(Problem.INVALID, "A file needs a name")
        parent = self._folder(folder)
        parent_id = str(parent["id"])
        temp = aside("", name)
        temp_path = posixpath.join(folder, temp)
        spool: IO[bytes] | None = None
        sent = False
        try:
            if size is None:  # spooled to learn the length; memory holds one piece
                spool = tempfile.SpooledTemporaryFile(max_size=SEND_PIECE)  # noqa: SIM115 (closed below)
                for piece in chunks:
                    spool.write(piece)
                size = spool.tell()
                spool.seek(0)
                chunks = _file_pieces(spool)
            boundary = secrets.token_hex(16)
            head = (_form_part(boundary, "name", temp) + _form_part(boundary, "description", "")
                    + (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n'
                       "Content-Type: application/octet-stream\r\n\r\n").encode())
            body = _Body(head, iter(chunks), size, f"\r\n--{boundary}--\r\n".encode())
            sent = True
            try:
                temp_id = self._request(
                    "POST", f"/items/{quote(parent_id)}/create/FILE", path, action="upload", data=body,
                    # StorageHub stores the whole file before it answers: minutes for big ones.
                    timeout=(self.network.connect_timeout, max(300.0, self.network.read_timeout)),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}).text.strip()
            except _SourceFailed as e:
                raise e.error from None
            if not temp_id:
                raise DriverError(Problem.OTHER, f"{self.label} did not say where it stored '{path}'")
            self._put_in_place(temp_id, path, name)
        except BaseException:
            # Whatever arrived stays under a name no one uses; remove it if the service lets us.
            with contextlib.suppress(DriverError):
                if sent and (left := self._lookup(temp_path)) is not None:
                    self._remove(str(left["id"]), temp_path, force=True)
            raise
        finally:
            if spool is not None:
                spool.close()

    def _put_in_place(self, temp_id: str, path: str, name: str) -> None:
        """Give the complete upload its name; the file it replaces goes for good."""
        old = self._lookup(path)
        if old is not None and _is_folder(old):
            raise DriverError(Problem.EXISTS, f"'{path}' is a folder on {self.label}")
        if old is not None:
            self._rename(str(old["id"]), aside("", name, "old"), path)
        try:
            self._rename(temp_id, name, path)
        except BaseException:
            if old is not None:
                with contextlib.suppress(DriverError):
                    self._rename(str(old["id"]), name, path)
            raise
        if old is not None:
            with contextlib.suppress(DriverError):  # the new file is in place; a leftover is harmless
                self._remove(str(old["id"]), path, force=True)

    def mkdir(self, path: str) -> None:
        folder, name = posixpath.split(path)
        if not name:
            raise DriverError(Problem.EXISTS, f"The workspace itself already exists on {self.label}")
        self._new_folder(str(self._folder(folder)["id"]), name, path)

    def delete(self, path: str) -> None:
        if not path:
            raise DriverError(Problem.FORBIDDEN, f"{self.label} cannot delete the workspace itself")
        self._remove(str(self._item(path)["id"]), path)  # to the trash: the user may want it back

    def _prepare(self, src: str, dst: str, verb: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        """The source item, the destination folder and the new name; the destination must be free."""
        if not src or not dst:
            raise DriverError(Problem.FORBIDDEN, f"{self.label} cannot {verb} the workspace itself")
        if dst == src or dst.startswith(src + "/"):
            raise DriverError(Problem.INVALID, f"'{src}' cannot go inside itself")
        item = self._item(src)
        if self._lookup(dst) is not None:
            raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
        folder, name = posixpath.split(dst)
        return item, self._folder(folder), name

    def move(self, src: str, dst: str) -> None:
        item, folder, name = self._prepare(src, dst, "move")
        item_id, folder_id = str(item["id"]), str(folder["id"])
        if folder_id == item.get("parentId") or posixpath.dirname(src) == posixpath.dirname(dst):
            self._rename(item_id, name, src)
            return
        if name == item.get("name"):
            self._move(item_id, folder_id, src)
            return
        # Moving first could meet an item with the old name in the destination: step aside if so.
        if self._lookup(posixpath.join(posixpath.dirname(dst), str(item.get("name")))) is not None:
            self._rename(item_id, aside("", name, "move"), src)
        self._move(item_id, folder_id, src)
        self._rename(item_id, name, dst)

    def copy(self, src: str, dst: str) -> None:
        item, folder, name = self._prepare(src, dst, "copy")
        self._copy(item, str(folder["id"]), name, src)

    def _copy(self, item: dict[str, Any], folder_id: str, name: str, what: str) -> None:
        if not _is_folder(item):
            self._form("PUT", f"/items/{quote(str(item['id']))}/copy", what, "copy",
                       {"destinationId": folder_id, "fileName": name})
            return
        # StorageHub copies files only: a folder is made anew and its files copied one by one.
        new_id = self._new_folder(folder_id, name, what)
        for child in self._children(str(item["id"]), what):
            self._copy(child, new_id, str(child.get("name")), posixpath.join(what, str(child.get("name"))))

    def usage(self) -> Usage:
        # StorageHub has no per-user quota endpoint that this driver knows of.
        return Usage(None, None)

    def close(self) -> None:
        self.session.close()
