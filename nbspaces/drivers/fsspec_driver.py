"""Kinds built on a well-kept fsspec filesystem (s3fs, sshfs): one adapter to the driver contract.

A kind on fsspec is its fields, a filesystem factory (:meth:`FsspecDriver.filesystem`), the
space's root in that filesystem's paths, and its rclone remote. This module maps fsspec's
``ls/info/cat_file/open/mv/rm/copy`` and the OSErrors they raise onto :class:`Driver` and
:class:`Problem`; a kind refines :meth:`FsspecDriver.problem` for its own client's errors.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Driver, DriverError, Entry, Network, Problem, temporary_name, utc

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MIB = 1024 * 1024
READ_BLOCK = 8 * MIB  # bytes per ranged read
READ_PIECE = MIB  # bytes per piece handed on
WRITE_BLOCK = 8 * MIB  # bytes per part of an object store's multipart upload
class FsspecDriver(Driver):
    """A remote kind on an fsspec filesystem.

    ``atomic_writes``: the store shows an object only once it is complete (S3): a write goes
    straight to its name, and a failed one is discarded. Otherwise a write goes to a hidden
    temporary name and takes the target's name only when complete; an existing target is
    replaced by :meth:`replace`.
    """

    atomic_writes: ClassVar[bool] = False
    hidden_names: ClassVar[frozenset[str]] = frozenset()  # the kind's own bookkeeping, never listed

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        super().__init__(settings, credentials, network)
        self._fs: AbstractFileSystem | None = None
        self._fs_lock = threading.Lock()

    # -- what a kind gives ----------------------------------------------------------

    @abstractmethod
    def filesystem(self) -> AbstractFileSystem:
        """A new filesystem for this space's settings and credentials (made once, on first use)."""

    @abstractmethod
    def root(self) -> str:
        """The space's root in the filesystem's paths (a bucket and prefix, a folder)."""

    def problem(self, error: BaseException, path: str) -> DriverError:
        """A failure of the filesystem in the user's terms; kinds add their client's own errors."""
        where = f"'{path}'" if path else "the space"
        label = self.label
        if isinstance(error, DriverError):
            return error
        if isinstance(error, FileNotFoundError):
            return DriverError(Problem.NOT_FOUND, f"{where} does not exist on {label}")
        if isinstance(error, FileExistsError):
            return DriverError(Problem.EXISTS, f"{where} already exists on {label}")
        if isinstance(error, PermissionError):
            return DriverError(Problem.FORBIDDEN, f"{label} does not allow this on {where}")
        if isinstance(error, IsADirectoryError):
            return DriverError(Problem.INVALID, f"{where} is a folder")
        if isinstance(error, NotADirectoryError):
            return DriverError(Problem.INVALID, f"{where} is not a folder")
        if isinstance(error, (TimeoutError, ConnectionError)):
            return DriverError(Problem.UNAVAILABLE, f"{label} cannot be reached ({type(error).__name__}); "
                                                    "try again later")
        return DriverError(Problem.OTHER, f"{label} failed on {where}: {error}")

    @property
    def label(self) -> str:
        return str(self.settings.get("label") or self.kind_label)

    # -- plumbing -------------------------------------------------------------------

    @property
    def fs(self) -> AbstractFileSystem:
        with self._fs_lock:
            if self._fs is None:
                with self.errors(""):
                    self._fs = self.filesystem()
            return self._fs

    @contextlib.contextmanager
    def errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except DriverError:
            raise
        except Exception as e:
            raise self.problem(e, path) from None

    def full(self, path: str) -> str:
        return posixpath.join(self.root(), path) if path else self.root()

    def entry(self, info: dict[str, Any]) -> Entry:
        name = posixpath.basename(str(info["name"]).rstrip("/"))
        is_dir = info.get("type") == "directory"
        modified = None
        for key in ("LastModified", "mtime", "last_modified", "modified", "time"):
            if info.get(key) is not None:
                modified = utc(info[key])
                break
        return Entry(name, is_dir, None if is_dir else int(info.get("size") or 0), modified,
                     str(info.get("ETag") or "").strip('"') or None)

    def _is_folder(self, path: str) -> bool:
        try:
            return self.stat(path).is_dir
        except DriverError as e:
            if e.problem is Problem.NOT_FOUND:
                return False
            raise

    def exists(self, path: str) -> bool:
        with self.errors(path):
            return bool(self.fs.exists(self.full(path)))

    # -- the contract ---------------------------------------------------------------

    def check(self) -> None:
        """The root is a folder (one request: health checks run this every minute)."""
        with self.errors(""):
            if not self.fs.isdir(self.root()):
                raise FileNotFoundError(self.root())

    def list(self, path: str) -> list[Entry]:
        full = self.full(path).rstrip("/")
        with self.errors(path):
            infos = self.fs.ls(full, detail=True)
            if not infos and path and not self.fs.isdir(full):
                raise FileNotFoundError(full)
        entries = (self.entry(i) for i in infos if str(i["name"]).rstrip("/") != full)
        return [e for e in entries if e.name and e.name not in self.hidden_names]

    def stat(self, path: str) -> Entry:
        if not path:
            return Entry("", True)
        with self.errors(path):
            return self.entry(self.fs.info(self.full(path)))

    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        size = self.stat(path).size or 0
        last = size - 1 if end is None else min(end, size - 1)
        full, position = self.full(path), start
        while position <= last:
            stop = min(position + READ_BLOCK, last + 1)
            with self.errors(path):
                block = self.fs.cat_file(full, start=position, end=stop)
            if not block:
                raise DriverError(Problem.OTHER, f"'{path}' ended early on {self.label}; try again")
            view = memoryview(block)
            for cut in range(0, len(view), READ_PIECE):
                yield bytes(view[cut:cut + READ_PIECE])
            position += len(block)

    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        temp = temporary_name(path)
        folder = posixpath.dirname(path)
        if folder and not self._is_folder(folder):  # an object store would make it on the way
            raise DriverError(Problem.NOT_FOUND, f"the folder of '{path}' does not exist on {self.label}")
        if self.atomic_writes:
            self._write_to(path, path, chunks)
            return
        try:
            self._write_to(temp, path, chunks)
            self.replace(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(self.full(temp))
            raise

    def _write_to(self, target: str, path: str, chunks: Iterable[bytes]) -> None:
        """Stream ``chunks`` into ``target``; ``path`` names the file in errors."""
        with self.errors(path):
            f = self.fs.open(self.full(target), "wb", block_size=WRITE_BLOCK)
        try:
            for piece in chunks:
                with self.errors(path):
                    f.write(piece)
            with self.errors(path):
                f.close()
        except BaseException:
            with contextlib.suppress(Exception):
                f.discard()  # an object store's unfinished multipart upload is aborted
            f.closed = True  # never committed later (fsspec files close, and commit, when collected)
            raise

    def mkdir(self, path: str) -> None:
        if self.exists(path):
            raise DriverError(Problem.EXISTS, f"'{path}' already exists on {self.label}")
        folder = posixpath.dirname(path)
        if folder and not self._is_folder(folder):
            raise DriverError(Problem.NOT_FOUND, f"the folder of '{path}' does not exist on {self.label}")
        with self.errors(path):
            self.fs.mkdir(self.full(path), create_parents=False)

    def delete(self, path: str) -> None:
        if not path:
            raise DriverError(Problem.INVALID, "the space itself cannot be deleted")
        entry = self.stat(path)
        with self.errors(path):
            if entry.is_dir:
                self.fs.rm(self.full(path), recursive=True)
            else:
                self.fs.rm_file(self.full(path))

    def _refuse_target(self, dst: str) -> None:
        """A move or copy never overwrites, nor makes the target's folder on the way."""
        if self.exists(dst):
            raise DriverError(Problem.EXISTS, f"'{dst}' already exists on {self.label}")
        folder = posixpath.dirname(dst)
        if folder and not self._is_folder(folder):
            raise DriverError(Problem.NOT_FOUND, f"the folder of '{dst}' does not exist on {self.label}")

    def _transfer(self, src: str, dst: str, move: bool) -> None:
        entry = self.stat(src)
        self._refuse_target(dst)
        with self.errors(src):
            if move:
                self.fs.mv(self.full(src), self.full(dst), recursive=entry.is_dir)
            else:
                self.fs.copy(self.full(src), self.full(dst), recursive=entry.is_dir)

    def move(self, src: str, dst: str) -> None:
        self._transfer(src, dst, move=True)

    def copy(self, src: str, dst: str) -> None:
        self._transfer(src, dst, move=False)
