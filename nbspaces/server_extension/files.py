"""/files/ for remote spaces: streamed, with HEAD and Range, in constant memory.

jupyter_server's own /files/ handler reads a whole file into memory; for a remote space
that would hold a 1 GiB download in the server. This handler sends the bytes as the driver
reads them. Paths in the home and shared folders go to jupyter_server's handler.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from collections.abc import Iterator
from email.utils import format_datetime
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import AuthenticatedFileHandler
from tornado import iostream, web

from ..drivers import DriverError
from .registry import RegistryError
from .remote import http_error

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _next(it: Iterator[bytes]) -> bytes | None:
    return next(it, None)


class SpacesFilesHandler(AuthenticatedFileHandler):
    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def head(self, path: str) -> None:  # type: ignore[override]
        if not await self._remote(path, include_body=False):
            await super().head(path)

    @web.authenticated
    @authorized
    async def get(self, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        if not await self._remote(path, include_body=include_body):
            await super().get(path, include_body=include_body)

    async def _remote(self, path: str, include_body: bool) -> bool:
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
        self.set_header("Content-Type", entry.mimetype or mimetypes.guess_type(entry.name)[0]
                        or "application/octet-stream")
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
            pieces = await asyncio.to_thread(driver.read, rel, start, end)
            while (piece := await asyncio.to_thread(_next, pieces)) is not None:
                self.write(piece)
                await self.flush()  # wait for the client: memory holds one piece at a time
        except (DriverError, RegistryError) as e:
            raise http_error(e) from None
        except iostream.StreamClosedError:
            return True  # the client went away
        self.finish()
        return True
