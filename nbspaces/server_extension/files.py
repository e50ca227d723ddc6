"""/files/ for remote spaces: streamed, with HEAD and Range, in constant memory.

jupyter_server's own /files/ handler reads a whole file into memory; for a remote space
that would hold a 1 GiB download in the server. This handler sends the bytes as the driver
reads them. Paths in the home and shared folders go to jupyter_server's handler.

Reading and sending overlap: one thread per download reads from the storage a few pieces
ahead of the event loop, which writes each piece to the client as it comes and waits for the
client only when more than a few MiB are unsent. So memory stays at a few pieces whatever the
file's size, and a client that goes away stops the thread and closes the storage's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import AuthenticatedFileHandler
from tornado import iostream, web

from ..drivers import DriverError
from .registry import RegistryError
from .remote import http_error

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
AHEAD = 4  # pieces the reader thread may hold before the sender takes them
PIECE_MAX = 1024 * 1024  # bytes per piece handed to the sender (a driver's larger blocks are cut)
UNSENT_MAX = 4 * 1024 * 1024  # bytes written but not yet taken by the client before we wait for it
_END = object()


class ReadAhead:
    """The pieces of a driver's read, produced by one thread at most ``ahead`` pieces in advance.

    Pieces are at most PIECE_MAX bytes, whatever the driver yields, so read-ahead memory is
    bounded in bytes, not only in pieces.

    ``stop()`` (a client that went away) makes the thread close the driver's stream after the piece
    it is reading, so the storage's connection goes at once, not when the garbage collector finds it.
    """

    def __init__(self, open_pieces: Callable[[], Iterator[bytes]], ahead: int = AHEAD):
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Queue[Any] = asyncio.Queue()
        self._slots = threading.Semaphore(ahead)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(open_pieces,), name="nbspaces-download", daemon=True)
        self.thread.start()

    def _hand(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            self._loop.call_soon_threadsafe(self._ready.put_nowait, item)

    def _run(self, open_pieces: Callable[[], Iterator[bytes]]) -> None:
        try:
            pieces = open_pieces()
            try:
                for block in pieces:
                    for at in range(0, len(block), PIECE_MAX):
                        self._slots.acquire()
                        if self._stop.is_set():
                            return
                        self._hand(block[at:at + PIECE_MAX])  # the block itself when it is small
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()
            self._hand(_END)
        except BaseException as e:  # handed to the sender, which raises it
            self._hand(e)

    async def next(self) -> bytes | None:
        """The next piece, None at the end; a driver's error is raised here."""
        item = await self._ready.get()
        self._slots.release()
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def stop(self) -> None:
        self._stop.set()
        self._slots.release()  # a thread waiting for a slot sees the stop at once


class SpacesFilesHandler(AuthenticatedFileHandler):
    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def head(self, path: str) -> None:  # type: ignore[override]
        if not await self._remote(path, include_body=False):
            self._check_local(path)
            await super().head(path)

    @web.authenticated
    @authorized
    async def get(self, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        if not await self._remote(path, include_body=include_body):
            self._check_local(path)
            await super().get(path, include_body=include_body)

    def _check_local(self, path: str) -> None:
        """jupyter_server's handler checks paths with abspath, which follows links: a local path goes
        through the contents manager's one path check first (links out, names too long)."""
        cm: Any = self.contents_manager
        if getattr(cm, "plan", None) is not None:
            cm._get_os_path(path.strip("/"))

    async def _remote(self, path: str, include_body: bool) -> bool:
        if "\0" in path:
            raise web.HTTPError(400, "A path cannot contain a NUL character")
        cm: Any = self.contents_manager
        where = cm.locate_remote(path) if hasattr(cm, "locate_remote") else None
        if where is None:
            return False
        self.check_xsrf_cookie()
        mount, rel = where
        if cm.remote.hidden(rel):
            raise web.HTTPError(404)
        entry = await cm.remote.entry(mount, rel)
        if entry.is_dir:
            raise web.HTTPError(400, f"'{path}' is a folder")
        size = entry.size or 0
        start, end, status = 0, size - 1, 200
        header = self.request.headers.get("Range")
        if header and (m := _RANGE.match(header.strip())) and size:
            first, last = m.group(1), m.group(2)
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            elif last:
                start, end = max(0, size - int(last)), size - 1
            if start > end or start >= size:
                self.set_status(416)
                self.set_header("Content-Range", f"bytes */{size}")
                self.finish()
                return True
            status = 206
            self.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.set_status(status)
        self.set_header("Accept-Ranges", "bytes")
        # The type jupyter_server's handler gives the same name in the home (it looks at the name only).
        self.absolute_path = entry.name
        self.set_header("Content-Type", self.get_content_type())
        self.set_header("Content-Length", str(max(0, end - start + 1)))
        if entry.modified:
            self.set_header("Last-Modified", format_datetime(entry.modified, usegmt=True))
        if entry.etag:
            self.set_header("ETag", f'"{entry.etag}"')
        if self.get_argument("download", None) or entry.name.endswith(".ipynb"):
            self.set_attachment_header(entry.name)
        if not include_body or not size:
            self.finish()
            return True
        try:
            driver = cm.registry.driver(mount)
        except RegistryError as e:
            raise http_error(e) from None
        reader = ReadAhead(lambda: driver.read(rel, start, end))
        try:
            while (piece := await reader.next()) is not None:
                self.write(piece)
                sent = self.flush()
                if self._unsent() > UNSENT_MAX:
                    await sent  # the client is slower than the storage: wait for it
        except (DriverError, RegistryError) as e:
            raise http_error(e) from None
        except iostream.StreamClosedError:
            return True  # the client went away
        finally:
            reader.stop()
        self.finish()
        return True

    def _unsent(self) -> int:
        """Bytes handed to the connection and not yet sent to the client.

        Tornado has no public figure for this; its stream's write buffer holds them. Without
        it (another connection class), every piece waits for the client, as flush() alone does.
        """
        stream = getattr(self.request.connection, "stream", None)
        if stream is None or stream.closed():
            raise iostream.StreamClosedError()
        buffer = getattr(stream, "_write_buffer", None)
        return len(buffer) if buffer is not None else UNSENT_MAX + 1
