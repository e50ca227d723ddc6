"""The contents manager of a server spawned by nbspaces.

The root of the file tree is the user's home; each shared folder of the plan is a top-level
folder of it. This manager enforces, before any byte moves:

- the home quota (where the plan says the server enforces it; elsewhere the filesystem does,
  and this manager turns its "no space left" into the same message);
- read-only shared folders: every write is refused with a 403 and a message that says what
  to do instead;
- containment: no path, and no link, leads out of the space it starts in.

Without a plan (nbspaces installed, but the server not spawned by nbspaces) it behaves
exactly like jupyter_server's AsyncLargeFileManager.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError
from traitlets import Float, default

from ..drivers import Entry
from ..keys import fetch_key
from ..plan import Plan, Space
from ..sizes import format_size
from .registry import Mount, Registry
from .remote import RemoteContents, b64_length, content_of, decode

QUOTA_STATUS = 507  # Insufficient Storage


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _remove_tree(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _remove(path)


def tree_bytes(root: str, skip: set[str] | frozenset[str] = frozenset()) -> int:
    """Total size of the files under root, not following links; ``skip`` names top-level entries."""
    total = 0
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            # Other spaces at the top level: listed, or mounted there (FUSE) since.
            if top == root and (entry.name in skip or os.path.ismount(entry.path)):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class HomeUsage:
    """Bytes used in the home, walked in a thread and kept up to date by our own writes.

    A walk of a large home is slow, so it runs at most every ``max_age`` seconds; between
    walks each save adjusts the figure. Writes from kernels are picked up by the next walk.
    """

    def __init__(self, root: str, skip: set[str], max_age: float):
        self.root = root
        self.skip = skip  # top-level names that are other spaces
        self.max_age = max_age
        self._bytes: int | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    def _walk(self) -> int:
        return tree_bytes(self.root, self.skip)

    async def current(self) -> int:
        async with self._lock:
            if self._bytes is None or time.monotonic() - self._at > self.max_age:
                self._bytes = await asyncio.to_thread(self._walk)
                self._at = time.monotonic()
            return self._bytes

    def add(self, delta: int) -> None:
        if self._bytes is not None:
            self._bytes = max(0, self._bytes + delta)


class SpacesContentsManager(AsyncLargeFileManager):
    """Home at the root, shared folders as top-level folders, quota and read-only enforced."""

    usage_max_age = Float(
        30.0,
        config=True,
        help="Seconds a walked figure of the home's usage is trusted before it is walked again.",
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
        skip = set(self.mounted) | {m.space.mount for m in self.registry.mounts.values()} if self.registry else set()
        self.usage = HomeUsage(os.path.abspath(self.root_dir), skip, self.usage_max_age)

    @default("files_handler_class")
    def _files_handler_default(self) -> type:
        from .files import SpacesFilesHandler

        return SpacesFilesHandler

    def locate_remote(self, path: str) -> tuple[Mount, str] | None:
        """(mount, path inside it) when the path is in a remote space."""
        return self.remote.locate(path) if self.remote else None

    # -- where a path belongs ---------------------------------------------------------

    def space_of(self, path: str) -> Space | None:
        if self.plan is None:
            return None
        head = path.strip("/").split("/", 1)[0]
        return self.mounted.get(head) or self.plan.home

    def _space_root(self, space: Space) -> str:
        return os.path.realpath(os.path.join(self.root_dir, space.mount))

    def _get_os_path(self, path: str) -> str:
        os_path = super()._get_os_path(path)
        space = self.space_of(path)
        if space is not None:
            real = os.path.realpath(os_path)
            root = self._space_root(space)
            inside = real == root or real.startswith(root + os.sep)
            # A home path must not reach into a shared folder through a link either.
            if inside and space.kind == "home":
                inside = not any(
                    real == self._space_root(s) or real.startswith(self._space_root(s) + os.sep)
                    for s in self.mounted.values()
                )
            if not inside:
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

    async def _used_and_limit(self) -> tuple[int, int] | None:
        if self.plan is None or self.plan.home.quota_bytes is None:
            return None
        limit = self.plan.home.quota_bytes
        if self.plan.home.quota_enforced_by == "filesystem":
            st = await asyncio.to_thread(os.statvfs, self.root_dir)
            return (st.f_blocks - st.f_bfree) * st.f_frsize, min(limit, st.f_blocks * st.f_frsize)
        return await self.usage.current(), limit

    async def home_usage(self) -> tuple[int, int] | None:
        """(bytes used, quota in bytes) of the home, or None without a plan."""
        return await self._used_and_limit()

    async def _check_quota(self, path: str, new_bytes: int, replaces: int = 0) -> None:
        space = self.space_of(path)
        if space is None or space.kind != "home":
            return
        figures = await self._used_and_limit()
        if figures is None:
            return
        used, limit = figures
        after = used - replaces + new_bytes
        if new_bytes > replaces and after > limit:
            raise HTTPError(
                QUOTA_STATUS,
                f"Not saved: '{path}' would bring your home to {format_size(after)}, over its "
                f"{format_size(limit)} quota. Free some space, or ask your admins for a bigger home.",
            )

    def _size_on_disk(self, path: str) -> int:
        try:
            os_path = self._get_os_path(path)
            return os.path.getsize(os_path) if os.path.isfile(os_path) else 0
        except (OSError, HTTPError):
            return 0

    @staticmethod
    def _content_bytes(model: dict[str, Any]) -> int:
        content = model.get("content")
        if content is None:
            return 0
        if model.get("type") == "notebook":
            return len(json.dumps(content, indent=1).encode())
        if model.get("format") == "base64" and isinstance(content, str):
            return b64_length(content)
        return len(content.encode("utf-8")) if isinstance(content, str) else 0

    def _no_space(self, path: str, err: BaseException) -> HTTPError | None:
        text = str(err)
        if (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            "No space left" in text or "Disk quota exceeded" in text
        ):
            return HTTPError(
                QUOTA_STATUS,
                f"Not saved: your home is full (its quota is reached) while writing '{path}'. "
                "Free some space, or ask your admins for a bigger home.",
            )
        if (isinstance(err, OSError) and err.errno == errno.EROFS) or "Read-only file system" in text:
            return HTTPError(403, f"Cannot write '{path}': it is on a read-only folder")
        return None

    # -- writes -------------------------------------------------------------------------

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
        chunk = model.get("chunk")
        new_bytes = self._content_bytes(model)
        replaces = 0 if chunk not in (None, 1) else await asyncio.to_thread(self._size_on_disk, path)
        try:
            await self._check_quota(path, new_bytes, replaces)
        except HTTPError:
            if chunk not in (None, 1):
                await asyncio.to_thread(_remove, self._spool_path(path))  # the upload is over
            raise
        try:
            if chunk is not None:
                result = await self._save_chunk(model, path, int(chunk))
            else:
                result = await super().save(model, path)
        except HTTPError as e:
            mapped = self._no_space(path, e)
            if mapped is not None:
                raise mapped from e
            raise
        except OSError as e:
            raise (self._no_space(path, e) or e) from e
        self.usage.add(new_bytes - replaces)
        return result

    def _spool_path(self, path: str) -> str:
        os_path = self._get_os_path(path)
        return os.path.join(os.path.dirname(os_path), f".{os.path.basename(os_path)}.nbspaces-upload")

    async def _save_chunk(self, model: dict[str, Any], path: str, chunk: int) -> dict[str, Any]:
        """A chunked upload goes to a hidden spool file, renamed over the target at the last chunk.

        So an upload that is interrupted or refused never leaves a partial file under its name.
        """
        if model.get("type") != "file":
            raise HTTPError(400, f"Only files are uploaded in chunks, not a {model.get('type')!r}")
        content = content_of(model)
        os_path, spool = self._get_os_path(path), self._spool_path(path)
        if chunk == 1:
            self.run_pre_save_hooks(model=model, path=path)
        elif not os.path.exists(spool):
            raise HTTPError(400, f"The upload of '{path}' was interrupted; upload the file again")

        def write() -> int:
            try:
                data = decode(content)  # here, in a thread, not on the event loop
            except HTTPError:
                _remove(spool)
                raise
            try:
                with open(spool, "wb" if chunk == 1 else "ab") as f:
                    f.write(data)
                    size = f.tell()
                if chunk == -1:
                    os.replace(spool, os_path)
            except OSError:
                _remove(spool)
                raise
            return size

        size = await asyncio.to_thread(write)
        if chunk != -1:
            now = datetime.now(UTC)
            return {"name": os.path.basename(path), "path": path, "type": "file", "format": None,
                    "mimetype": None, "content": None, "writable": True, "created": now,
                    "last_modified": now, "size": size, "hash": None, "hash_algorithm": None}
        result = await self.get(path, content=False)
        self.run_post_save_hooks(model=result, os_path=os_path)
        self.emit(data={"action": "save", "path": path})
        return result

    async def delete_file(self, path: str) -> None:
        if (where := self.locate_remote(path)) and self.remote:
            await self.remote.delete(*where, path, always_delete_dir=self.always_delete_dir)
            await asyncio.to_thread(_remove_tree, self._remote_checkpoint(path))
            return
        self._check_writable(path, "delete")
        freed = await asyncio.to_thread(self._tree_bytes, path)
        await super().delete_file(path)
        if (space := self.space_of(path)) is not None and space.kind == "home":
            self.usage.add(-freed)

    async def delete(self, path: str) -> None:
        if self.locate_remote(path):
            # jupyter_server's checkpoint bookkeeping would make .ipynb_checkpoints in the space.
            await self.delete_file(path)
            self.emit(data={"action": "delete", "path": path})
            return
        await super().delete(path)

    async def rename(self, old_path: str, new_path: str) -> None:
        if self.locate_remote(old_path) or self.locate_remote(new_path):
            await self.rename_file(old_path, new_path)
            self.emit(data={"action": "rename", "path": new_path, "source_path": old_path})
            return
        await super().rename(old_path, new_path)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        src, dst = self.locate_remote(old_path), self.locate_remote(new_path)
        if src and dst and src[0] is dst[0] and self.remote:
            await self.remote.move(src[0], src[1], dst[1], old_path)
            return
        if src or dst:
            # Between spaces: a streamed copy, then the original, all of it, goes.
            await self._copy_between(old_path, new_path)
            if src and self.remote:
                self.remote.check_writable(src[0], old_path, "move")
                await self.remote.call(src[0], lambda d: d.delete(src[1]))
                self.remote.invalidate(src[0], src[1])
            else:
                self._check_writable(old_path, "move")
                freed = await asyncio.to_thread(self._tree_bytes, old_path)
                await asyncio.to_thread(_remove_tree, self._get_os_path(old_path))
                self.usage.add(-freed)
            return
        self._check_writable(old_path, "move")
        self._check_writable(new_path, "move into")
        src, dst = self.space_of(old_path), self.space_of(new_path)
        if src is not None and dst is not None and src.name != dst.name:
            await self._check_quota(new_path, await asyncio.to_thread(self._tree_bytes, old_path))
        try:
            await super().rename_file(old_path, new_path)
        except HTTPError as e:
            raise (self._no_space(new_path, e) or e) from e

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        from_path = from_path.strip("/")
        into = (to_path if to_path is not None else from_path.rpartition("/")[0]).strip("/")
        if self.locate_remote(from_path) or self.locate_remote(into + "/x" if into else ""):
            name = from_path.rpartition("/")[2]
            if await self.dir_exists(into):
                target = f"{into}/{await self.increment_filename(name, into, insert='-Copy')}".strip("/")
            else:
                target = into
            await self._copy_between(from_path, target)
            return await self.get(target, content=False)
        space = self.space_of(into)
        if space is not None and space.read_only:
            raise HTTPError(
                403, f"Cannot copy into '{into}': '{space.mount}' is shared with you read-only"
            )
        size = await asyncio.to_thread(self._tree_bytes, from_path)
        await self._check_quota(into, size)
        model = await super().copy(from_path, to_path)
        if space is not None and space.kind == "home":
            self.usage.add(size)
        return model

    def _tree_bytes(self, path: str) -> int:
        os_path = self._get_os_path(path)
        if not os.path.isdir(os_path):
            return os.path.getsize(os_path) if os.path.exists(os_path) else 0
        return tree_bytes(os_path)

    async def _create_local_checkpoint(self, path: str) -> dict[str, Any]:
        space = self.space_of(path)
        if space is not None and space.read_only:
            # Nothing can change in a read-only folder: a checkpoint would only fail to write.
            raise HTTPError(403, f"No checkpoint for '{path}': '{space.mount}' is read-only for you")
        return await super().create_checkpoint(path)

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

    async def _copy_between(self, src: str, dst: str) -> None:
        """Copy a file or folder to another space, streamed, never whole in memory."""
        model = await self.get(src, content=False)
        if model["type"] == "directory":
            await self.save({"type": "directory"}, dst)
            listing = await self.get(src, content=True)
            for child in listing["content"]:
                await self._copy_between(child["path"], f"{dst}/{child['name']}")
            return
        source, target = self.locate_remote(src), self.locate_remote(dst)
        if target:
            assert self.remote is not None
            mount, rel = target
            self.remote.check_writable(mount, dst, "copy into")
            pieces = self._pieces(src, source)
            size = model.get("size")
            await self.remote.call(mount, lambda d: d.write(rel, pieces, size))
            self.remote.invalidate(mount, rel)
            return
        self._check_writable(dst, "copy into")
        await self._check_quota(dst, int(model.get("size") or 0))
        os_dst = self._get_os_path(dst)
        tmp = os.path.join(os.path.dirname(os_dst), f".{os.path.basename(os_dst)}.nbspaces-copy")
        assert source is not None and self.remote is not None
        mount, rel = source

        def fetch(driver: Any) -> int:
            try:
                with open(tmp, "wb") as f:
                    for piece in driver.read(rel):
                        f.write(piece)
                    size = f.tell()
                os.replace(tmp, os_dst)
            except BaseException:
                _remove(tmp)
                raise
            return size

        try:
            size = await self.remote.call(mount, fetch)
        except OSError as e:
            raise (self._no_space(dst, e) or e) from e
        self.usage.add(size)

    def _pieces(self, path: str, where: tuple[Mount, str] | None) -> Iterator[bytes]:
        """A file's bytes in pieces, read in the caller's thread (a driver's write)."""
        if where is None:
            with open(self._get_os_path(path), "rb") as f:
                while piece := f.read(1024 * 1024):
                    yield piece
            return
        mount, rel = where
        assert self.registry is not None
        yield from self.registry.driver(mount).read(rel)

    # -- checkpoints of remote files: kept in the home ------------------------------------

    def _remote_checkpoint(self, path: str) -> str:
        return os.path.join(self.root_dir, ".nbspaces", "checkpoints", *path.strip("/").split("/"))

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        if (where := self.locate_remote(path)) and self.remote:
            mount, rel = where
            target = self._remote_checkpoint(path)
            await self._check_quota(".nbspaces/checkpoints", int((await self.get(path, content=False))["size"] or 0))

            def keep(driver: Any) -> None:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target + ".tmp", "wb") as f:
                    for piece in driver.read(rel):
                        f.write(piece)
                os.replace(target + ".tmp", target)

            await self.remote.call(mount, keep)
            return self._checkpoint_model(target)
        return await self._create_local_checkpoint(path)

    @staticmethod
    def _checkpoint_model(target: str) -> dict[str, Any]:
        when = datetime.fromtimestamp(os.stat(target).st_mtime, UTC)
        return {"id": "checkpoint", "last_modified": when}

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        if self.locate_remote(path):
            target = self._remote_checkpoint(path)
            return [self._checkpoint_model(target)] if os.path.exists(target) else []
        return await super().list_checkpoints(path)

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        if (where := self.locate_remote(path)) and self.remote:
            mount, rel = where
            self.remote.check_writable(mount, path, "restore")
            target = self._remote_checkpoint(path)
            if not os.path.exists(target):
                raise HTTPError(404, f"No checkpoint of '{path}'")
            pieces = self._pieces(os.path.relpath(target, self.root_dir), None)
            await self.remote.call(mount, lambda d: d.write(rel, pieces, os.path.getsize(target)))
            self.remote.invalidate(mount, rel)
            return
        self._check_writable(path, "restore")
        await super().restore_checkpoint(checkpoint_id, path)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        if self.locate_remote(path):
            await asyncio.to_thread(_remove, self._remote_checkpoint(path))
            return
        await super().delete_checkpoint(checkpoint_id, path)

    def _mark_read_only(self, model: dict[str, Any]) -> None:
        space = self.space_of(model["path"])
        if space is not None and space.read_only:
            model["writable"] = False
        if model.get("type") == "directory" and isinstance(model.get("content"), list):
            for child in model["content"]:
                self._mark_read_only(child)
