"""The contents manager of a server spawned by nbspaces.

The root of the file tree is the user's home; each shared folder of the plan is a top-level
folder of it. This manager enforces, before any byte moves:

- the home quota, through one ledger (quota.py) that every write goes through: saves, chunks
  of uploads, checkpoints, copies, moves into the home. Where the filesystem enforces the
  quota, its "no space left" becomes the same message;
- read-only shared folders: every write is refused with a 403 and a message that says what
  to do instead;
- containment: no path, and no link, leads out of the space it starts in; checkpoints
  (checkpoints.py) go through the same check.

Bytes get their name only when they are all written: a save, a checkpoint or a copy writes
to a hidden file of its own and renames it; a chunked upload spools to a hidden file that
the last chunk renames.

Without a plan (nbspaces installed, but the server not spawned by nbspaces) it behaves
exactly like jupyter_server's AsyncLargeFileManager.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import mimetypes
import os
import secrets
import shutil
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import nbformat
from jupyter_core.paths import is_file_hidden
from jupyter_core.utils import ensure_async
from jupyter_server import _tz as tz
from jupyter_server.services.contents.filemanager import _get_created_timestamp
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.contents.manager import copy_pat
from jupyter_server.utils import to_api_path
from tornado.web import HTTPError
from traitlets import Float, default

from ..drivers import Entry
from ..keys import fetch_key
from ..plan import Plan, Space
from ..sizes import format_size
from .quota import SPOOL_PREFIX, WRITE_PREFIX, Hold, Ledger, QuotaExceeded, tree_bytes
from .registry import Mount, Registry
from .remote import UPLOAD_IDLE, RemoteContents, b64_length, content_of, decode

QUOTA_STATUS = 507  # Insufficient Storage
_SAVING: contextvars.ContextVar[str | None] = contextvars.ContextVar("nbspaces_saving", default=None)
NAME_MAX = 255  # bytes in one file name, on every filesystem a home lives on


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _remove_tree(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _remove(path)


def _file_size(os_path: str) -> int:
    """Size of the regular file (or link to one) at os_path; 0 when there is none."""
    try:
        st = os.stat(os_path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _write_file(os_path: str, data: bytes) -> None:
    with open(os_path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _give_name(tmp: str, os_path: str) -> None:
    """Rename a finished file over its target (a link's target, as jupyter_server writes), keeping its mode."""
    if os.path.islink(os_path):
        os_path = os.path.realpath(os_path)
    with contextlib.suppress(OSError):
        shutil.copymode(os_path, tmp)
    os.replace(tmp, os_path)


@dataclass
class Upload:
    """A chunked upload into a local space, spooled to a hidden file of this server."""

    spool: str
    hold: Hold | None
    size: int = 0  # bytes in the spool
    chunk: int = 0  # the last chunk written
    seen: float = field(default_factory=time.monotonic)


class SpacesContentsManager(AsyncLargeFileManager):
    """Home at the root, shared folders as top-level folders, quota and read-only enforced."""

    usage_max_age = Float(
        30.0,
        config=True,
        help="""Seconds a walked figure of the home's usage is trusted when nothing was written
        through the contents API since (code in kernels writes without telling it). Every write of
        the API makes the next check walk the home again, and a save is never refused on an old figure.""",
    )

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.plan: Plan | None = Plan.from_env()
        # A space that is not where the plan puts it (a folder of the user's own is in the
        # way) leaves that path to the home, so the user can rename their folder.
        self.mounted: dict[str, Space] = {
            s.mount: s for s in (self.plan.spaces if self.plan else ())
            if s.kind == "shared" and self.space_status(s)[0] == "mounted"
        }
        self.registry = Registry(self.plan, self.root_dir, fetch_key, self.log) if self.plan else None
        self.remote = RemoteContents(self.registry, self.allow_hidden) if self.registry else None
        # Where each space really is: fixed for a server's life, so resolved once.
        self._roots: dict[str, str] = {s.name: os.path.realpath(os.path.join(self.root_dir, s.mount))
                                       for s in (self.plan.home, *self.mounted.values())} if self.plan else {}
        others = set(self.mounted) | {m.space.mount for m in (self.registry.mounts.values() if self.registry else ())}
        home = self.plan.home if self.plan else None
        self.ledger = Ledger(
            self.root_dir, others, home.quota_bytes if home else None,
            by_filesystem=bool(home and home.quota_enforced_by == "filesystem"), max_age=self.usage_max_age,
        )
        self.server_id = secrets.token_hex(4)  # names this server's spools apart from a stopped one's
        self._uploads: dict[str, Upload] = {}
        self._listings: dict[str, set[asyncio.Future[None]]] = {}  # folder -> listings under way
        if self.plan is not None:
            self.ledger.clean_leftovers()  # uploads and writes of a server that stopped never finish

    @default("files_handler_class")
    def _files_handler_default(self) -> type:
        from .files import SpacesFilesHandler

        return SpacesFilesHandler

    @default("checkpoints_class")
    def _checkpoints_class_default(self) -> type:
        if Plan.from_env() is None:
            return super()._checkpoints_class_default()  # type: ignore[no-any-return]
        from .checkpoints import SpacesCheckpoints

        return SpacesCheckpoints

    def locate_remote(self, path: str) -> tuple[Mount, str] | None:
        """(mount, path inside it) when the path is in a remote space."""
        return self.remote.locate(path) if self.remote else None

    # -- where a path belongs ---------------------------------------------------------

    def space_of(self, path: str) -> Space | None:
        if self.plan is None:
            return None
        head = path.strip("/").split("/", 1)[0]
        return self.mounted.get(head) or self.plan.home

    def in_home(self, path: str) -> bool:
        space = self.space_of(path)
        return space is not None and space.kind == "home"

    def _contained(self, space: Space, real: str) -> bool:
        """Is the real (resolved) path inside the space, and, for the home, in no shared folder?"""
        def under(root: str) -> bool:
            return real == root or real.startswith(root + os.sep)

        if not under(self._roots[space.name]):
            return False
        return space.kind != "home" or not any(under(self._roots[s.name]) for s in self.mounted.values())

    def _get_os_path(self, path: str) -> str:
        """The one path check: every path the server touches, checkpoints included, comes here."""
        if "\0" in path:
            raise HTTPError(400, "A path cannot contain a NUL character")
        long = next((p for p in path.split("/") if len(os.fsencode(p)) > NAME_MAX), None)
        if long is not None:
            raise HTTPError(400, f"The name '{long[:40]}…' is too long ({len(os.fsencode(long))} bytes); "
                                 f"names are at most {NAME_MAX} bytes: choose a shorter one")
        os_path = super()._get_os_path(path)
        space = self.space_of(path)
        if space is not None and not self._contained(space, os.path.realpath(os_path)):
            raise HTTPError(403, f"'{path}' leads out of its space through a link; nbspaces does not follow it")
        return os_path

    def space_status(self, space: Space) -> tuple[str, str]:
        """("mounted", "") or ("error", why): is the space really where the plan puts it?"""
        if space.kind == "home":
            return ("mounted", "") if os.path.isdir(self.root_dir) else ("error", "the home folder is missing")
        where = os.path.join(self.root_dir, space.mount)
        # Strong isolation bind-mounts shared folders; basic links them.
        there = os.path.ismount(where) if self.plan and self.plan.isolation == "strong" else os.path.islink(where)
        if there and os.path.isdir(where):
            return "mounted", ""
        # An empty folder is a mount point left from an earlier start, not the user's.
        if os.path.lexists(where) and not (os.path.isdir(where) and not os.listdir(where)):
            return "error", (f"a file or folder of yours named '{space.mount}' is in the way; "
                             "rename it and restart your server")
        return "error", f"the shared folder '{space.mount}' could not be mounted; ask your admins"

    def _check_writable(self, path: str, action: str) -> None:
        space = self.space_of(path)
        if space is None:
            return
        if space.read_only:
            raise HTTPError(
                403,
                f"Cannot {action} '{path}': '{space.mount}' is shared with you read-only. "
                "Save your own copy in your home instead.",
            )
        if space.kind != "home" and path.strip("/") == space.mount:
            raise HTTPError(403, f"Cannot {action} '{path}': it is the shared folder itself, not a file of yours")

    # -- quota --------------------------------------------------------------------------

    async def home_usage(self) -> tuple[int, int] | None:
        """(bytes used, quota in bytes) of the home, or None without a plan or quota."""
        if self.plan is None or self.plan.home.quota_bytes is None:
            return None
        used, limit = await self.ledger.used()
        assert limit is not None
        return used, limit

    def _over_quota(self, path: str, e: QuotaExceeded) -> HTTPError:
        return HTTPError(
            QUOTA_STATUS,
            f"Not saved: '{path}' would bring your home to {format_size(e.after)}, over its "
            f"{format_size(e.limit)} quota. Free some space, or ask your admins for a bigger home.",
        )

    async def reserve(self, path: str, size: int, *paths: str) -> Hold | None:
        """Reserve room in the home for ``size`` more bytes written to ``paths``; None outside the home."""
        if not self.in_home(path):
            return None
        try:
            return await self.ledger.reserve(size, paths)
        except QuotaExceeded as e:
            raise self._over_quota(path, e) from None

    def os_error(self, path: str, err: BaseException) -> HTTPError | None:
        """The clear 4xx/507 for an OSError (or a message carrying one) while writing ``path``."""
        text, code = str(err), getattr(err, "errno", None)
        if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "Disk quota exceeded" in text:
            return HTTPError(
                QUOTA_STATUS,
                f"Not saved: your home is full (its quota is reached) while writing '{path}'. "
                "Free some space, or ask your admins for a bigger home.",
            )
        if code == errno.EROFS or "Read-only file system" in text:
            return HTTPError(403, f"Cannot write '{path}': it is on a read-only folder")
        if code in (errno.EACCES, errno.EPERM):
            return HTTPError(403, f"Cannot write '{path}': permission denied")
        if code == errno.ENAMETOOLONG:
            return HTTPError(400, f"Cannot write '{path}': a name in it is too long; choose a shorter one")
        return None

    @contextlib.asynccontextmanager
    async def writing(self, path: str, os_path: str, size: int, hold: Hold | None = None) -> AsyncIterator[str]:
        """The one way bytes get a name in a local space: yields a hidden file of our own to write
        ``size`` bytes to (in a thread), and renames it over ``os_path`` when the block ends.

        In the home, room is reserved first (its growth: ``size`` less the file it replaces),
        unless ``hold`` already holds it (a move). Nothing is left behind when anything fails.
        """
        tmp = os.path.join(os.path.dirname(os_path), f"{WRITE_PREFIX}{secrets.token_hex(6)}")
        own: Hold | None = None
        if hold is None:
            own = await self.reserve(path, size - await asyncio.to_thread(_file_size, os_path), tmp)
        else:
            self.ledger.add_path(hold, tmp)
        try:
            yield tmp
            await asyncio.to_thread(_give_name, tmp, os_path)
        except BaseException as e:
            await asyncio.to_thread(_remove, tmp)
            if isinstance(e, OSError) and (mapped := self.os_error(path, e)) is not None:
                raise mapped from e
            raise
        finally:
            if own is not None:
                self.ledger.release(own)

    def _api_path(self, os_path: str) -> str:
        return to_api_path(os_path, os.path.abspath(self.root_dir))

    # -- writes -------------------------------------------------------------------------

    async def _save_file(self, os_path: str, content: str, format: str | None) -> None:
        """A file's bytes, through the one write path (jupyter_server's save calls this)."""
        if format not in {"text", "base64"}:
            raise HTTPError(400, "Must specify format of file contents as 'text' or 'base64'")
        data = content.encode() if format == "text" else await asyncio.to_thread(decode, content)
        async with self.writing(self._api_path(os_path), os_path, len(data)) as tmp:
            await asyncio.to_thread(_write_file, tmp, data)

    async def _save_notebook(self, os_path: str, nb: Any, capture_validation_error: Any = None) -> None:
        """A notebook's bytes, as nbformat.write makes them, through the one write path."""
        text = await asyncio.to_thread(partial(nbformat.writes, version=nbformat.NO_CONVERT,
                                               capture_validation_error=capture_validation_error), nb)
        data = (text if text.endswith("\n") else text + "\n").encode()
        async with self.writing(self._api_path(os_path), os_path, len(data)) as tmp:
            await asyncio.to_thread(_write_file, tmp, data)

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        path = path.strip("/")
        if (where := self.locate_remote(path)) and self.remote:
            if model.get("chunk") in (None, 1):
                self.run_pre_save_hooks(model=model, path=path)
            return await self.remote.save(*where, path, model, self)
        self._check_writable(path, "save")
        parent = path.rpartition("/")[0]
        if parent and not await self.dir_exists(parent):
            raise HTTPError(404, f"Not saved: the folder '{parent}' does not exist; create it first")
        try:
            if model.get("chunk") is not None:
                return await self._save_chunk(model, path, int(model["chunk"]))
            token = _SAVING.set(path)
            try:
                return await super().save(model, path)
            finally:
                _SAVING.reset(token)
        except OSError as e:
            raise (self.os_error(path, e) or e) from e

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        """jupyter_server's save makes a notebook's first checkpoint after writing it: a home too full
        for that checkpoint must not turn the save, which is done, into an error."""
        if _SAVING.get() != path.strip("/"):
            return await super().create_checkpoint(path)  # type: ignore[no-any-return]
        try:
            return await super().create_checkpoint(path)  # type: ignore[no-any-return]
        except HTTPError as e:
            if e.status_code != QUOTA_STATUS:
                raise
            self.log.warning("nbspaces: no first checkpoint of %s: %s", path, e.log_message)
            return {}

    async def _save_chunk(self, model: dict[str, Any], path: str, chunk: int) -> dict[str, Any]:
        """A chunked upload goes to a hidden spool file of this server, renamed over the target at the
        last chunk. So an upload that is interrupted or refused never leaves a partial file under its
        name, and one this server did not begin (it was restarted) is refused, never appended to."""
        if model.get("type") != "file":
            raise HTTPError(400, f"Only files are uploaded in chunks, not a {model.get('type')!r}")
        content = content_of(model)
        os_path = self._get_os_path(path)
        if chunk == 1:
            await self._drop_upload(os_path)  # the same file uploaded again: the old upload is over
            await self._clean_spools(os.path.dirname(os_path))
            self.run_pre_save_hooks(model=model, path=path)
            spool = os.path.join(os.path.dirname(os_path), f"{SPOOL_PREFIX}{self.server_id}-{secrets.token_hex(6)}")
            upload = self._uploads[os_path] = Upload(spool, await self.reserve(path, 0, spool))
        else:
            found = self._uploads.get(os_path)
            if found is None or (chunk != -1 and chunk != found.chunk + 1):
                await self._drop_upload(os_path)
                raise HTTPError(400, f"The upload of '{path}' was interrupted (the server restarted, or a "
                                     "piece is missing); upload the file again")
            upload = found
        size = b64_length(content) if isinstance(content, str) else len(content)
        if upload.hold is not None:
            try:
                await self.ledger.grow(upload.hold, size)
            except QuotaExceeded as e:
                await self._drop_upload(os_path)
                raise self._over_quota(path, e) from None

        def write() -> int:
            data = decode(content)  # here, in a thread, not on the event loop
            if chunk != 1 and _file_size(upload.spool) != upload.size:
                raise HTTPError(400, f"The upload of '{path}' does not match what was sent so far; "
                                     "upload the file again")
            with open(upload.spool, "wb" if chunk == 1 else "ab") as f:
                f.write(data)
                return f.tell()

        try:
            upload.size = await asyncio.to_thread(write)
            if chunk == -1:
                await asyncio.to_thread(_give_name, upload.spool, os_path)
        except BaseException as e:
            await self._drop_upload(os_path)
            if isinstance(e, OSError) and (mapped := self.os_error(path, e)) is not None:
                raise mapped from e
            raise
        upload.chunk, upload.seen = chunk, time.monotonic()
        if chunk != -1:
            now = datetime.now(UTC)
            return {"name": os.path.basename(path), "path": path, "type": "file", "format": None,
                    "mimetype": None, "content": None, "writable": True, "created": now,
                    "last_modified": now, "size": upload.size, "hash": None, "hash_algorithm": None}
        del self._uploads[os_path]
        if upload.hold is not None:
            self.ledger.release(upload.hold)
        # A listing of the folder begun before the file got its name does not show it, and JupyterLab
        # answers the refresh that follows this upload with that listing: answer after it.
        if pending := self._listings.get(os.path.dirname(os_path)):
            await asyncio.wait(set(pending), timeout=10)
        result = await self.get(path, content=False)
        self.run_post_save_hooks(model=result, os_path=os_path)
        self.emit(data={"action": "save", "path": path})
        return result

    async def _drop_upload(self, os_path: str) -> None:
        upload = self._uploads.pop(os_path, None)
        if upload is not None:
            await asyncio.to_thread(_remove, upload.spool)
            if upload.hold is not None:
                self.ledger.release(upload.hold)

    async def _clean_spools(self, folder: str) -> None:
        """Abandoned uploads go: ours idle for UPLOAD_IDLE, and spools in ``folder`` of no upload under
        way (another server's, stopped or idle as long)."""
        now = time.monotonic()
        for os_path in [p for p, u in self._uploads.items() if now - u.seen > UPLOAD_IDLE]:
            await self._drop_upload(os_path)
        live = {u.spool for u in self._uploads.values()}
        ours = f"{SPOOL_PREFIX}{self.server_id}-"

        def clean() -> None:
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for e in entries:
                    if not e.name.startswith(SPOOL_PREFIX) or e.path in live:
                        continue
                    with contextlib.suppress(OSError):
                        idle = time.time() - e.stat(follow_symlinks=False).st_mtime
                        if e.name.startswith(ours) or idle > UPLOAD_IDLE:
                            os.remove(e.path)

        await asyncio.to_thread(clean)
        self.ledger.changed()

    async def delete_file(self, path: str) -> None:
        if (where := self.locate_remote(path)) and self.remote:
            await self.remote.delete(*where, path, always_delete_dir=self.always_delete_dir)
            return
        self._check_writable(path, "delete")
        await super().delete_file(path)
        self.ledger.changed()

    async def rename_file(self, old_path: str, new_path: str) -> None:
        old_path, new_path = old_path.strip("/"), new_path.strip("/")
        if new_path.startswith(old_path + "/"):  # refused here, in every space: storages refuse in their own ways
            raise HTTPError(409, f"Cannot move '{old_path}' into itself: '{new_path}' is inside it")
        src, dst = self.locate_remote(old_path), self.locate_remote(new_path)
        if src and dst and src[0] is dst[0] and self.remote:
            await self.remote.move(src[0], src[1], dst[1], old_path)
            return
        if src or dst or self.space_of(old_path) != self.space_of(new_path):
            await self._move_between(old_path, new_path)
            return
        self._check_writable(old_path, "move")
        self._check_writable(new_path, "move into")
        try:
            await super().rename_file(old_path, new_path)
        except HTTPError as e:
            raise (self.os_error(new_path, e) or e) from e

    async def _move_between(self, old_path: str, new_path: str) -> None:
        """A move to another space: every precondition is checked before the first byte moves
        (source and target writable, target free, room in the home), then the bytes are copied
        (streamed) and the source removed, or renamed where both are local."""
        src, dst = self.locate_remote(old_path), self.locate_remote(new_path)
        if src and self.remote:
            self.remote.check_writable(src[0], old_path, "move")
        else:
            self._check_writable(old_path, "move")
        if dst and self.remote:
            self.remote.check_writable(dst[0], new_path, "move into")
        else:
            self._check_writable(new_path, "move into")
        if not await ensure_async(self.exists(old_path)):
            raise HTTPError(404, f"Cannot move '{old_path}': it does not exist")
        if await ensure_async(self.exists(new_path)):
            raise HTTPError(409, f"Cannot move '{old_path}': '{new_path}' already exists")
        hold = None
        if not dst:
            size = await self._remote_tree_bytes(old_path) if src else await asyncio.to_thread(
                self._tree_bytes, old_path)
            hold = await self.reserve(new_path, size, self._get_os_path(new_path))
        try:
            if not src and not dst:
                os_old, os_new = self._get_os_path(old_path), self._get_os_path(new_path)
                try:
                    await asyncio.to_thread(shutil.move, os_old, os_new)
                except OSError as e:
                    raise (self.os_error(new_path, e) or e) from e
            else:
                await self._copy_between(old_path, new_path, hold)
                if src and self.remote:
                    await self.remote.call(src[0], lambda d: d.delete(src[1]))
                    self.remote.invalidate(src[0], src[1])
                else:
                    await asyncio.to_thread(_remove_tree, self._get_os_path(old_path))
        finally:
            if hold is not None:
                self.ledger.release(hold)
            self.ledger.changed()

    async def _remote_tree_bytes(self, path: str, limit: int | None = None) -> int:
        """The bytes of a remote file or folder, from one listing per folder; a walk stops as soon as
        it passes ``limit``."""
        model = await self.get(path, content=False)
        if model["type"] != "directory":
            return int(model.get("size") or 0)
        total = 0
        for child in (await self.get(path, content=True))["content"]:
            left = None if limit is None else limit - total
            total += (await self._remote_tree_bytes(child["path"], left) if child["type"] == "directory"
                      else int(child.get("size") or 0))
            if limit is not None and total > limit:
                break
        return total

    async def check_folder_size(self, path: str) -> None:
        """jupyter_server's limit on folder copies (max_copy_folder_size_mb), in remote spaces too."""
        if not self.locate_remote(path):
            return await super().check_folder_size(path)  # type: ignore[no-any-return]
        limit = self.max_copy_folder_size_mb * 1024 * 1024
        size = await self._remote_tree_bytes(path, limit)
        if size > limit:
            raise HTTPError(400, f"Can't copy folders larger than {self.max_copy_folder_size_mb}MB, "
                                 f'"{path}" is more than {await self._human_readable_size(limit)}')

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        """jupyter_server's copy: the same names (``x-Copy3.ipynb`` after ``x-Copy2.ipynb``), the same
        size limit on folders, the same 404 for a folder that is not there. Where a remote space is on
        either side, the bytes are streamed (jupyter_server's would hold a whole file in memory)."""
        from_path = from_path.strip("/")
        into = (to_path if to_path is not None else from_path.rpartition("/")[0]).strip("/")
        if into == from_path or into.startswith(from_path + "/"):  # it would copy its own copy, ever deeper
            raise HTTPError(409, f"Cannot copy '{from_path}' into itself: '{into}' is inside it")
        if not (self.locate_remote(from_path) or self.locate_remote(into + "/x" if into else "")):
            space = self.space_of(into)
            if space is not None and space.read_only:
                raise HTTPError(403, f"Cannot copy into '{into}': '{space.mount}' is shared with you read-only")
            return await super().copy(from_path, to_path)  # files through save(), folders _copy_dir
        model = await self.get(from_path, content=False)
        if model["type"] == "directory":
            await self.check_folder_size(from_path)
        fresh = await self.dir_exists(into)  # a new name in a folder; else a file's own name, maybe taken
        if fresh:
            name = copy_pat.sub(".", from_path.rpartition("/")[2])
            target = f"{into}/{await self.increment_filename(name, into, insert='-Copy')}".strip("/")
        elif model["type"] == "directory" or to_path is None:
            raise HTTPError(404, f"No such directory: {into}")
        else:  # a file copied to a name of its own, as jupyter_server allows: it replaces what has the name
            parent = into.rpartition("/")[0]
            if parent and not await self.dir_exists(parent):
                raise HTTPError(404, f"No such parent directory: {parent} to copy file in")
            target = into
        source, dest = self.locate_remote(from_path), self.locate_remote(target)
        if fresh and source and dest and source[0] is dest[0] and self.remote:
            await self.remote.copy(dest[0], source[1], dest[1], target)  # no byte comes through this server
        else:
            await self._copy_between(from_path, target)
        return await self.get(target, content=False)

    async def _copy_dir(self, from_path: str, to_path_original: str, to_name: str, to_path: str) -> dict[str, Any]:
        """A folder copied whole: its room reserved first, copied under a hidden name, then renamed.
        A folder to copy into that does not exist is not made (jupyter_server's copytree would)."""
        into = to_path.strip("/").rpartition("/")[0]
        if not await self.dir_exists(into):
            raise HTTPError(404, f"No such directory: {into}")
        os_from = self._get_os_path(from_path.strip("/"))
        os_to = self._get_os_path(to_path.strip("/"))
        tmp = os.path.join(os.path.dirname(os_to), f"{WRITE_PREFIX}{secrets.token_hex(6)}")
        hold = await self.reserve(to_path, await asyncio.to_thread(tree_bytes, os_from), tmp)
        try:
            await asyncio.to_thread(shutil.copytree, os_from, tmp, symlinks=True)
            await asyncio.to_thread(os.rename, tmp, os_to)
        except OSError as e:
            await asyncio.to_thread(_remove_tree, tmp)
            raise (self.os_error(to_path, e) or HTTPError(400, f"Cannot copy '{from_path}': {e.strerror}")) from e
        finally:
            if hold is not None:
                self.ledger.release(hold)
        return await self.get(to_path, content=False)

    def _tree_bytes(self, path: str) -> int:
        os_path = self._get_os_path(path)
        if not os.path.isdir(os_path):
            return _file_size(os_path)
        return tree_bytes(os_path)

    # -- reads --------------------------------------------------------------------------

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> dict[str, Any]:
        path = path.strip("/")
        if (where := self.locate_remote(path)) and self.remote:
            return await self.remote.get(*where, path, content, type, format, self, require_hash)
        model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
        if self.plan is not None:
            self._mark_read_only(model)
            if path == "" and content and self.registry:
                model["content"] = self._with_remote_roots(model["content"])
        return model

    async def _dir_model(self, path: str, content: bool = True) -> dict[str, Any]:
        """A folder's listing, made in a thread (no request waits on another's listing), with one
        cheap check per entry: only a link needs resolving, and a link out is not listed."""
        if not content or self.plan is None:
            return await super()._dir_model(path, content=content)  # type: ignore[no-any-return]
        model: dict[str, Any] = await super()._dir_model(path, content=False)
        os_dir = self._get_os_path(path)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._listings.setdefault(os_dir, set()).add(done)
        try:
            model["content"] = await asyncio.to_thread(self._list, path, os_dir)
        finally:
            self._listings[os_dir].discard(done)
            if not self._listings[os_dir]:
                del self._listings[os_dir]
            done.set_result(None)
        model["format"] = "json"
        return model

    def _list(self, path: str, os_dir: str) -> list[dict[str, Any]]:
        out = []
        with os.scandir(os_dir) as entries:
            for entry in entries:
                if not self.allow_hidden and entry.name.startswith("."):
                    continue  # before any stat: a spool renamed meanwhile is no warning
                if not self.should_list(entry.name):
                    continue
                child = f"{path}/{entry.name}".strip("/")
                try:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        space = self.space_of(child)
                        if space is not None and not self._contained(space, os.path.realpath(entry.path)):
                            self.log.debug("not listing %s: a link out of its space", child)
                            continue
                        st = os.stat(entry.path)
                    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                        continue
                    if not self.allow_hidden and is_file_hidden(entry.path, stat_res=st):
                        continue
                except OSError:
                    continue  # gone since the folder was read, or a broken link
                out.append(self._entry_model(child, entry.path, st))
        return out

    def _entry_model(self, path: str, os_path: str, st: os.stat_result) -> dict[str, Any]:
        """The model jupyter_server's get(path, content=False) gives, from one stat."""
        is_dir = stat.S_ISDIR(st.st_mode)
        kind = "directory" if is_dir else "notebook" if path.endswith(".ipynb") else "file"
        try:
            modified = tz.utcfromtimestamp(st.st_mtime)
            created = tz.utcfromtimestamp(_get_created_timestamp(st))
        except (ValueError, OverflowError, OSError):
            modified = created = datetime(1970, 1, 1, tzinfo=UTC)
        return {"name": path.rsplit("/", 1)[-1], "path": path, "type": kind, "format": None, "content": None,
                "mimetype": mimetypes.guess_type(os_path)[0] if kind == "file" else None,
                "size": None if is_dir else st.st_size, "writable": os.access(os_path, os.W_OK),
                "created": created, "last_modified": modified, "hash": None, "hash_algorithm": None}

    def _with_remote_roots(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every remote space is a top-level folder, whatever its status."""
        assert self.registry is not None and self.remote is not None
        names = {e["name"] for e in entries}
        out = [e for e in entries if e["name"] not in {m.space.mount for m in self.registry.mounts.values()}]
        for mount in self.registry.mounts.values():
            model = self.remote.model(mount, mount.space.mount, Entry(mount.space.mount, True), listed=True)
            if mount.space.mount in names:
                model["last_modified"] = next(e["last_modified"] for e in entries if e["name"] == mount.space.mount)
            out.append(model)
        return out

    async def file_exists(self, path: str = "") -> bool:
        if (where := self.locate_remote(path)) and self.remote:
            return await self.remote.exists(*where, want_dir=False)
        return bool(await ensure_async(super().file_exists(path)))

    async def dir_exists(self, path: str) -> bool:
        if (where := self.locate_remote(path)) and self.remote:
            return await self.remote.exists(*where, want_dir=True)
        return bool(await ensure_async(super().dir_exists(path)))

    def exists(self, path: str) -> Any:
        """Synchronous for local paths, as jupyter_server's own get() calls it; for remote
        paths an awaitable, which every caller that can reach one awaits (ensure_async)."""
        if (where := self.locate_remote(path)) and self.remote:
            return self.remote.exists(*where, want_dir=None)
        return super().exists(path)

    async def is_hidden(self, path: str) -> bool:
        if (where := self.locate_remote(path)) and self.remote:
            return self.remote.hidden(where[1])
        return bool(await ensure_async(super().is_hidden(path)))

    async def get_kernel_path(self, path: str, model: dict[str, Any] | None = None) -> str:
        if self.locate_remote(path) and not os.path.isdir(os.path.join(self.root_dir, path.rpartition("/")[0])):
            return ""  # no POSIX path for this space: kernels start in the home
        return await super().get_kernel_path(path, model)

    # -- between spaces -----------------------------------------------------------------

    async def _copy_between(self, src: str, dst: str, hold: Hold | None = None) -> None:
        """Copy a file or folder to another space, streamed, never whole in memory. ``hold``: room
        already reserved in the home for all of it (a move)."""
        model = await self.get(src, content=False)
        if model["type"] == "directory":
            await self.save({"type": "directory"}, dst)
            listing = await self.get(src, content=True)
            for child in listing["content"]:
                await self._copy_between(child["path"], f"{dst}/{child['name']}", hold)
            return
        source, target = self.locate_remote(src), self.locate_remote(dst)
        if target:
            assert self.remote is not None
            mount, rel = target
            self.remote.check_writable(mount, dst, "copy into")
            pieces = self.pieces(src, source)
            size = model.get("size")
            await self.remote.call(mount, lambda d: d.write(rel, pieces, size))
            self.remote.invalidate(mount, rel)
            return
        self._check_writable(dst, "copy into")
        assert source is not None and self.remote is not None
        mount, rel = source
        os_dst = self._get_os_path(dst)
        async with self.writing(dst, os_dst, int(model.get("size") or 0), hold) as tmp:
            await self.download(mount, rel, tmp)

    async def download(self, mount: Mount, rel: str, os_path: str) -> None:
        """A remote file's bytes into a local file (a temporary one of ``writing``), streamed."""
        assert self.remote is not None

        def fetch(driver: Any) -> None:
            with open(os_path, "wb") as f:
                for piece in driver.read(rel):
                    f.write(piece)

        await self.remote.call(mount, fetch)

    def pieces(self, path: str, where: tuple[Mount, str] | None) -> Iterator[bytes]:
        """A file's bytes in pieces, read in the caller's thread (a driver's write)."""
        if where is None:
            with open(self._get_os_path(path), "rb") as f:
                while piece := f.read(1024 * 1024):
                    yield piece
            return
        mount, rel = where
        assert self.registry is not None
        yield from self.registry.driver(mount).read(rel)

    def _mark_read_only(self, model: dict[str, Any]) -> None:
        space = self.space_of(model["path"])
        if space is not None and space.read_only:
            model["writable"] = False
        if model.get("type") == "directory" and isinstance(model.get("content"), list):
            for child in model["content"]:
                self._mark_read_only(child)
