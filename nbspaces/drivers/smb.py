"""SMB/CIFS shares as spaces (Windows file servers, Samba, NAS), on smbprotocol's smbclient.

Hand-written rather than on fsspec's SMB filesystem, which stats every entry of a listing
one by one and keeps sessions in one process-wide cache keyed by server: here a listing is
one directory query (its answers carry sizes and times), and each space has a connection
cache of its own, so two spaces on one server with different users never share a session.
Writes go to a hidden temporary name and replace the target in one SMB rename; copies are
server-side (SMB's copy-chunk), moves are renames.
"""

from __future__ import annotations

import contextlib
import errno
import posixpath
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from .base import (
    LABEL,
    PASSWORD,
    USERNAME,
    Capabilities,
    Driver,
    DriverError,
    Entry,
    Field,
    Network,
    Problem,
    RcloneRemote,
    Usage,
    temporary_name,
    utc,
)
from .fsspec_driver import READ_PIECE

# NTSTATUS codes: LOGON_FAILURE, ACCOUNT_RESTRICTION, PASSWORD_EXPIRED, ACCOUNT_DISABLED, ACCOUNT_LOCKED_OUT.
_LOGON_REFUSED = frozenset({0xC000006D, 0xC000006E, 0xC0000071, 0xC0000072, 0xC0000234})
_BAD_NETWORK_NAME = 0xC00000CC
_NAME_INVALID = 0xC0000033
FORBIDDEN_CHARACTERS = '\\/:*?"<>|'  # in names on SMB shares (Windows' rules)
_ERRNO = {errno.ENOENT: Problem.NOT_FOUND, errno.EEXIST: Problem.EXISTS, errno.EACCES: Problem.FORBIDDEN,
          errno.EPERM: Problem.FORBIDDEN, errno.ENOSPC: Problem.NO_SPACE, errno.EISDIR: Problem.INVALID,
          errno.ENOTDIR: Problem.INVALID, errno.ENOTEMPTY: Problem.INVALID}


class SMBDriver(Driver):
    kind = "smb"
    kind_label = "SMB share"
    credential_fields = {"username": USERNAME, "password": PASSWORD}
    setting_fields = {
        "host": Field("Server", required=True, help="Its host name or address, e.g. files.example.org"),
        "port": Field("Port", "integer", minimum=1, maximum=65535, default=445),
        "share": Field("Share", required=True, help="The share's name: data in \\\\files.example.org\\data"),
        "folder": Field("Folder in the share", help="Empty for the whole share"),
        "domain": Field("Domain", help="Only if your server asks for one (Windows domains)"),
        "label": LABEL,
    }
    capabilities = Capabilities(ranged_reads=True, server_copy=True, atomic_rename=True, usage=True)

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        self.host = str(settings.get("host") or "").strip()
        self.share = str(settings.get("share") or "").strip("/\\")
        if not self.host or any(c in self.host for c in "/\\@ "):
            raise DriverError(Problem.INVALID, "give the server's host name or address alone, e.g. files.example.org")
        if not self.share or any(c in self.share for c in "/\\"):
            raise DriverError(Problem.INVALID, "give the share's name alone (the folder in it goes in 'folder')")
        self.port = int(settings.get("port") or 445)
        self.folder = [p for p in str(settings.get("folder") or "").replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in self.folder:
            raise DriverError(Problem.INVALID, "the folder must not contain '..'")
        self.label = str(settings.get("label") or f"SMB share '{self.share}' on {self.host}")
        self._cache: dict[str, Any] = {}  # this space's own SMB connections
        self._lock = threading.Lock()
        self._checked_address = False

    # -- plumbing ---------------------------------------------------------------------

    def _unc(self, path: str) -> str:
        parts = [self.host, self.share, *self.folder, *(p for p in path.split("/") if p)]
        return "\\\\" + "\\".join(parts)

    @property
    def _kw(self) -> dict[str, Any]:
        user = self.credentials.get("username", "")
        domain = self.settings.get("domain")
        return {"username": f"{domain}\\{user}" if domain else user, "password": self.credentials.get("password", ""),
                "port": self.port, "connection_cache": self._cache, "auth_protocol": "ntlm",
                "connection_timeout": self.network.connect_timeout}

    @contextlib.contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        from smbprotocol import exceptions as smb

        where = f"'{path}'" if path else "the share"
        if not self._checked_address and self.network.guard is not None:
            self.network.guard.check_resolved(self.host, self.port)
            self._checked_address = True
        try:
            yield
        except DriverError:
            raise
        except (smb.LogonFailure, smb.SMBAuthenticationError, smb.AccessDenied) as e:
            if isinstance(e, smb.AccessDenied) and path:
                raise DriverError(Problem.FORBIDDEN, f"{self.label} does not allow this on {where}") from None
            raise DriverError(Problem.AUTH, f"{self.label} refused the user name or password") from None
        except smb.BadNetworkName:
            raise DriverError(Problem.NOT_FOUND, f"{self.host} has no share named '{self.share}'") from None
        except smb.SMBOSError as e:
            if e.ntstatus in _LOGON_REFUSED:
                raise DriverError(Problem.AUTH, f"{self.label} refused the user name or password") from None
            if e.ntstatus == _NAME_INVALID:
                raise DriverError(Problem.INVALID, f"{where} is not a name SMB allows: names on SMB shares cannot "
                                                   f"hold any of {' '.join(FORBIDDEN_CHARACTERS)}") from None
            if e.ntstatus == _BAD_NETWORK_NAME:
                raise DriverError(Problem.NOT_FOUND, f"{self.host} has no share '{self.share}'") from None
            problem = _ERRNO.get(e.errno or 0, Problem.OTHER)
            if problem is Problem.NOT_FOUND and not path:  # Samba answers a missing share so
                folder = f" with the folder '{'/'.join(self.folder)}'" if self.folder else ""
                raise DriverError(problem, f"{self.host} has no share '{self.share}'{folder}") from None
            if problem is Problem.NOT_FOUND:
                raise DriverError(problem, f"{where} does not exist on {self.label}") from None
            if problem is Problem.EXISTS:
                raise DriverError(problem, f"{where} already exists on {self.label}") from None
            if problem is Problem.FORBIDDEN:
                raise DriverError(problem, f"{self.label} does not allow this on {where} ({e.strerror})") from None
            raise DriverError(problem, f"{self.label} failed on {where}: {e.strerror}") from None
        except (OSError, ValueError, smb.SMBException) as e:
            # smbprotocol reports a server that cannot be reached as a ValueError or OSError.
            with self._lock:
                self._close()
            raise DriverError(Problem.UNAVAILABLE, f"{self.label} cannot be reached at {self.host}:{self.port} "
                                                   f"({type(e).__name__}); try again later") from None

    def _entry(self, name: str, info: Any) -> Entry:
        from smbprotocol.file_info import FileAttributes

        is_dir = bool(info.file_attributes & FileAttributes.FILE_ATTRIBUTE_DIRECTORY)
        return Entry(name, is_dir, None if is_dir else int(info.end_of_file), utc(info.last_write_time))

    # -- the contract -----------------------------------------------------------------

    def check(self) -> None:
        """The folder of the space is there and readable (one request, not a listing)."""
        if not self.stat("").is_dir:
            raise DriverError(Problem.INVALID, f"'{'/'.join(self.folder)}' is a file on {self.host}")

    def list(self, path: str) -> list[Entry]:
        import smbclient

        with self._errors(path):
            return [self._entry(e.name, e.smb_info) for e in smbclient.scandir(self._unc(path), **self._kw)
                    if e.name not in (".", "..")]

    def stat(self, path: str) -> Entry:
        import smbclient

        with self._errors(path):
            st = smbclient.stat(self._unc(path), **self._kw)
        is_dir = bool(st.st_file_attributes & 0x10)
        return Entry(posixpath.basename(path), is_dir, None if is_dir else st.st_size,
                     datetime.fromtimestamp(st.st_mtime, UTC))

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        import smbclient

        with self._errors(path):
            f = smbclient.open_file(self._unc(path), "rb", buffering=0, **self._kw)
        try:
            left = None if end is None else end - start + 1
            with self._errors(path):
                f.seek(start)
            while left is None or left > 0:
                with self._errors(path):
                    piece = f.read(READ_PIECE if left is None else min(READ_PIECE, left))
                if not piece:
                    return
                if left is not None:
                    left -= len(piece)
                yield piece
        finally:
            with contextlib.suppress(Exception):
                f.close()

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        import smbclient

        temp = temporary_name(path)
        try:
            with self._errors(path):
                f = smbclient.open_file(self._unc(temp), "wb", buffering=0, **self._kw)
            try:
                for piece in chunks:
                    view = memoryview(piece)
                    while view:
                        with self._errors(path):
                            done = f.write(view)
                        view = view[done:]
            finally:
                with self._errors(path):
                    f.close()
            with self._errors(path):
                smbclient.replace(self._unc(temp), self._unc(path), **self._kw)  # one rename, replacing
        except BaseException:
            with contextlib.suppress(Exception):
                smbclient.remove(self._unc(temp), **self._kw)
            raise

    def mkdir(self, path: str) -> None:
        import smbclient

        with self._errors(path):
            smbclient.mkdir(self._unc(path), **self._kw)

    def delete(self, path: str) -> None:
        import smbclient
        from smbclient import shutil as smbshutil

        if not path:
            raise DriverError(Problem.INVALID, "the share itself cannot be deleted")
        is_dir = self.stat(path).is_dir
        with self._errors(path):
            if is_dir:
                smbshutil.rmtree(self._unc(path), **self._kw)
            else:
                smbclient.remove(self._unc(path), **self._kw)

    def _refuse_existing(self, dst: str) -> None:
        try:
            self.stat(dst)
        except DriverError as e:
            if e.problem is Problem.NOT_FOUND:
                return
            raise
        raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")

    def move(self, src: str, dst: str) -> None:
        import smbclient

        self.stat(src)
        self._refuse_existing(dst)
        with self._errors(src):
            smbclient.rename(self._unc(src), self._unc(dst), **self._kw)

    def copy(self, src: str, dst: str) -> None:
        from smbclient import shutil as smbshutil

        is_dir = self.stat(src).is_dir
        self._refuse_existing(dst)
        if not is_dir:
            with self._errors(src):
                smbshutil.copyfile(self._unc(src), self._unc(dst), **self._kw)  # server-side copy-chunk
            return
        # A folder, level by level (smbclient's copytree loses the port on the way).
        self.mkdir(dst)
        for entry in self.list(src):
            self.copy(posixpath.join(src, entry.name), posixpath.join(dst, entry.name))

    def usage(self) -> Usage:
        import smbclient

        try:
            with self._errors(""):
                volume = smbclient.stat_volume(self._unc(""), **self._kw)
        except DriverError:
            return Usage(None, None)
        return Usage(volume.total_size - volume.caller_available_size, volume.total_size)

    def rclone_remote(self) -> RcloneRemote | None:
        return RcloneRemote({"type": "smb", "host": self.host, "port": str(self.port),
                             "user": self.credentials.get("username", ""), "pass": self.credentials.get("password", ""),
                             "domain": str(self.settings.get("domain") or "")},
                            path="/".join([self.share, *self.folder]), obscured=frozenset({"pass"}))

    def _close(self) -> None:
        for connection in list(self._cache.values()):
            with contextlib.suppress(Exception):
                connection.disconnect()
        self._cache.clear()

    def close(self) -> None:
        with self._lock:
            self._close()
