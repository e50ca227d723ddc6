"""WebDAV spaces: B2DROP (Nextcloud) and any WebDAV server, on webdavclient3.

A listing is one PROPFIND (Depth: 1). Reads stream with Range. Writes stream the body
(chunked transfer encoding) to a hidden temporary name beside the target and MOVE it into
place when every byte arrived, so nothing partial ever carries the target's name.
"""

from __future__ import annotations

import contextlib
import email.utils
import posixpath
import secrets
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from webdav3.client import Client, WebDavXmlUtils

from .base import Driver, DriverError, Entry, Problem, Usage

READ_PIECE = 256 * 1024
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
    """The pieces of an upload, counted as requests sends them (chunked transfer encoding)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks, self.sent = chunks, 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._chunks:
            self.sent += len(piece)
            yield piece


class _SizedBody(_Body):
    """A known total length: requests sends it as Content-Length."""

    def __init__(self, chunks: Iterable[bytes], size: int):
        super().__init__(chunks)
        self._size = size

    def __len__(self) -> int:
        return self._size


class WebDAVDriver(Driver):
    kind = "webdav"
    credential_fields = {"username": "User name", "password": "Password"}
    secret_fields = frozenset({"password"})
    setting_fields = ("url", "label", "verify_tls")

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None):
        super().__init__(settings, credentials)
        url = str(settings.get("url", ""))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DriverError(Problem.INVALID, f"'{url}' is not a WebDAV address; it starts with https://")
        if parts.username or parts.password:
            raise DriverError(Problem.INVALID, "put the user name and password in the credentials, not in the URL")
        if not isinstance(settings.get("verify_tls", True), bool):
            raise DriverError(Problem.INVALID, "verify_tls must be true or false")
        self.label = str(settings.get("label") or "The WebDAV server")
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.root = parts.path.rstrip("/")
        self.client = Client({"webdav_hostname": self.host, "webdav_root": self.root or "/", "webdav_timeout": 60})
        self.client.verify = bool(settings.get("verify_tls", True))
        self.session: requests.Session = self.client.session
        if self.credentials.get("username"):
            self.session.auth = (self.credentials["username"], self.credentials.get("password", ""))

    # -- plumbing ---------------------------------------------------------------------

    def _url(self, path: str, folder: bool = False) -> str:
        quoted = quote(path, safe="/")
        return f"{self.host}{quote(self.root, safe='/')}/{quoted}" + ("/" if folder and quoted else "")

    def _request(self, method: str, path: str, *, folder: bool = False, ok: tuple[int, ...] = (),
                 **kwargs: Any) -> requests.Response:
        try:
            r = self.session.request(method, self._url(path, folder), timeout=(10, 120),
                                     verify=self.client.verify, **kwargs)
        except requests.RequestException as e:
            reason = ("timed out" if isinstance(e, requests.Timeout) else
                      "connection refused" if isinstance(e, requests.ConnectionError) else type(e).__name__)
            raise DriverError(
                Problem.UNAVAILABLE, f"{self.label} cannot be reached at {self.host} ({reason}); try again later"
            ) from None
        if r.status_code < 400 or r.status_code in ok:
            return r
        r.close()
        raise self._error(r.status_code, method, path)

    def _error(self, status: int, method: str, path: str) -> DriverError:
        where = f"'{path}'" if path else "the space"
        if status == 401:
            return DriverError(Problem.AUTH, f"{self.label} refused the user name or app password")
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
        return DriverError(Problem.OTHER, f"{self.label} answered {status} to {method} on {where}")

    def _propfind(self, path: str, depth: int, folder: bool) -> list[dict[str, Any]]:
        r = self._request("PROPFIND", path, folder=folder, data=_PROPFIND,
                          headers={"Depth": str(depth), "Content-Type": "application/xml"})
        if r.status_code != 207:
            raise DriverError(Problem.OTHER, f"{self.label} did not answer as a WebDAV server ({r.status_code})")
        return list(WebDavXmlUtils.parse_get_list_info_response(r.content))

    def _entry(self, info: dict[str, Any]) -> Entry:
        name = posixpath.basename(unquote(str(info["path"])).rstrip("/"))
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
        return [self._entry(i) for i in infos if unquote(str(i["path"])).rstrip("/") != own]

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
            for piece in r.iter_content(READ_PIECE):
                if skip:
                    cut = min(skip, len(piece))
                    piece, skip = piece[cut:], skip - cut
                if left is not None:
                    piece, left = piece[:left], left - min(left, len(piece))
                if piece:
                    yield piece
                if left == 0:
                    break
        finally:
            r.close()

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        folder, name = posixpath.split(path)
        temp = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.nbspaces-upload")
        # A known size goes as Content-Length; an unknown one as chunked transfer encoding.
        body = _SizedBody(chunks, size) if size is not None else _Body(chunks)
        try:
            self._request("PUT", temp, data=body, headers={"Content-Type": "application/octet-stream"})
            # Some servers (Nextcloud behind php-fpm, for chunked bodies) answer success and
            # keep nothing: check before the file takes its name.
            stored = self.stat(temp).size
            if stored != body.sent:
                raise DriverError(Problem.OTHER, f"{self.label} kept {stored} of the {body.sent} bytes sent; "
                                                 "the upload failed, try again")
            self._request("MOVE", temp, headers={"Destination": self._url(path), "Overwrite": "T"})
        except BaseException:
            # If the server is gone, its temporary file keeps a name no one uses.
            with contextlib.suppress(DriverError):
                self._request("DELETE", temp, ok=(404,))
            raise

    def mkdir(self, path: str) -> None:
        self._request("MKCOL", path, folder=True)

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def _transfer(self, method: str, src: str, dst: str, headers: dict[str, str]) -> None:
        try:
            self._request(method, src, headers={"Destination": self._url(dst), "Overwrite": "F", **headers})
        except DriverError as e:
            if e.problem is Problem.EXISTS:  # it is the destination that is taken
                raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}") from None
            raise

    def move(self, src: str, dst: str) -> None:
        self._transfer("MOVE", src, dst, {})

    def copy(self, src: str, dst: str) -> None:
        self._transfer("COPY", src, dst, {"Depth": "infinity"})

    def rclone_remote(self) -> dict[str, str] | None:
        vendor = "nextcloud" if "/remote.php/" in self.root + "/" else "other"
        return {"type": "webdav", "url": self._url(""), "vendor": vendor,
                "user": self.credentials.get("username", ""), "pass": self.credentials.get("password", "")}

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
