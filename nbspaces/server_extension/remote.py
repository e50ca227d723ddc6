"""Contents API operations on remote spaces, through their drivers, never on the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import mimetypes
import posixpath
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import nbformat
import pybase64
from tornado.web import HTTPError

from ..drivers import Driver, DriverError, Entry, Problem, clean_path
from .registry import Mount, Registry, RegistryError

LIST_TTL = 5.0  # seconds a listing is reused; our own writes drop it at once
UPLOAD_IDLE = 600.0  # an upload with no chunk for this long is abandoned
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")

_STATUS = {Problem.NOT_FOUND: 404, Problem.EXISTS: 409, Problem.AUTH: 403, Problem.FORBIDDEN: 403,
           Problem.NO_SPACE: 507, Problem.UNAVAILABLE: 503, Problem.INVALID: 400, Problem.UNTRUSTED: 409,
           Problem.OTHER: 502}


def http_error(e: DriverError | RegistryError) -> HTTPError:
    if isinstance(e, RegistryError):
        return HTTPError(e.status, e.message)
    return HTTPError(_STATUS[e.problem], e.message)


def decode_content(model: dict[str, Any]) -> bytes:
    return decode(content_of(model))


def content_of(model: dict[str, Any]) -> str | bytes:
    """A model's content as it is: base64 text (a str, decoded later), or text encoded to bytes."""
    content = model.get("content")
    if not isinstance(content, str):
        raise HTTPError(400, "Not saved: no file content was given")
    return content if model.get("format") == "base64" else content.encode()


def decode(content: str | bytes) -> bytes:
    """Base64 text to bytes. JupyterLab uploads 1 GiB as 1,024 pieces of base64: CPython's decoder
    takes about 3 ms a piece, pybase64's strict (SIMD) one about 0.1 ms. Text with line breaks
    or other stray characters falls back to the lenient decoder."""
    if isinstance(content, bytes):
        return content
    try:
        return pybase64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(content, validate=False)
    except ValueError as e:
        raise HTTPError(400, f"Not saved: the content cannot be read as base64 ({e})") from e


def b64_length(text: str) -> int:
    """How many bytes base64 text decodes to, without decoding it (whitespace is not counted)."""
    if " " in text or "\n" in text or "\r" in text or "\t" in text:
        text = "".join(text.split())
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return len(text) * 3 // 4 - pad


class Upload:
    """One chunked upload, streamed to the space while the chunks arrive.

    The driver writes from a bounded queue in a thread: memory stays at a few chunks
    whatever the file's size, and the driver stores the file under its name only when
    the last chunk arrived (see Driver.write). Chunks arrive as base64 text and are decoded
    in that thread, off the event loop.
    """

    def __init__(self, driver: Driver, rel: str, replaces: bool):
        self.size = 0
        self.replaces = replaces  # a file had the target's name when the upload began
        self.error: BaseException | None = None
        self._queue: queue.Queue[str | bytes | BaseException | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, args=(driver, rel), name="nbspaces-upload", daemon=True)
        self._thread.start()

    def _pieces(self) -> Iterator[bytes]:
        while True:
            try:
                item = self._queue.get(timeout=UPLOAD_IDLE)
            except queue.Empty:
                raise TimeoutError("the upload stopped sending") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield decode(item)

    def _run(self, driver: Driver, rel: str) -> None:
        try:
            driver.write(rel, self._pieces())
        except BaseException as e:
            self.error = e

    @property
    def active(self) -> bool:
        """Still taking chunks: not failed, abandoned (idle too long) or finished."""
        return self._thread.is_alive() and self.error is None

    def _put(self, item: str | bytes | BaseException | None) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    async def send(self, content: str | bytes) -> None:
        """Queue a chunk: base64 text (str) or bytes. A thread waits only when the queue is full."""
        self._raise()
        try:
            self._queue.put_nowait(content)
        except queue.Full:
            await asyncio.to_thread(self._put, content)
        self.size += b64_length(content) if isinstance(content, str) else len(content)
        self._raise()

    async def finish(self) -> None:
        await asyncio.to_thread(self._put, None)
        await asyncio.to_thread(self._thread.join)
        self._raise()

    def abort(self) -> None:
        threading.Thread(target=self._put, args=(ConnectionAbortedError("upload abandoned"),), daemon=True).start()

    def _raise(self) -> None:
        if isinstance(self.error, HTTPError):  # a chunk that is not base64
            raise self.error
        if isinstance(self.error, DriverError):
            raise http_error(self.error)
        if self.error is not None:
            raise HTTPError(502, f"The upload failed: {self.error}")


class RemoteContents:
    def __init__(self, registry: Registry, allow_hidden: bool):
        self.registry = registry
        self.allow_hidden = allow_hidden
        self._lists: dict[tuple[str, str], tuple[float, list[Entry]]] = {}
        self._uploads: dict[tuple[str, str], Upload] = {}

    # -- where ------------------------------------------------------------------------

    def locate(self, path: str) -> tuple[Mount, str] | None:
        head, _, rest = path.strip("/").partition("/")
        mount = self.registry.by_mount(head) if head else None
        if mount is None or (mount.status == "error" and self.registry.in_the_way(mount)):
            return None  # a folder of the user's own there stays theirs to see and rename
        try:
            return mount, clean_path(rest)
        except DriverError as e:
            raise http_error(e) from None

    async def call(self, mount: Mount, fn: Callable[[Driver], T]) -> T:
        """Every operation on a remote space goes through here: a service found unreachable, or
        refusing the credentials, changes the space's status at once."""
        try:
            driver = self.registry.driver(mount)
        except RegistryError as e:
            raise http_error(e) from None
        try:
            return await asyncio.to_thread(fn, driver)
        except DriverError as e:
            await self.registry.noticed(mount, driver, e)
            if mount.status != "mounted":  # no listing of it from before
                self._lists = {k: v for k, v in self._lists.items() if k[0] != mount.space.name}
            raise http_error(e) from None

    def writable(self, mount: Mount) -> bool:
        return mount.space.mode == "rw"

    def check_writable(self, mount: Mount, path: str, action: str) -> None:
        if not self.writable(mount):
            raise HTTPError(403, f"Cannot {action} '{path}': '{mount.space.mount}' is read-only for you")

    # -- listings -----------------------------------------------------------------------

    async def list(self, mount: Mount, rel: str) -> list[Entry]:
        key = (mount.space.name, rel)
        cached = self._lists.get(key)
        if cached and time.monotonic() - cached[0] < LIST_TTL:
            return cached[1]
        entries = await self.call(mount, lambda d: d.list(rel))
        self._lists[key] = (time.monotonic(), entries)
        return entries

    def invalidate(self, mount: Mount, *rels: str) -> None:
        for rel in rels:
            for key in ((mount.space.name, rel), (mount.space.name, posixpath.dirname(rel))):
                self._lists.pop(key, None)

    async def entry(self, mount: Mount, rel: str) -> Entry:
        if not rel:
            return Entry(name=mount.space.mount, is_dir=True)
        parent, name = posixpath.split(rel)
        cached = self._lists.get((mount.space.name, parent))
        if cached and time.monotonic() - cached[0] < LIST_TTL:
            found = next((e for e in cached[1] if e.name == name), None)
            if found is not None:
                return found
        return await self.call(mount, lambda d: d.stat(rel))

    def model(self, mount: Mount, path: str, entry: Entry, listed: bool = False) -> dict[str, Any]:
        """A contents model. A time the storage does not give (a space's root, some folders) is
        null in a listing, which JupyterLab shows as no date; a model answered by itself keeps the
        epoch, because jupyter_server sends its time as the Last-Modified header. The mimetype is
        jupyter_server's, guessed from the name (not the storage's Content-Type, which may carry a
        charset or differ between servers)."""
        kind = "directory" if entry.is_dir else "notebook" if entry.name.endswith(".ipynb") else "file"
        modified = entry.modified or (None if listed else EPOCH)
        return {
            "name": entry.name, "path": path.strip("/"), "type": kind, "format": None, "content": None,
            "mimetype": mimetypes.guess_type(entry.name)[0] if kind == "file" else None,
            "writable": self.writable(mount), "created": modified, "last_modified": modified,
            "size": entry.size, "hash": None, "hash_algorithm": None,
        }

    def hidden(self, rel: str) -> bool:
        return not self.allow_hidden and any(p.startswith(".") for p in rel.split("/") if p)

    # -- reads --------------------------------------------------------------------------

    async def read_all(self, mount: Mount, rel: str) -> bytes:
        return await self.call(mount, lambda d: b"".join(d.read(rel)))

    async def get(self, mount: Mount, rel: str, path: str, content: bool, type: str | None,
                  format: str | None, cm: Any, require_hash: bool = False) -> dict[str, Any]:
        if self.hidden(rel):
            raise HTTPError(404, f"'{path}' is hidden")
        entry = await self.entry(mount, rel)
        model = self.model(mount, path, entry)
        if type == "directory" and not entry.is_dir:
            raise HTTPError(400, f"'{path}' is not a directory")
        if type in ("file", "notebook") and entry.is_dir:
            raise HTTPError(400, f"'{path}' is a directory, not a {type}")
        if entry.is_dir:
            if not content:
                return model
            children = await self.list(mount, rel)
            model["format"] = "json"
            model["content"] = [self.model(mount, posixpath.join(path.strip("/"), e.name), e, listed=True)
                                for e in children if self.allow_hidden or not e.name.startswith(".")]
            return model
        if not content and not require_hash:
            return model
        data = await self.read_all(mount, rel)
        model["size"] = len(data)
        if require_hash:  # JupyterLab asks for it when it opens a file, to notice changes
            model.update(cm._get_hash(data))
        if not content:
            return model
        if type == "notebook" or (type is None and model["type"] == "notebook"):
            validation_error: dict[str, Any] = {}  # nbformat validates as it reads: once, as in the home
            try:
                nb = nbformat.reads(data.decode("utf-8"), as_version=4, capture_validation_error=validation_error)
            except Exception as e:
                raise HTTPError(400, f"'{path}' is not a notebook: {e}") from e
            cm.mark_trusted_cells(nb, path)
            model.update(type="notebook", format="json", content=nb, mimetype=None)
            cm.validate_notebook_model(model, validation_error)
            return model
        model["type"] = "file"
        if format != "base64":
            try:
                model.update(format="text", content=data.decode("utf-8"), mimetype=model["mimetype"] or "text/plain")
                return model
            except UnicodeDecodeError:
                if format == "text":
                    raise HTTPError(400, f"'{path}' is not UTF-8 text; open it as base64") from None
        model.update(format="base64", content=pybase64.b64encode(data).decode("ascii"),
                     mimetype=model["mimetype"] or "application/octet-stream")
        return model

    # -- writes -------------------------------------------------------------------------

    async def save(self, mount: Mount, rel: str, path: str, model: dict[str, Any], cm: Any) -> dict[str, Any]:
        self.check_writable(mount, path, "save")
        if not rel:
            raise HTTPError(400, f"'{path}' is the space itself")
        if self.hidden(rel):  # jupyter_server's words for it
            raise HTTPError(400, f"Cannot create file or directory {path!r}")
        kind = model.get("type")
        message = None
        chunk = model.get("chunk")
        key = (mount.space.name, rel)
        if kind == "directory":
            try:
                await self.call(mount, lambda d: d.mkdir(rel))
            except HTTPError as e:
                if e.status_code != 409:
                    raise
        elif chunk is not None:
            content = content_of(model)
            if chunk == 1:
                if key in self._uploads:
                    self._uploads.pop(key).abort()
                for stale in [k for k, u in self._uploads.items() if not u.active]:
                    del self._uploads[stale]  # abandoned uploads: their threads have ended
                replaces = await self.exists(mount, rel, want_dir=False)
                driver = await self.call(mount, lambda d: d)
                # What an earlier upload of this name left when its server was killed goes now.
                parent, name = posixpath.split(rel)
                with contextlib.suppress(DriverError):
                    await asyncio.to_thread(driver.clean_uploads, parent, name)
                self._uploads[key] = Upload(driver, rel, replaces)
            upload = self._uploads.get(key)
            if upload is None:
                raise HTTPError(400, f"The upload of '{path}' was interrupted; upload the file again")
            try:
                await upload.send(content)
                if chunk == -1:
                    del self._uploads[key]
                    await upload.finish()
            except HTTPError:
                self._uploads.pop(key, None)
                upload.abort()
                raise
            if chunk != -1:
                now = datetime.now(UTC)
                return {**self.model(mount, path, Entry(posixpath.basename(rel), False, upload.size, now)),
                        "type": "file"}
        elif kind == "notebook":
            nb = nbformat.from_dict(model.get("content"))
            cm.check_and_sign(nb, path)
            validation_error: dict[str, Any] = {}
            text = await asyncio.to_thread(nbformat.writes, nb, version=nbformat.NO_CONVERT,
                                           capture_validation_error=validation_error)
            data = (text if text.endswith("\n") else text + "\n").encode("utf-8")  # the bytes the home writes
            await self.call(mount, lambda d: d.write(rel, [data], len(data)))
            # Saved, and the answer says what is wrong with it, as jupyter_server's save does.
            message = cm.validate_notebook_model({"content": nb}, validation_error).get("message")
        elif kind == "file":
            data = decode_content(model)
            await self.call(mount, lambda d: d.write(rel, [data], len(data)))
        else:
            raise HTTPError(400, f"Unhandled contents type: {kind}")
        self.invalidate(mount, rel)
        saved = self.model(mount, path, await self.call(mount, lambda d: d.stat(rel)))
        if message:
            saved["message"] = message
        return saved

    async def delete(self, mount: Mount, rel: str, path: str, always_delete_dir: bool = False) -> None:
        self.check_writable(mount, path, "delete")
        if not rel:
            raise HTTPError(403, f"Cannot delete '{path}': it is the space itself; disconnect it instead")
        # As in the home: a folder with files in it is not deleted unless the admin allows it.
        if not always_delete_dir and (await self.entry(mount, rel)).is_dir and await self.list(mount, rel):
            raise HTTPError(400, f"Directory {path} not empty")
        await self.call(mount, lambda d: d.delete(rel))
        self.invalidate(mount, rel)

    async def move(self, mount: Mount, src: str, dst: str, path: str) -> None:
        self.check_writable(mount, path, "move")
        if not src or not dst:
            raise HTTPError(403, f"Cannot move '{path}': it is the space itself")
        await self.call(mount, lambda d: d.move(src, dst))
        self.invalidate(mount, src, dst)

    async def copy(self, mount: Mount, src: str, dst: str, path: str) -> None:
        """A copy within one space, made by the storage itself (one COPY on WebDAV, for a whole folder)."""
        self.check_writable(mount, path, "copy into")
        try:
            await self.call(mount, lambda d: d.copy(src, dst))
        finally:
            self.invalidate(mount, dst)

    async def exists(self, mount: Mount, rel: str, want_dir: bool | None) -> bool:
        upload = self._uploads.get((mount.space.name, rel))
        if upload is not None and upload.active:
            # jupyter_server asks before every chunk; nothing takes the name before the last one.
            return upload.replaces and want_dir is not True
        try:
            entry = await self.entry(mount, rel)
        except HTTPError as e:
            if e.status_code == 404:
                return False
            raise
        return want_dir is None or entry.is_dir == want_dir
