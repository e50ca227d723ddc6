"""``fs.onedatafs.OnedataFS`` where Onedata's native plugin is not installed.

EGI documents DataHub access from notebooks as::

    from fs.onedatafs import OnedataFS
    odfs = OnedataFS(os.environ['ONEPROVIDER_HOST'], os.environ['ONECLIENT_ACCESS_TOKEN'],
                     force_direct_io=True)

The native plugin (conda, or deb python3-fs-plugin-onedatafs) drives oneclient and is not on
PyPI. This class takes the native constructor's arguments and is a PyFilesystem2 filesystem
over Onedata's REST API (Onedata's own fs-onedatarestfs). nbspaces installs it under the
name ``fs.onedatafs`` only when nothing else provides that name (see nbspaces/_fshook.py).

Arguments with no meaning over REST are accepted and have no effect: force_proxy_io and
force_direct_io (REST always goes through the Oneprovider), metadata_cache_size,
drop_dir_cache_after, log_level and cli_args; space and space_id do not narrow the spaces
shown (paths always start with the space's name, as with the native plugin). ``no_buffer=True``
turns off the 8 MiB buffers that otherwise group small reads and writes into large requests.

Where fs-onedatarestfs departs from the PyFilesystem contract, this class keeps it: files seek,
truncate, append and open with "w" as Python's files do, and a space's own folder exists for
``makedir``/``makedirs`` as any folder does.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from typing import Any

import fs.path
from fs.errors import DirectoryExists
from fs.onedatarestfs import OnedataRESTFS
from fs.onedatarestfs.onedatarestfs import OnedataRESTFile

from .drivers.onedata import BLOCK, onezone_of

__all__ = ["OnedataFS"]


def _verify(insecure: bool) -> bool | str:
    """TLS verification; sites with a private CA name its bundle as requests users do."""
    if insecure:
        return False
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True


class _File(OnedataRESTFile):  # type: ignore[misc]
    """Onedata's REST file, positioned and truncated as Python's files are. fs.onedatarestfs
    refuses to seek back from the current position, lets a seek before the start through, writes
    a file opened to append where its position is, and truncates by reading the part kept into
    memory (only in read modes: in "w" it fails, in "r" it changes the file), moving the position."""

    def _size(self) -> int:
        return int(self.client().get_attributes(self._space_name, attributes=["size"], file_id=self._file_id)["size"])

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self.pos
        elif whence == io.SEEK_END:
            base = self._size()
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if base + pos < 0:
            raise OSError(errno.EINVAL, f"Cannot seek to {base + pos}, before the start of {self._file_path}")
        self.pos = base + pos
        return self.pos

    def truncate(self, size: int | None = None) -> int:
        if not self.mode.writing:
            raise io.UnsupportedOperation(f"{self._file_path} is not open for writing")
        size = self.pos if size is None else size
        if size < 0:
            raise OSError(errno.EINVAL, f"Cannot truncate {self._file_path} to {size} bytes")
        current = self._size()
        client, space, file_id = self.client(), self._space_name, self._file_id
        if size > current:  # the rest reads as zeros, as in a sparse file
            client.put_file_content(space, b"\0", offset=size - 1, file_id=file_id)
        elif size < current:
            # Onedata's REST API only truncates to zero: keep the first bytes aside, in pieces.
            with tempfile.TemporaryFile() as kept:
                for start in range(0, size, BLOCK):
                    kept.write(client.get_file_content(space, offset=start, size=min(BLOCK, size - start),
                                                       file_id=file_id))
                kept.seek(0)
                client.put_file_content(space, b"", file_id=file_id)
                for start in range(0, size, BLOCK):
                    client.put_file_content(space, kept.read(BLOCK), offset=start, file_id=file_id)
        return size

    def write(self, data: Any) -> int | None:
        if self.mode.appending:
            self.pos = self._size()  # as O_APPEND: at the end, whatever was written there meanwhile
        return super().write(data)  # type: ignore[no-any-return]


class OnedataFS(OnedataRESTFS):  # type: ignore[misc]
    def __init__(
        self,
        host: str,
        token: str,
        port: int = 443,
        space: list[str] | None = None,
        space_id: list[str] | None = None,
        insecure: bool = False,
        force_proxy_io: bool = False,
        force_direct_io: bool = False,
        no_buffer: bool = False,
        provider_timeout: int = 30,
        metadata_cache_size: int = 5000000,
        drop_dir_cache_after: int = 300,
        log_level: int = 0,
        cli_args: str = "",
    ):
        provider = host if port == 443 else f"{host}:{port}"
        verify = _verify(insecure)
        # Paths start with the space's name ("/climate/file.csv"), as with the native plugin;
        # space and space_id (which limit what the native plugin mounts) are accepted, not applied.
        super().__init__(onezone_of(provider, verify, provider_timeout), token, space=None,
                         preferred_oneproviders=[provider], verify_ssl=verify, timeout=provider_timeout)
        self._buffer = 0 if no_buffer else BLOCK

    def makedir(self, path: str, permissions: Any = None, recreate: bool = False) -> Any:
        """A space's own folder exists, as any other folder: fs.onedatarestfs refuses to "make" it
        even with recreate=True, so makedirs() and fs.copy into a space failed."""
        if "/" not in fs.path.relpath(path).strip("/") and self.isdir(path):
            if not recreate:
                raise DirectoryExists(path)
            return self.opendir(path)
        return super().makedir(path, permissions, recreate)

    def openbin(self, path: str, mode: str = "r", buffering: int = -1, **options: Any) -> Any:
        raw = super().openbin(path, mode, buffering=buffering, **options)
        if isinstance(raw, OnedataRESTFile):
            raw.__class__ = _File  # fs.onedatarestfs builds its file class itself; this one only positions
            if "w" in mode:
                raw.truncate(0)  # fs.onedatarestfs writes over an existing file, leaving its old tail
        if not self._buffer or buffering == 0 or not isinstance(raw, io.RawIOBase):
            return raw
        if "r" in mode and "+" not in mode:
            return io.BufferedReader(raw, self._buffer)  # type: ignore[arg-type]
        if "+" not in mode:
            return io.BufferedWriter(raw, self._buffer)  # type: ignore[arg-type]
        return io.BufferedRandom(raw, self._buffer)  # type: ignore[arg-type]
