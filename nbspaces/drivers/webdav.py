"""WebDAV spaces: B2DROP (Nextcloud) and any WebDAV server, on webdavclient3.

A listing is one PROPFIND (Depth: 1). Reads stream with Range. Writes never let anything
partial carry the target's name, and check the stored size before they report success:

- On Nextcloud (a URL with ``/remote.php/webdav`` or ``/remote.php/dav/files/<user>``) a write
  uses Nextcloud's chunked upload v2: MKCOL ``/remote.php/dav/uploads/<user>/<id>``, PUT the
  chunks ``00001``, ``00002``... (``chunk_mib`` MiB each, the last one shorter, each with a
  Content-Length), then MOVE ``<id>/.file`` onto the target, which Nextcloud assembles in place.
  Only one chunk is ever held in memory. A single streamed PUT is what Nextcloud behind php-fpm
  stores as an empty file (nextcloud/server#7995, #21315), and big single PUTs meet PHP's limits.
- Elsewhere a write streams the body (chunked transfer encoding when the size is unknown) to a
  hidden temporary name beside the target and MOVEs it into place when every byte arrived.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import posixpath
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from webdav3.client import Client, WebDavXmlUtils

from .base import (
    LABEL,
    PASSWORD,
    USERNAME,
    VERIFY_TLS,
    Capabilities,
    Driver,
    DriverError,
    Entry,
    Field,
    Network,
    Problem,
    RcloneRemote,
    Usage,
    aside,
    http_session,
    unreachable,
    window,
)

READ_PIECE = 1024 * 1024
# Seconds, one after the other, after which a failed write's temporary file is deleted again.
DISCARD_AGAIN = (1.0, 2.0)
MIB = 1024 * 1024
# Nextcloud's chunking v2: chunks are named 1..10000 and, but for the last, hold 5 MB..5 GB.
CHUNK_MIB_DEFAULT, CHUNK_MIB_MIN, CHUNK_MIB_MAX = 10, 5, 1024
MAX_CHUNKS = 10_000
MAX_CHUNK = 5 * 1024 * MIB
# The space's root on a Nextcloud: [prefix]/remote.php/webdav[/folder] (the legacy endpoint, as
# the login) or [prefix]/remote.php/dav/files/<user>[/folder].
_NEXTCLOUD_ROOT = re.compile(r"(?P<prefix>.*?)/remote\.php/(?:webdav|dav/files/(?P<user>[^/]+))(?P<folder>/.*)?")
# The hidden name a streamed write uses until every byte arrived (see _write_streamed).
# Servers that parse a MOVE or COPY's Destination as a URL after unquoting it (WsgiDAV,
# mar10/wsgidav#139): a '?' starts a query and a ';' in the last name starts parameters, so
# 'a?b' or 'a;b' would arrive as 'a'.
_DESTINATION_UNQUOTED_FIRST = re.compile(r"WsgiDAV/")
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/><d:getcontenttype/>"
    b"</d:prop></d:propfind>"
)
_QUOTA = (
    b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:quota-used-bytes/><d:quota-available-bytes/></d:prop></d:propfind>"
)


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


class _Body:
    """The pieces of an upload, counted as requests sends them (chunked transfer encoding).

    When the pieces fail (an upload abandoned, a chunk that is not base64), the body ends as
    a complete request and keeps the error in ``failure``: the server then answers the PUT
    once it is done with it, and the caller deletes what it stored. Cutting the connection
    instead leaves the server to handle the PUT whenever it gets to it, possibly after our
    DELETE, and the partial file would stay.
    """

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks, self.sent = chunks, 0
        self.failure: Exception | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for piece in self._chunks:
                self.sent += len(piece)
                yield piece
        except Exception as e:
            self.failure = e


class _SizedBody(_Body):
    """A known total length: requests sends it as Content-Length.

    A body shorter than announced cannot end as a complete request: a failure of its pieces
    cuts the connection.
    """

    def __init__(self, chunks: Iterable[bytes], size: int):
        super().__init__(chunks)
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._chunks:
            self.sent += len(piece)
            yield piece

    def __len__(self) -> int:
        return self._size


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[list[memoryview]]:
    """The pieces regrouped as chunks of exactly ``size`` bytes, the last one shorter.

    Each chunk is a list of views into the pieces (no copies); the caller empties it once sent, so
    about one chunk is alive at a time. No data at all is one empty chunk.
    """
    pending: list[memoryview] = []
    have, sent_any = 0, False
    for piece in chunks:
        # A caller may reuse a mutable buffer: keep a private copy of anything but bytes.
        view = memoryview(piece if isinstance(piece, bytes) else bytes(piece)).cast("B")
        while len(view):
            take = min(len(view), size - have)
            pending.append(view[:take])
            view, have = view[take:], have + take
            if have == size:
                yield pending
                pending, have, sent_any = [], 0, True
    if have or not sent_any:
        yield pending


class WebDAVDriver(Driver):
    kind = "webdav"
    kind_label = "WebDAV"
    capabilities = Capabilities(ranged_reads=True, server_copy=True, atomic_rename=True, usage=True)
    credential_fields = {"username": USERNAME, "password": PASSWORD}
    setting_fields = {"url": Field("Address (URL)", "url", required=True,
                                   help="e.g. https://b2drop.eudat.eu/remote.php/webdav"), "label": LABEL,
                      "verify_tls": VERIFY_TLS,
                      "chunk_mib": Field("Upload chunk size (MiB)", "integer", default=CHUNK_MIB_DEFAULT,
                                         minimum=CHUNK_MIB_MIN,
                                           maximum=CHUNK_MIB_MAX)}

    @classmethod
    def fields_for(cls, settings: dict[str, Any]) -> dict[str, Field]:
        """On a Nextcloud (B2DROP), the password is an app password made in the account's security
        settings: the field says so and links there."""
        parts = urlsplit(str(settings.get("url") or ""))
        match = _NEXTCLOUD_ROOT.fullmatch(parts.path.rstrip("/"))
        if match is None or not parts.hostname:
            return cls.credential_fields
        page = f"{parts.scheme}://{parts.netloc}{match['prefix']}/settings/user/security"
        return {**cls.credential_fields, "password": Field(
            "App password", "password", required=True, link=page,
            help="Make one in your account's settings, Security, 'Create new app password'")}

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        url = str(settings.get("url", ""))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DriverError(Problem.INVALID, f"'{url}' is not a WebDAV address; it starts with https://")
        if parts.username or parts.password:
            raise DriverError(Problem.INVALID, "put the user name and password in the credentials, not in the URL")
        if not isinstance(settings.get("verify_tls", True), bool):
            raise DriverError(Problem.INVALID, "verify_tls must be true or false")
        chunk_mib = settings.get("chunk_mib")
        chunk_mib = CHUNK_MIB_DEFAULT if chunk_mib is None else chunk_mib
        if isinstance(chunk_mib, bool) or not isinstance(chunk_mib, int) \
                or not CHUNK_MIB_MIN <= chunk_mib <= CHUNK_MIB_MAX:
            raise DriverError(Problem.INVALID, f"chunk_mib must be a whole number of MiB from {CHUNK_MIB_MIN} "
                                               f"to {CHUNK_MIB_MAX} (Nextcloud's chunked upload needs at least 5)")
        self.chunk_size = chunk_mib * MIB
        self.label = str(settings.get("label") or "The WebDAV server")
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.root = parts.path.rstrip("/")
        self.client = Client({"webdav_hostname": self.host, "webdav_root": self.root or "/"})
        self.client.verify = bool(settings.get("verify_tls", True))
        self.session: requests.Session = http_session(self.network)
        self.client.session = self.session
        self.server = ""  # the server's software, as its answers name it (Server header)
        if self.credentials.get("username"):
            # Basic auth in UTF-8 (RFC 7617's charset, what Nextcloud and wsgidav decode): requests
            # encodes text as latin-1, which fails on '€', Cyrillic or an emoji.
            self.session.auth = (self.credentials["username"].encode(), self.credentials.get("password", "").encode())

    # -- plumbing ---------------------------------------------------------------------

    def _url(self, path: str, folder: bool = False) -> str:
        quoted = quote(path, safe="/")
        return f"{self.host}{quote(self.root, safe='/')}/{quoted}" + ("/" if folder and quoted else "")

    def _request(self, method: str, path: str, *, folder: bool = False, ok: tuple[int, ...] = (),
                 **kwargs: Any) -> requests.Response:
        return self._send(method, self._url(path, folder), path, ok=ok, **kwargs)

    def _send(self, method: str, url: str, path: str, *, ok: tuple[int, ...] = (),
              timeout: tuple[float, float] | None = None, **kwargs: Any) -> requests.Response:
        """One request to any URL on the server; ``path`` (in the space) names it in errors."""
        try:
            r = self.session.request(method, url, timeout=timeout or self.network.timeout, verify=self.client.verify,
                                     **kwargs)
        except requests.RequestException as e:
            raise unreachable(self.label, self.host, e) from None
        self.server = r.headers.get("Server", self.server)
        if r.status_code < 400 or r.status_code in ok:
            return r
        r.close()
        raise self._error(r.status_code, method, path)

    def _error(self, status: int, method: str, path: str) -> DriverError:
        where = f"'{path}'" if path else "the space"
        if status == 401:
            # "App password" is Nextcloud's (B2DROP's) word; other servers take a plain password.
            secret = "app password" if self._nextcloud() is not None else "password"
            return DriverError(Problem.AUTH, f"{self.label} refused the user name or {secret}")
        if status == 403:
            return DriverError(Problem.FORBIDDEN, f"{self.label} does not allow {method} on {where}")
        if status == 404:
            return DriverError(Problem.NOT_FOUND, f"{where} does not exist on {self.label}")
        if status in (405, 412) and method in ("MKCOL", "MOVE", "COPY"):
            return DriverError(Problem.EXISTS, f"{where} already exists on {self.label}")
        if status == 409:
            return DriverError(Problem.NOT_FOUND, f"the folder of {where} does not exist on {self.label}")
        if status == 507:
            return DriverError(Problem.NO_SPACE, f"{self.label} is full: its quota is reached")
        if status in (502, 503, 504):
            return DriverError(Problem.UNAVAILABLE, f"{self.label} is not answering ({status}); try again later")
        return DriverError(Problem.OTHER, f"{self.label} answered {status} to {method} on {where}")

    def _propfind(self, path: str, depth: int, folder: bool) -> list[dict[str, Any]]:
        r = self._request("PROPFIND", path, folder=folder, data=_PROPFIND,
                          headers={"Depth": str(depth), "Content-Type": "application/xml"})
        if r.status_code != 207:
            raise DriverError(Problem.OTHER, f"{self.label} did not answer as a WebDAV server ({r.status_code})")
        return list(WebDavXmlUtils.parse_get_list_info_response(r.content))

    def _entry(self, info: dict[str, Any]) -> Entry:
        # webdavclient3 gives the href's path unquoted already: a name with '%41' in it stays so.
        name = posixpath.basename(str(info["path"]).rstrip("/"))
        size = info.get("size")
        return Entry(
            name=name,
            is_dir=bool(info.get("isdir")),
            size=int(size) if size and not info.get("isdir") else (None if info.get("isdir") else 0),
            modified=_date(info.get("modified")),
            etag=(info.get("etag") or "").strip('"') or None,
            mimetype=info.get("content_type") or None,
        )

    # -- the driver -------------------------------------------------------------------

    def check(self) -> None:
        self._propfind("", 0, folder=True)

    def list(self, path: str) -> list[Entry]:
        infos = self._propfind(path, 1, folder=True)
        own = unquote(urlsplit(self._url(path, folder=True)).path).rstrip("/")
        return [self._entry(i) for i in infos if str(i["path"]).rstrip("/") != own]

    def stat(self, path: str) -> Entry:
        infos = self._propfind(path, 0, folder=False)
        if not infos:
            raise DriverError(Problem.NOT_FOUND, f"'{path}' does not exist on {self.label}")
        return self._entry(infos[0])

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        r = self._request("GET", path, headers=headers, stream=True)
        skip = start if r.status_code == 200 and start else 0  # the server ignored Range
        left = None if end is None else end - start + 1
        try:
            yield from window(r.iter_content(READ_PIECE), skip, left)
        except requests.RequestException as e:  # the server went away mid-file: never a short file as whole
            raise unreachable(self.label, self.host, e) from None
        finally:
            r.close()

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        nextcloud = self._nextcloud()
        if nextcloud is not None:
            self._write_chunked(path, chunks, size, *nextcloud)
        else:
            self._write_streamed(path, chunks, size)

    def _nextcloud(self) -> tuple[str, str] | None:
        """(files folder, uploads folder) as unquoted URL paths, when the space is on a Nextcloud.

        The uploads folder is the user's: the one named in a ``/remote.php/dav/files/<user>`` URL
        (Nextcloud's user id), else the login, as for the legacy ``/remote.php/webdav``.
        """
        match = _NEXTCLOUD_ROOT.fullmatch(self.root)
        if match is None:
            return None
        user = match["user"] or self.credentials.get("username", "")
        if not user or "/" in user:
            return None
        dav = f"{match['prefix']}/remote.php/dav"
        return f"{dav}/files/{user}{(match['folder'] or '').rstrip('/')}", f"{dav}/uploads/{user}"

    def _absolute(self, url_path: str) -> str:
        return f"{self.host}{quote(url_path, safe='/')}"

    def _upload_step(self, method: str, url: str, path: str, **kwargs: Any) -> requests.Response:
        """A request of a chunked upload: refusals name the upload, not a file that is not there yet."""
        r = self._send(method, url, path, ok=(400, 404, 405, 412, 423), **kwargs)
        if r.status_code >= 400:
            r.close()
            raise DriverError(Problem.OTHER, f"{self.label} refused the upload of '{path}' ({method} answered "
                                             f"{r.status_code}); try again")
        return r

    def _write_chunked(self, path: str, chunks: Iterable[bytes], size: int | None, files: str,
                       uploads: str) -> None:
        """Nextcloud's chunked upload v2; nothing is under ``path`` until the final MOVE assembles it."""
        chunk_size = self.chunk_size
        if size is not None:  # a big file takes bigger chunks, to stay within 10000
            chunk_size = max(chunk_size, math.ceil(size / MAX_CHUNKS / MIB) * MIB)
            if chunk_size > MAX_CHUNK:
                raise DriverError(Problem.INVALID, f"'{path}' is too big for {self.label} ({size} bytes)")
        target = self._absolute(f"{files}/{path}")
        upload = self._absolute(f"{uploads}/nbspaces-{secrets.token_hex(16)}")
        r = self._send("MKCOL", upload, path, ok=(404, 405, 501), headers={"Destination": target})
        r.close()
        if r.status_code in (404, 405, 501):
            # No uploads folder for this login (a login that is not the user id, or not a Nextcloud):
            # the streamed upload, whose size check still catches a server that keeps nothing.
            self._write_streamed(path, chunks, size)
            return
        headers = {"Destination": target}
        if size is not None:
            headers["OC-Total-Length"] = str(size)
        sent = 0
        try:
            for number, pieces in enumerate(_rechunk(chunks, chunk_size), start=1):
                if number > MAX_CHUNKS:
                    raise DriverError(Problem.INVALID, f"'{path}' needs more than {MAX_CHUNKS} chunks of "
                                                       f"{chunk_size // MIB} MiB; raise the space's chunk_mib")
                length = sum(len(p) for p in pieces)
                # Content-Length always (never chunked transfer encoding); b"" is "Content-Length: 0".
                body = _SizedBody(pieces, length) if length else b""
                self._upload_step("PUT", f"{upload}/{number:05d}", path, data=body,
                                  headers={**headers, "Content-Type": "application/octet-stream"}).close()
                sent += length
                pieces.clear()  # the request keeps its body: let the chunk go now
            if size is not None and sent != size:
                raise DriverError(Problem.OTHER, f"the upload of '{path}' ended after {sent} of its {size} bytes")
            # Assembling takes the server a while for big files: wait for it.
            wait = max(120, sent / (5 * MIB), self.network.read_timeout)
            self._upload_step("MOVE", f"{upload}/.file", path, timeout=(self.network.connect_timeout, wait),
                              headers={"Destination": target, "OC-Total-Length": str(sent)}).close()
        except BaseException:
            # Nextcloud would drop the chunks after 24 hours; do not leave them to count in the quota.
            with contextlib.suppress(DriverError):
                self._send("DELETE", upload, path, ok=(404,)).close()
            raise
        self._check_stored(path, sent)

    def _check_stored(self, path: str, sent: int) -> None:
        stored = self.stat(path).size
        if stored != sent:
            with contextlib.suppress(DriverError):
                self._request("DELETE", path, ok=(404,))
            raise DriverError(Problem.OTHER, f"{self.label} kept {stored} of the {sent} bytes sent for '{path}'; "
                                             "the upload failed, try again")

    def _write_streamed(self, path: str, chunks: Iterable[bytes], size: int | None) -> None:
        self._check_destination(path)  # the file gets its name by a MOVE
        folder, name = posixpath.split(path)
        temp = aside(folder, name)
        # A known size goes as Content-Length; an unknown one as chunked transfer encoding.
        body = _SizedBody(chunks, size) if size is not None else _Body(chunks)
        try:
            # Refusals name the file the user asked for, not its temporary name.
            self._send("PUT", self._url(temp), path, data=body, headers={"Content-Type": "application/octet-stream"})
            if body.failure is not None:
                raise body.failure
            # Some servers (Nextcloud behind php-fpm, for chunked bodies) answer success and
            # keep nothing: check before the file takes its name.
            stored = self.stat(temp).size
            if stored != body.sent:
                raise DriverError(Problem.OTHER, f"{self.label} kept {stored} of the {body.sent} bytes sent; "
                                                 "the upload failed, try again")
            self._send("MOVE", self._url(temp), path, headers={"Destination": self._url(path), "Overwrite": "T"})
        except BaseException:
            # If the server is gone, its temporary file keeps a name no one uses.
            self._discard(temp)
            raise

    def _discard(self, temp: str) -> None:
        """Remove the temporary file of a failed write, now and once more a moment later: a busy
        server may handle the PUT we abandoned after our DELETE, and create the file only then."""
        def delete() -> None:
            with contextlib.suppress(DriverError):
                self._request("DELETE", temp, ok=(404,)).close()

        def again() -> None:
            for wait in DISCARD_AGAIN:
                time.sleep(wait)
                delete()

        delete()
        threading.Thread(target=again, name="nbspaces-discard", daemon=True).start()

    def mkdir(self, path: str) -> None:
        # RFC 4918 answers 405 for an existing name, but rclone's server answers 201: ask first.
        if self.exists(path):
            raise DriverError(Problem.EXISTS, f"'{path}' already exists on {self.label}")
        self._request("MKCOL", path, folder=True)

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def _check_destination(self, dst: str) -> None:
        """Refuse, before anything is sent, a destination the server would store under another name."""
        cut = "?" if "?" in dst else ";" if ";" in posixpath.basename(dst) else None
        if cut and not self.server:
            self.check()  # no answer yet to say which server this is
        if cut and _DESTINATION_UNQUOTED_FIRST.match(self.server):
            raise DriverError(Problem.INVALID, f"{self.label} cannot give a file a name with '{cut}' in it (its "
                                               f"server, {self.server.split()[0]}, would cut the name there); "
                                               f"choose a name without '{cut}'")

    def _transfer(self, method: str, src: str, dst: str, headers: dict[str, str]) -> None:
        self._check_destination(dst)
        try:
            self._request(method, src, headers={"Destination": self._url(dst), "Overwrite": "F", **headers})
        except DriverError as e:
            if e.problem is Problem.EXISTS:  # it is the destination that is taken
                raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}") from None
            if e.problem in (Problem.FORBIDDEN, Problem.OTHER):
                # Servers refuse a move of what is not there, or into a folder that is not, in their
                # own ways (rclone: 403): those are 404s, whatever the server said.
                if not self.exists(src):
                    raise DriverError(Problem.NOT_FOUND, f"'{src}' does not exist on {self.label}") from None
                parent = posixpath.dirname(dst)
                if parent and not self.exists(parent):
                    raise DriverError(Problem.NOT_FOUND,
                                      f"the folder of '{dst}' does not exist on {self.label}") from None
            raise

    def move(self, src: str, dst: str) -> None:
        self._transfer("MOVE", src, dst, {})

    def copy(self, src: str, dst: str) -> None:
        self._transfer("COPY", src, dst, {"Depth": "infinity"})

    def rclone_remote(self) -> RcloneRemote | None:
        vendor = "nextcloud" if "/remote.php/" in self.root + "/" else "other"
        return RcloneRemote({"type": "webdav", "url": self._url(""), "vendor": vendor,
                             "user": self.credentials.get("username", ""),
                             "pass": self.credentials.get("password", "")}, obscured=frozenset({"pass"}))

    def usage(self) -> Usage:
        try:
            r = self._request("PROPFIND", "", folder=True, data=_QUOTA,
                              headers={"Depth": "0", "Content-Type": "application/xml"})
        except DriverError:
            return Usage(None, None)
        from lxml import etree

        try:
            tree = etree.fromstring(r.content)
        except etree.XMLSyntaxError:
            return Usage(None, None)
        used, free = tree.findtext(".//{DAV:}quota-used-bytes"), tree.findtext(".//{DAV:}quota-available-bytes")
        used_n = int(used) if used and used.lstrip("-").isdigit() else None
        free_n = int(free) if free and free.lstrip("-").isdigit() else None
        # Nextcloud reports negative free space for "unknown" or "unlimited".
        total = used_n + free_n if used_n is not None and free_n is not None and free_n >= 0 else None
        return Usage(used_n, total)

    def close(self) -> None:
        self.session.close()
