"""EGI DataHub (Onedata) spaces, on Onedata's own REST client (onedatafilerestclient).

One nbspaces space (``datahub/`` by default) holds every Onedata space the user's token
reaches, each as a folder. Fixes on our side what the packaged clients leave out: listings
follow pagination to the end (the fsspec package stops at the first 1,000 entries), reads
stream in ranged blocks, writes go in large blocks to a temporary file renamed at the end.
The Onezone is found from the Oneprovider's configuration when only the provider is given.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from .base import LABEL, VERIFY_TLS, Driver, DriverError, Entry, Field, Network, Problem, Usage, aside, window

BLOCK = 8 * 1024 * 1024  # bytes per ranged read or write request
READ_PIECE = 1024 * 1024  # bytes per piece of a streamed read
PAGE = 1000
ID_TTL = 5.0  # seconds a file id learned from a stat is reused (as a listing is; our own changes drop it)
ID_CACHE_MAX = 1024  # file ids kept at most
_ERRNO = {"enoent": Problem.NOT_FOUND, "eexist": Problem.EXISTS, "eacces": Problem.FORBIDDEN,
          "eperm": Problem.FORBIDDEN, "enospc": Problem.NO_SPACE, "edquot": Problem.NO_SPACE,
          "enotempty": Problem.INVALID, "enotdir": Problem.INVALID, "eisdir": Problem.INVALID}
ATTRIBUTES = ["name", "type", "size", "mtime"]


def onezone_of(provider: str, verify: bool | str = True, timeout: float | tuple[float, float] = 20) -> str:
    """The Onezone a Oneprovider belongs to, from its public configuration."""
    url = f"https://{provider}/api/v3/oneprovider/configuration"
    try:
        r = requests.get(url, timeout=timeout, verify=verify)
        r.raise_for_status()
        data = r.json()
    except (requests.RequestException, ValueError) as e:
        raise DriverError(Problem.UNAVAILABLE, f"the Oneprovider {provider} cannot be reached ({type(e).__name__}); "
                                               "try again later") from None
    zone = data.get("onezoneDomain") or data.get("zoneDomain")
    if not zone:
        raise DriverError(Problem.OTHER, f"the Oneprovider {provider} names no Onezone")
    return str(zone)



def _url_path(rel: str) -> str:
    """A path as onedatafilerestclient puts it in a URL: it does not quote paths itself, so a name
    with '%41', '#', '?' or a space would reach Onedata as another name, or a query. (A move's
    source goes in a JSON body, as it is.)"""
    return quote(rel, safe="/")

class OnedataDriver(Driver):
    kind = "onedata"
    kind_label = "EGI DataHub (Onedata)"
    credential_fields = {"token": Field("Onedata access token", "password", required=True)}
    login_token = "onedata"
    setting_fields = {"onezone": Field("Onezone host", help="e.g. datahub.egi.eu"),
                      "oneprovider": Field("Oneprovider host", help="Found from the Onezone when empty"),
                      "label": LABEL, "verify_tls": VERIFY_TLS}

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        self.label = str(settings.get("label") or "DataHub")
        verify = settings.get("verify_tls", True)
        if not isinstance(verify, (bool, str)):
            raise DriverError(Problem.INVALID, "verify_tls must be true, false or the path of a CA bundle")
        self.verify: bool | str = verify
        self.provider = str(settings.get("oneprovider") or "")
        self.onezone = str(settings.get("onezone") or "")
        if not self.onezone and not self.provider:
            raise DriverError(Problem.INVALID, "give the DataHub's 'onezone' or a 'oneprovider' host")
        self._client: Any = None
        self._client_token: str | None = None
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], tuple[float, str]] = {}  # (space, path) -> (when, file id)
        self._changes = 0  # our own writes, moves and deletes so far (see _remember)
        self._ids_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------

    def client(self) -> Any:
        """One client per token: a refreshed login token gets a new one."""
        from onedatafilerestclient import OnedataFileRESTClient

        token = self.credentials.get("token")
        if not token:
            raise DriverError(Problem.AUTH, f"there is no Onedata token for {self.label}; log in again")
        with self._lock:
            if self._client is None or self._client_token != token:
                if not self.onezone:
                    self.onezone = onezone_of(self.provider, self.verify, self.network.timeout)
                self._client = OnedataFileRESTClient(
                    self.onezone, token, preferred_providers=[self.provider] if self.provider else None,
                    verify_ssl=self.verify,  # type: ignore[arg-type]  # requests takes a CA bundle path too
                    timeout=self.network.timeout)
                self._client_token = token
            return self._client

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from onedatafilerestclient.errors import (
            NoAvailableProviderForSpaceError,
            OnedataError,
            OnedataRESTError,
            ReadonlyTokenError,
            SpaceNotFoundError,
        )

        try:
            yield
        except DriverError:
            raise
        except SpaceNotFoundError:
            raise DriverError(Problem.NOT_FOUND, f"{what}: no such space in {self.label}") from None
        except NoAvailableProviderForSpaceError:
            raise DriverError(Problem.UNAVAILABLE, f"{what}: no Oneprovider of this space can be reached now; "
                                                   "try again later") from None
        except ReadonlyTokenError:
            raise DriverError(Problem.FORBIDDEN, f"{what}: your DataHub token is read-only") from None
        except OnedataRESTError as e:
            raise self._rest_error(e.http_code, e.category, e.details, what) from None
        except requests.HTTPError as e:
            error: dict[str, Any] = {}
            with contextlib.suppress(ValueError, AttributeError):
                error = e.response.json().get("error", {})  # type: ignore[union-attr]
            code = e.response.status_code if e.response is not None else 0
            raise self._rest_error(code, error.get("id"), error.get("details"), what) from None
        except (requests.ConnectionError, requests.Timeout):
            raise DriverError(Problem.UNAVAILABLE,
                              f"{self.label} cannot be reached ({what}); try again later") from None
        except OnedataError as e:
            raise DriverError(Problem.OTHER, f"{what}: {e}") from None
        except KeyError:  # the client's answer to a space outside the token's scope
            raise DriverError(Problem.NOT_FOUND, f"{what}: not found in {self.label}") from None

    def _rest_error(self, status: int, category: Any, details: Any, what: str) -> DriverError:
        """Onedata's error body ({"error": {"id", "description", "details"}}) in the user's terms."""
        errno_name = str(details.get("errno", "")).lower() if isinstance(details, dict) else ""
        if category == "posix" and errno_name in _ERRNO:
            problem = _ERRNO[errno_name]
            text = {Problem.NOT_FOUND: "does not exist", Problem.EXISTS: "already exists",
                    Problem.FORBIDDEN: "is not allowed for you", Problem.NO_SPACE: "no space left in the space",
                    Problem.INVALID: f"cannot be done ({errno_name})"}[problem]
            return DriverError(problem, f"{what}: {text}")
        if status in (401, 403) or str(category or "").startswith(("token", "unauthorized", "badValueToken")):
            return DriverError(Problem.AUTH, f"{self.label} refused your token ({what}); log out and in again")
        if status == 404:
            return DriverError(Problem.NOT_FOUND, f"{what}: not found in {self.label}")
        if status >= 500:
            return DriverError(Problem.UNAVAILABLE, f"{self.label} failed ({status}) on {what}; try again later")
        return DriverError(Problem.OTHER, f"{self.label} answered {status} to {what}")

    def _spaces(self) -> dict[str, str]:
        """Folder name -> space specifier: the space's name, or name@id where names repeat."""
        fqns = self.client().list_spaces()
        names = [str(f).rsplit("@", 1)[0] for f in fqns]
        return {(n if names.count(n) == 1 else str(f)): str(f) for n, f in zip(names, fqns, strict=True)}

    def _split(self, path: str) -> tuple[str, str]:
        """(space specifier, path inside it) for a path whose first part is the space's folder."""
        head, _, rest = path.partition("/")
        spaces = self._spaces()
        if head not in spaces:
            raise DriverError(Problem.NOT_FOUND, f"'{head}' is not one of your {self.label} spaces")
        return spaces[head], rest

    @staticmethod
    def _entry(attrs: dict[str, Any]) -> Entry:
        kind = str(attrs.get("type", "")).upper()
        mtime = attrs.get("mtime")
        return Entry(name=str(attrs.get("name", "")), is_dir=kind in ("DIR", "DIRECTORY"),
                     size=None if kind in ("DIR", "DIRECTORY") else int(attrs.get("size") or 0),
                     modified=datetime.fromtimestamp(float(mtime), UTC) if mtime else None)

    # -- the driver ---------------------------------------------------------------------

    def check(self) -> None:
        """Onezone knows the token, and a Oneprovider of the first space answers."""
        with self._errors("listing your spaces"):
            spaces = self._spaces()
        if spaces:
            first = next(iter(spaces.values()))
            with self._errors("reaching a Oneprovider"):
                self.client().list_children(first, limit=1)

    def list(self, path: str) -> list[Entry]:
        if not path:
            with self._errors("listing your spaces"):
                return [Entry(name=name, is_dir=True) for name in self._spaces()]
        space, rel = self._split(path)
        out: list[Entry] = []
        token: str | None = None
        with self._errors(f"listing '{path}'"):
            # The folder's id once, not its path on every page (the client looks a path up each time).
            folder = self._file_id(space, rel) if rel else None
            while True:  # every page, not only the first
                page = self.client().list_children(space, file_id=folder, attributes=ATTRIBUTES,
                                                   limit=PAGE, continuation_token=token)
                out.extend(self._entry(c) for c in page["children"])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return out

    def stat(self, path: str) -> Entry:
        if not path:
            return Entry(name="", is_dir=True)
        space, rel = self._split(path)
        if not rel:
            return Entry(name=path, is_dir=True)
        changes = self._changes
        with self._errors(f"'{path}'"):
            attrs = self.client().get_attributes(space, file_path=_url_path(rel), attributes=[*ATTRIBUTES, "fileId"])
        if attrs.get("fileId"):
            self._remember(space, rel, str(attrs["fileId"]), changes)
        return self._entry(attrs)

    def _remember(self, space: str, rel: str, file_id: str, changes: int) -> None:
        """Keep a path's id for ID_TTL, unless one of our changes ran while it was looked up."""
        now = time.monotonic()
        with self._ids_lock:
            if changes != self._changes:
                return
            if len(self._ids) >= ID_CACHE_MAX:
                self._ids = {k: v for k, v in self._ids.items() if now - v[0] < ID_TTL}
            if len(self._ids) < ID_CACHE_MAX:
                self._ids[(space, rel)] = (now, file_id)

    def _file_id(self, space: str, rel: str) -> str:
        """The id of a path: the one a stat just found, else one lookup."""
        known = self._ids.get((space, rel))
        if known and time.monotonic() - known[0] < ID_TTL:
            return known[1]
        return str(self.client().get_file_id(space, file_path=_url_path(rel)))

    def _changed(self) -> None:
        """After our own write, move or delete: ids learned before, or while it ran, may name other
        files now (Onedata keeps a file's id when it moves)."""
        with self._ids_lock:
            self._changes += 1
            self._ids.clear()

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        space, rel = self._split(path)
        client = self.client()
        what = f"reading '{path}'"
        with self._errors(what):
            file_id = self._file_id(space, rel)
        if start == 0 and (end is None or end >= BLOCK):
            # One GET streamed in 1 MiB reads (the client's iter_file_content), not blocks each
            # assembled in memory. It has no Range: a read that ends early drops the rest of the
            # stream, so a short head (a browser sniffing a file) is one ranged block instead.
            with self._errors(what):
                stream = client.iter_file_content(space, file_id=file_id, chunk_size=READ_PIECE)
            try:
                yield from window(self._guarded(stream, what), 0, None if end is None else end + 1)
            finally:
                stream.close()
            return
        if end is None:
            with self._errors(what):
                end = int(client.get_attributes(space, file_id=file_id, attributes=["size"]).get("size") or 0) - 1
        offset = start
        while offset <= end:
            count = min(BLOCK, end - offset + 1)
            with self._errors(what):
                piece = client.get_file_content(space, file_id=file_id, offset=offset, size=count)
            if piece:
                yield piece
            if len(piece) < count:  # the end of the file came first
                return
            offset += len(piece)

    def _guarded(self, pieces: Iterator[bytes], what: str) -> Iterator[bytes]:
        """A stream's pieces, its failures (a connection lost mid-way) as DriverErrors."""
        while True:
            with self._errors(what):
                piece = next(pieces, None)
            if piece is None:
                return
            yield piece

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        space, rel = self._split(path)
        if not rel:
            raise DriverError(Problem.INVALID, f"'{path}' is a space, not a file")
        folder, name = posixpath.split(rel)
        temp = aside(folder, name)
        client = self.client()
        with self._errors(f"writing '{path}'"):
            file_id = client.create_file(space, _url_path(temp), file_type="REG")
            try:
                offset, block = 0, bytearray()
                for piece in chunks:
                    block += piece
                    if len(block) >= BLOCK:  # large blocks: one request per 8 MiB, not per piece
                        client.put_file_content(space, bytes(block), file_id=file_id, offset=offset)
                        offset, block = offset + len(block), bytearray()
                if block or offset == 0:
                    client.put_file_content(space, bytes(block), file_id=file_id, offset=offset)
                self.replace(f"{space}/{temp}", path)
            except BaseException:
                with contextlib.suppress(Exception):
                    client.remove(space, file_id=file_id)
                raise
            finally:
                self._changed()  # the path names another file now, or none

    def mkdir(self, path: str) -> None:
        space, rel = self._split(path)
        if not rel:
            raise DriverError(Problem.EXISTS, f"'{path}' already exists")
        with self._errors(f"creating '{path}'"):
            self.client().create_file(space, _url_path(rel), file_type="DIR")

    def delete(self, path: str) -> None:
        space, rel = self._split(path)
        if not rel:
            raise DriverError(Problem.FORBIDDEN, f"'{path}' is a whole space; it cannot be deleted from here")
        try:
            with self._errors(f"deleting '{path}'"):
                self.client().remove(space, file_path=_url_path(rel))
        finally:
            self._changed()

    def move(self, src: str, dst: str) -> None:
        s_space, s_rel = self._split(src)
        d_space, d_rel = self._split(dst)
        if s_space != d_space:
            self.copy(src, dst)
            self.delete(src)
            return
        if self.exists(dst):
            raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
        try:
            with self._errors(f"moving '{src}'"):
                self.client().move(s_space, s_rel, d_space, _url_path(d_rel))
        finally:
            self._changed()

    def copy(self, src: str, dst: str) -> None:
        source = self.stat(src)
        if self.exists(dst):  # a copy never overwrites (the write below would)
            raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
        if source.is_dir:
            self.mkdir(dst)
            for child in self.list(src):
                self.copy(f"{src}/{child.name}", f"{dst}/{child.name}")
            return
        self.write(dst, self.read(src), source.size)

    def usage(self) -> Usage:
        return Usage(None, None)
