"""fsspec for nbspaces: ``nbspaces://b2drop/data.csv``, usable by pandas, xarray and friends.

The first path component names the space, as in the file browser; the home is the rest.
Remote spaces go through the same drivers and the same stored credentials as the file
browser; the driver's connection is reused for every call of a kernel (one session per
space). Reads fetch only the byte ranges asked for; writes spool to a temporary file and
are stored under their name only when the file is closed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from .drivers import Driver, DriverError, Entry, Problem
from .session import Session, current

PIECE = 1024 * 1024


_ERRORS = {Problem.NOT_FOUND: FileNotFoundError, Problem.EXISTS: FileExistsError,
           Problem.FORBIDDEN: PermissionError, Problem.AUTH: PermissionError}


@contextlib.contextmanager
def _as_oserror(path: str) -> Iterator[None]:
    """Driver failures become the OSError subclasses Python code expects."""
    try:
        yield
    except DriverError as e:
        raise _ERRORS.get(e.problem, OSError)(f"{path}: {e.message}") from None


class NBSpacesFileSystem(AbstractFileSystem):
    protocol = "nbspaces"
    root_marker = ""

    def __init__(self, session: Session | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.session = session or current()
        self.local = LocalFileSystem()

    @classmethod
    def _strip_protocol(cls, path: str) -> str:  # type: ignore[override]
        path = str(path)
        if path.startswith("nbspaces://"):
            path = path[len("nbspaces://"):]
        return path.strip("/")

    # -- where ------------------------------------------------------------------------

    def _where(self, path: str) -> tuple[Driver | None, str, bool]:
        """(driver or None for a local space, path for it, writable)."""
        path = self._strip_protocol(path)
        with _as_oserror(path):
            found = self.session.resolve(path)
        return found.driver, found.path, found.writable

    def _info(self, full: str, entry: Entry) -> dict[str, Any]:
        return {"name": full, "size": entry.size if not entry.is_dir else 0,
                "type": "directory" if entry.is_dir else "file",
                "mtime": entry.modified.timestamp() if entry.modified else None}

    def _local_info(self, full: str, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, "name": full}

    # -- reads --------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        driver, where, _ = self._where(path)
        if driver is None:
            out = [self._local_info(f"{path}/{os.path.basename(i['name'])}".strip("/"), i)
                   for i in self.local.ls(where, detail=True)]
            if not path:  # the root shows every space, as the file browser does
                names = {o["name"] for o in out}
                out += [{"name": m, "size": 0, "type": "directory"} for m in self.session.mounts() if m not in names]
        else:
            with _as_oserror(path):
                entries = driver.list(where)
            out = [self._info(f"{path}/{e.name}", e) for e in entries]
        return out if detail else [o["name"] for o in out]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        driver, where, _ = self._where(path)
        if driver is None:
            return self._local_info(path, self.local.info(where))
        if not where:
            return {"name": path, "size": 0, "type": "directory"}
        with _as_oserror(path):
            return self._info(path, driver.stat(where))

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        driver, where, writable = self._where(path)
        if "r" not in mode and not writable:
            raise PermissionError(f"{path}: this space is read-only for you")
        if driver is None:
            return self.local._open(where, mode=mode, **kwargs)
        if "x" in mode and self.exists(path):
            raise FileExistsError(f"{path} already exists")
        append = "a" in mode
        mode = "rb" if "r" in mode else "wb"
        return SpaceFile(self, path, mode=mode, block_size=block_size or 4 * PIECE, autocommit=autocommit,
                         cache_options=cache_options, driver=driver, where=where, append=append, **kwargs)

    # -- writes -------------------------------------------------------------------------

    def _writable(self, path: str) -> tuple[Driver | None, str]:
        driver, where, writable = self._where(path)
        if not writable:
            raise PermissionError(f"{path}: this space is read-only for you")
        return driver, where

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        if create_parents:
            self.makedirs(path, exist_ok=False)
            return
        driver, where = self._writable(path)
        if driver is None:
            os.mkdir(where)
            return
        with _as_oserror(path):
            driver.mkdir(where)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Make the missing folders of ``path``, looked for from the deepest up: a folder that exists
        costs one request and is never "made" again (a space's own folder, one in a read-only space)."""
        path = self._strip_protocol(path)
        if self.isdir(path):
            if not exist_ok:
                raise FileExistsError(f"{path} already exists")
            return
        parent = self._parent(path)
        if parent != path:
            self.makedirs(parent, exist_ok=True)
        try:
            self.mkdir(path, create_parents=False)
        except FileExistsError:
            if not (exist_ok and self.isdir(path)):  # made meanwhile by someone else: fine
                raise

    def rm_file(self, path: str) -> None:
        """Delete a file, or an empty folder (fsspec's rm() removes folders this way, last)."""
        driver, where = self._writable(path)
        if driver is None:
            if os.path.isdir(where) and not os.path.islink(where):
                os.rmdir(where)  # refuses a folder that still has files
            else:
                os.remove(where)
            return
        if not where:
            raise PermissionError(f"{path} is the space itself")
        with _as_oserror(path):
            if driver.stat(where).is_dir and driver.list(where):
                raise OSError(errno.ENOTEMPTY, f"{path}: the folder is not empty (use recursive=True)")
            driver.delete(where)

    def rmdir(self, path: str) -> None:
        if not self.isdir(path):
            raise NotADirectoryError(f"{path} is not a folder")
        self.rm_file(path)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        """Move, making the target's missing folders as copy() does; nothing is made for a missing source."""
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        _not_into_itself(path1, path2, "moved")
        d1, w1 = self._writable(path1)
        d2, w2 = self._writable(path2)
        if d1 is d2 and self.exists(path1):  # within one space: one request, after the folders
            self.makedirs(self._parent(path2), exist_ok=True)
        if d1 is not None and d1 is d2:
            with _as_oserror(f"{path1} -> {path2}"):
                d1.move(w1, w2)  # one request, folders included
            return
        if d1 is None and d2 is None:
            shutil.move(w1, w2)
            return
        if self.isdir(path1) and not recursive:
            raise IsADirectoryError(f"{path1} is a folder: move it with recursive=True")
        # Between spaces: copy everything, and only then remove the original.
        self.copy(path1, path2, recursive=recursive, maxdepth=maxdepth)
        self.rm(path1, recursive=recursive, maxdepth=maxdepth)

    def copy(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        """fsspec's copy, after refusing a folder copied into itself (it would copy what it copies)."""
        if isinstance(path1, str) and isinstance(path2, str):
            _not_into_itself(self._strip_protocol(path1), self._strip_protocol(path2), "copied")
        super().copy(path1, path2, recursive=recursive, **kwargs)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy one file, making the target's missing folders as put() and object stores do.

        The source is looked at first: a missing one is named as missing, and nothing is made.
        """
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        d1, w1, _ = self._where(path1)
        d2, w2 = self._writable(path2)
        if self.info(path1)["type"] == "directory":
            self.makedirs(path2, exist_ok=True)  # fsspec's copy() creates folders this way
            return
        self.makedirs(self._parent(path2), exist_ok=True)
        if d1 is not None and d1 is d2:
            with _as_oserror(f"{path1} -> {path2}"):
                d1.copy(w1, w2)
            return
        with self.open(path1, "rb") as src, self.open(path2, "wb") as dst:
            while piece := src.read(PIECE):
                dst.write(piece)


def _not_into_itself(path1: str, path2: str, verb: str) -> None:
    """A folder never goes into itself or a folder of its own, as the contents manager refuses it."""
    a, b = path1.strip("/"), path2.strip("/")
    if a and (b == a or b.startswith(a + "/")):
        raise OSError(errno.EINVAL, f"{path1} cannot be {verb} into itself ({path2})")


class SpaceFile(AbstractBufferedFile):
    """A file of a remote space: ranged reads, spooled writes stored at close."""

    def __init__(self, fs: NBSpacesFileSystem, path: str, *, driver: Driver, where: str, append: bool = False,
                 **kwargs: Any):
        self.driver, self.where, self.append = driver, where, append
        self._spool: Any = None
        if kwargs.get("mode", "rb") == "rb":
            with _as_oserror(path):
                kwargs.setdefault("size", driver.stat(where).size or 0)
        super().__init__(fs, path, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        with _as_oserror(self.path):
            return b"".join(self.driver.read(self.where, start, end - 1))

    def _initiate_upload(self) -> None:
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _upload_chunk)
        if self.append and self.fs.exists(self.path):
            with _as_oserror(self.path):  # appending keeps what is there: it goes first
                for piece in self.driver.read(self.where):
                    self._spool.write(piece)

    def _upload_chunk(self, final: bool = False) -> bool:
        self.buffer.seek(0)
        while piece := self.buffer.read(PIECE):
            self._spool.write(piece)
        if final:
            size = self._spool.tell()
            self._spool.seek(0)
            with self._spool, _as_oserror(self.path):
                self.driver.write(self.where, _pieces(self._spool), size)
        return True


def _pieces(f: Any) -> Iterator[bytes]:
    while piece := f.read(PIECE):
        yield piece
