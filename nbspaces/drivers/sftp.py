"""SFTP servers as spaces (``sftp://user@host:/folder``), on asyncssh.

Hand-written rather than on fsspec's sshfs, which reads a whole file for any range, copies
with a shell command (SFTP-only servers have no shell) and trusts any host key by default.

Host keys: a space remembers the server's host key (its ``host_key`` setting). The first
connection, with none remembered, is refused with :class:`HostKeyUnknown`, which carries the
key and its fingerprint for the user to accept; a server that later shows another key is
refused with a message that says so, never accepted silently.

asyncssh is asynchronous and drivers are blocking: all spaces of a process share one event
loop in a thread of its own, and each call waits for its coroutine there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import posixpath
import threading
from collections.abc import Coroutine, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .base import (
    LABEL,
    Capabilities,
    Driver,
    DriverError,
    Entry,
    Field,
    Network,
    Problem,
    RcloneRemote,
    temporary_name,
)
from .fsspec_driver import READ_BLOCK, READ_PIECE

if TYPE_CHECKING:
    import asyncssh

T = TypeVar("T")
WRITE_PIECE = 4 * 1024 * 1024  # bytes handed to asyncssh per write (it pipelines them in blocks)
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coro`` on the shared loop."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="nbspaces-ssh", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coro, _loop)


def _wait(future: concurrent.futures.Future[T], timeout: float | None) -> T:
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


def _run(coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
    """Run ``coro`` on the shared loop and wait for it (``timeout`` seconds at most)."""
    return _wait(_submit(coro), timeout)


class HostKeyUnknown(DriverError):
    """The server's host key is not (yet) trusted: the user sees the fingerprint and accepts it."""

    def __init__(self, host: str, key: str, fingerprint: str):
        super().__init__(Problem.UNTRUSTED, f"{host} is a server nbspaces has not seen before. Its host key "
                                            f"fingerprint is {fingerprint}: accept it if it is the one your "
                                            "server's admins publish", offer={"host_key": key})
        self.fingerprint = fingerprint


def fingerprint(key: str) -> str:
    import asyncssh

    return str(asyncssh.import_public_key(key).get_fingerprint("sha256"))


class SFTPDriver(Driver):
    kind = "sftp"
    kind_label = "SFTP server"
    credential_fields = {
        "username": Field("User name", required=True),
        "password": Field("Password", "password", help="A password, or a private key below"),
        "private_key": Field("Private key", "secret", help="The whole key, from -----BEGIN to -----END"),
        "passphrase": Field("Passphrase of the private key", "password", help="Only if the key has one"),
    }
    setting_fields = {
        "host": Field("Server", required=True, help="Its host name or address, e.g. sftp.example.org"),
        "port": Field("Port", "integer", minimum=1, maximum=65535, default=22),
        "folder": Field("Folder", help="Empty for your home folder on the server"),
        "host_key": Field("The server's host key", help="Shown at the first connection for you to accept"),
        "label": LABEL,
    }
    capabilities = Capabilities(ranged_reads=True, atomic_rename=True)

    @classmethod
    def check_credentials(cls, values: dict[str, Any]) -> None:
        if not values.get("password") and not values.get("private_key"):
            raise DriverError(Problem.INVALID, "Please give a password or a private key")
        if values.get("passphrase") and not values.get("private_key"):
            raise DriverError(Problem.INVALID, "A passphrase goes with a private key: give the key too")

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        self.host = str(settings.get("host") or "").strip().strip("[]")  # an IPv6 address may come in brackets
        if not self.host or any(c in self.host for c in "/@ \t"):
            raise DriverError(Problem.INVALID, "give the server's host name or address alone, e.g. sftp.example.org")
        self.port = int(settings.get("port") or 22)
        self.folder = str(settings.get("folder") or "").rstrip("/")
        if ".." in self.folder.split("/"):
            raise DriverError(Problem.INVALID, "the folder must not contain '..'")
        self.label = str(settings.get("label") or f"{self.host}")
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._root: str | None = None
        self._lock = asyncio.Lock()  # used on the shared loop only

    # -- connecting -------------------------------------------------------------------

    def _known_hosts(self) -> asyncssh.SSHKnownHosts:
        import asyncssh

        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        try:
            return asyncssh.import_known_hosts(f"{pattern} {self.settings['host_key']}\n")
        except (ValueError, asyncssh.KeyImportError):
            raise DriverError(Problem.INVALID, "the remembered host key is not an SSH public key; add the space "
                                               "again to see the server's key") from None

    def _client_keys(self) -> list[Any]:
        import asyncssh

        text = self.credentials.get("private_key", "").strip()
        if not text:
            return []
        try:
            return [asyncssh.import_private_key(text + "\n", self.credentials.get("passphrase") or None)]
        except asyncssh.KeyEncryptionError:
            raise DriverError(Problem.AUTH, "the private key's passphrase is wrong") from None
        except (ValueError, asyncssh.KeyImportError):
            raise DriverError(Problem.INVALID, "the private key is not one SSH reads (paste the whole key, "
                                               "from -----BEGIN to -----END)") from None

    async def _client(self) -> asyncssh.SFTPClient:
        import asyncssh

        async with self._lock:
            if self._sftp is not None and self._conn is not None and not self._conn.is_closed():
                return self._sftp
            if self.network.guard is not None:
                await asyncio.to_thread(self.network.guard.check_resolved, self.host, self.port)
            if not self.settings.get("host_key"):
                key = await asyncssh.get_server_host_key(self.host, self.port, config=[])
                if key is None:
                    raise DriverError(Problem.OTHER, f"{self.host} showed no host key")
                text = key.export_public_key("openssh").decode().strip()
                raise HostKeyUnknown(self.host, text, str(key.get_fingerprint("sha256")))
            try:
                self._conn = await asyncssh.connect(
                    self.host, self.port, username=self.credentials.get("username") or None,
                    password=self.credentials.get("password") or None, client_keys=self._client_keys(),
                    known_hosts=self._known_hosts(), agent_path=None, config=[], x509_trusted_certs=None,
                    connect_timeout=self.network.connect_timeout, keepalive_interval=30, keepalive_count_max=3,
                    preferred_auth="publickey,keyboard-interactive,password")
            except asyncssh.HostKeyNotVerifiable:
                now = await asyncssh.get_server_host_key(self.host, self.port, config=[])
                shown = now.get_fingerprint("sha256") if now is not None else "unknown"
                raise DriverError(Problem.UNTRUSTED, f"{self.host}'s host key has changed: it was "
                                  f"{fingerprint(self.settings['host_key'])}, it is now {shown}. Someone may be "
                                  "intercepting the connection; if the server's admins say they changed the key, "
                                  "remove the space and add it again") from None
            self._sftp = await self._conn.start_sftp_client()
            self._root = self.folder or await self._sftp.realpath(".")
            return self._sftp

    def _start(self, work: Any) -> concurrent.futures.Future[Any]:
        """Start ``work(sftp)`` (a coroutine function of the SFTP client) on the shared loop."""
        async def go() -> Any:
            sftp = await self._client()
            return await work(sftp)

        return _submit(go())

    def _result(self, path: str, future: concurrent.futures.Future[T], timeout: float | None = None) -> T:
        """What a started call gave, its errors in the user's terms."""
        try:
            return _wait(future, timeout or self.network.connect_timeout + self.network.read_timeout)
        except DriverError:
            raise
        except Exception as e:
            raise self._problem(e, path) from None

    def _call(self, path: str, work: Any, timeout: float | None = None) -> Any:
        """Run ``work(sftp)`` and wait for it."""
        return self._result(path, self._start(work), timeout)

    def _problem(self, error: BaseException, path: str) -> DriverError:
        import asyncssh

        where = f"'{path}'" if path else "the folder"
        if isinstance(error, asyncssh.SFTPNoSuchFile):
            if not path:
                return DriverError(Problem.NOT_FOUND, f"{self.host} has no folder '{self.folder}'")
            return DriverError(Problem.NOT_FOUND, f"{where} does not exist on {self.label}")
        if isinstance(error, asyncssh.SFTPFileAlreadyExists):
            return DriverError(Problem.EXISTS, f"{where} already exists on {self.label}")
        if isinstance(error, asyncssh.SFTPPermissionDenied):
            return DriverError(Problem.FORBIDDEN, f"{self.label} does not allow this on {where}")
        if isinstance(error, (asyncssh.SFTPNoSpaceOnFilesystem, asyncssh.SFTPQuotaExceeded)):
            return DriverError(Problem.NO_SPACE, f"{self.label} is full")
        if isinstance(error, asyncssh.PermissionDenied):
            return DriverError(Problem.AUTH, f"{self.label} refused the user name, password or key")
        if isinstance(error, asyncssh.SFTPError):
            return DriverError(Problem.OTHER, f"{self.label} failed on {where}: {error.reason}")
        self._forget()
        return DriverError(Problem.UNAVAILABLE, f"{self.label} cannot be reached at {self.host}:{self.port} "
                                                f"({type(error).__name__}); try again later")

    def _forget(self) -> None:
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.close()

    def _full(self, path: str) -> str:
        assert self._root is not None
        return posixpath.join(self._root, path) if path else self._root

    @staticmethod
    def _entry(name: str, attrs: Any) -> Entry:
        import asyncssh

        is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY
        modified = datetime.fromtimestamp(attrs.mtime, UTC) if attrs.mtime is not None else None
        return Entry(name, is_dir, None if is_dir else int(attrs.size or 0), modified)

    # -- the contract -----------------------------------------------------------------

    def check(self) -> None:
        """Logged in, and the folder is there (one request, not a listing)."""
        if not self.stat("").is_dir:
            raise DriverError(Problem.INVALID, f"'{self.folder}' is a file on {self.host}")

    def list(self, path: str) -> list[Entry]:
        import asyncssh

        async def work(sftp: asyncssh.SFTPClient) -> list[Entry]:
            out = []
            for name in await sftp.readdir(self._full(path)):
                if name.filename in (".", ".."):
                    continue
                attrs = name.attrs
                if attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:  # what it points to
                    with contextlib.suppress(asyncssh.SFTPError):
                        attrs = await sftp.stat(self._full(posixpath.join(path, str(name.filename))))
                out.append(self._entry(str(name.filename), attrs))
            return out

        return self._call(path, work)

    def stat(self, path: str) -> Entry:
        async def work(sftp: Any) -> Entry:
            return self._entry(posixpath.basename(path), await sftp.stat(self._full(path)))

        return self._call(path, work)

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        handle = self._call(path, lambda sftp: sftp.open(self._full(path), "rb"))
        try:
            # 8 MiB a call (asyncssh sends its requests in parallel), the next block asked for
            # while this one is handed on in 1 MiB pieces.
            def ask(offset: int) -> concurrent.futures.Future[bytes] | None:
                size = READ_BLOCK if end is None else min(READ_BLOCK, end - offset + 1)
                return self._start(lambda _: handle.read(size, offset)) if size > 0 else None

            offset, pending = start, ask(start)
            while pending is not None:
                block = self._result(path, pending)
                if not block:
                    return
                offset += len(block)
                pending = ask(offset)
                view = memoryview(block)
                for cut in range(0, len(view), READ_PIECE):
                    yield bytes(view[cut:cut + READ_PIECE])
        finally:
            with contextlib.suppress(Exception):
                _run(handle.close(), self.network.connect_timeout)

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        temp = temporary_name(path)
        try:
            handle = self._call(path, lambda sftp: sftp.open(self._full(temp), "wb"))
            try:
                offset, block = 0, bytearray()
                for piece in chunks:
                    block += piece
                    if len(block) >= WRITE_PIECE:  # asyncssh pipelines a large write in parallel requests
                        self._call(path, lambda _, b=bytes(block), o=offset: handle.write(b, o))
                        offset, block = offset + len(block), bytearray()
                if block:
                    self._call(path, lambda _, b=bytes(block), o=offset: handle.write(b, o))
            finally:
                self._call(path, lambda _: handle.close())
            self.replace(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self._call(temp, lambda sftp: sftp.remove(self._full(temp)))
            raise

    def replace(self, temp: str, path: str) -> None:
        """One rename that replaces (OpenSSH's posix-rename); where the server lacks it, the
        contract's own replace (the old version moved aside, put back if the rename fails)."""
        async def posix_rename(sftp: Any) -> bool:
            import asyncssh

            try:
                await sftp.posix_rename(self._full(temp), self._full(path))
            except asyncssh.SFTPOpUnsupported:
                return False
            return True

        if not self._call(path, posix_rename):
            super().replace(temp, path)

    def mkdir(self, path: str) -> None:
        async def work(sftp: Any) -> None:
            import asyncssh

            if await sftp.exists(self._full(path)):
                raise asyncssh.SFTPFileAlreadyExists("exists")
            await sftp.mkdir(self._full(path))

        self._call(path, work)

    def delete(self, path: str) -> None:
        if not path:
            raise DriverError(Problem.INVALID, "the space itself cannot be deleted")

        async def work(sftp: Any) -> None:
            if await sftp.isdir(self._full(path)):
                await sftp.rmtree(self._full(path))
            else:
                await sftp.remove(self._full(path))

        self._call(path, work)

    def move(self, src: str, dst: str) -> None:
        async def work(sftp: Any) -> None:
            import asyncssh

            await sftp.stat(self._full(src))
            if await sftp.exists(self._full(dst)):
                raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
            try:
                await sftp.rename(self._full(src), self._full(dst))
            except asyncssh.SFTPNoSuchFile:
                raise DriverError(Problem.NOT_FOUND, f"the folder of '{dst}' does not exist on {self.label}") from None

        self._call(src, work)

    def copy(self, src: str, dst: str) -> None:
        async def one(sftp: Any, source: str, target: str) -> None:
            attrs = await sftp.stat(source)
            if attrs.type == 2:  # FILEXFER_TYPE_DIRECTORY
                await sftp.mkdir(target)
                for name in await sftp.readdir(source):
                    if name.filename not in (".", ".."):
                        await one(sftp, posixpath.join(source, name.filename), posixpath.join(target, name.filename))
                return
            if sftp.supports_remote_copy:  # the server copies (OpenSSH 9's copy-data)
                await sftp.remote_copy(source, target)
                return
            async with sftp.open(source, "rb") as reader, sftp.open(target, "wb") as writer:
                offset = 0
                while piece := await reader.read(WRITE_PIECE, offset):
                    await writer.write(piece, offset)
                    offset += len(piece)

        async def work(sftp: Any) -> None:
            await sftp.stat(self._full(src))
            if await sftp.exists(self._full(dst)):
                raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
            await one(sftp, self._full(src), self._full(dst))

        self._call(src, work, timeout=24 * 3600)

    def rclone_remote(self) -> RcloneRemote | None:
        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        key = self.credentials.get("private_key", "").strip()
        return RcloneRemote({"type": "sftp", "host": self.host, "port": str(self.port),
                             "user": self.credentials.get("username", ""), "pass": self.credentials.get("password", ""),
                             # rclone takes the key on one line, its line breaks written as \n
                             "key_pem": key.replace("\n", "\\n"),
                             "key_file_pass": self.credentials.get("passphrase", ""), "shell_type": "none"},
                            path=self.folder, obscured=frozenset({"pass", "key_file_pass"}),
                            files={"known_hosts_file": f"{pattern} {self.settings.get('host_key', '')}\n"})

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                _run(self._close(), self.network.connect_timeout)

    async def _close(self) -> None:
        self._forget()
