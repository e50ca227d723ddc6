"""Checkpoints whose every path goes through the contents manager's one path check.

jupyter_server's FileCheckpoints builds its paths itself (a folder ``.ipynb_checkpoints``
beside the file, a file name made from the checkpoint id), so a link named
``.ipynb_checkpoints`` took its reads, writes and deletes to wherever it pointed. Here:

- a file of the home keeps its checkpoint beside it, in ``.ipynb_checkpoints`` as jupyter_server
  does, at a path checked like any other (a link out answers 403);
- a file of any other space (a shared folder, read-only or not, a remote space) keeps its
  checkpoint in the user's own home, under ``.nbspaces/checkpoints/<path>``: a checkpoint is
  the user's own, counted by their quota, and never written into, or deleted from, a folder
  that others use;
- the only checkpoint id is "checkpoint" (jupyter_server's): any other safe name is not found,
  anything else is refused;
- a checkpoint is written as every file is (SpacesContentsManager.writing): room reserved,
  a hidden file of its own, renamed at the end, nothing left when it fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError

from .contents import NAME_MAX, _file_size

if TYPE_CHECKING:
    from .contents import SpacesContentsManager

CHECKPOINT_ID = "checkpoint"
CHECKPOINT_DIR = ".ipynb_checkpoints"
HOME_CHECKPOINTS = ".nbspaces/checkpoints"
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


class SpacesCheckpoints(AsyncCheckpoints):
    @property
    def cm(self) -> SpacesContentsManager:
        return self.parent  # type: ignore[no-any-return]

    def _where(self, path: str) -> str:
        """The API path (in the home) of the checkpoint of ``path``."""
        path = path.strip("/")
        if not path:
            raise HTTPError(400, "The top folder has no checkpoints")
        if self.cm.locate_remote(path) or not self.cm.in_home(path):
            return f"{HOME_CHECKPOINTS}/{path}"
        parent, _, name = path.rpartition("/")
        base, ext = os.path.splitext(name)
        kept = f"{base}-{CHECKPOINT_ID}{ext}"
        if len(os.fsencode(kept)) > NAME_MAX:  # a name near the limit: its checkpoint still has one
            kept = f"{hashlib.sha256(name.encode()).hexdigest()[:32]}-{CHECKPOINT_ID}{ext[:32]}"
        return f"{parent}/{CHECKPOINT_DIR}/{kept}".strip("/")

    def _os_path(self, path: str) -> str:
        """The checked OS path of the checkpoint of ``path``: in the home, no link out."""
        return self.cm._get_os_path(self._where(path))

    @staticmethod
    def _check_id(checkpoint_id: str, path: str) -> None:
        if checkpoint_id == CHECKPOINT_ID:
            return
        if _SAFE_ID.match(checkpoint_id):
            raise HTTPError(404, f"'{path}' has no checkpoint '{checkpoint_id}'; its checkpoint is "
                                 f"'{CHECKPOINT_ID}'")
        raise HTTPError(400, f"'{checkpoint_id[:40]}' is not a checkpoint id; the checkpoint of a file is "
                             f"'{CHECKPOINT_ID}'")

    @staticmethod
    async def _model(os_path: str) -> dict[str, Any]:
        st = await asyncio.to_thread(os.stat, os_path)
        return {"id": CHECKPOINT_ID, "last_modified": datetime.fromtimestamp(st.st_mtime, UTC)}

    async def _keep(self, cp: str, os_cp: str, size: int) -> Any:
        """The block that writes ``size`` bytes as the checkpoint ``cp``: its folder made, room reserved."""
        await asyncio.to_thread(os.makedirs, os.path.dirname(os_cp), exist_ok=True)
        return self.cm.writing(cp, os_cp, size)

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        cm = self.cm
        path = path.strip("/")
        cp = self._where(path)
        os_cp = cm._get_os_path(cp)
        if (where := cm.locate_remote(path)) and cm.remote:
            mount, rel = where
            model = await cm.get(path, content=False)
            if model["type"] == "directory":
                raise HTTPError(400, f"'{path}' is a folder; only files have checkpoints")
            async with await self._keep(cp, os_cp, int(model.get("size") or 0)) as tmp:
                await cm.download(mount, rel, tmp)
            return await self._model(os_cp)
        source = cm._get_os_path(path)
        if not await asyncio.to_thread(os.path.isfile, source):
            raise HTTPError(404, f"No checkpoint made: '{path}' is not a file")
        async with await self._keep(cp, os_cp, await asyncio.to_thread(_file_size, source)) as tmp:
            await asyncio.to_thread(shutil.copyfile, source, tmp)
        return await self._model(os_cp)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        cm = self.cm
        path = path.strip("/")
        self._check_id(checkpoint_id, path)
        os_cp = self._os_path(path)
        if not await asyncio.to_thread(os.path.isfile, os_cp):
            raise HTTPError(404, f"'{path}' has no checkpoint to restore")
        if (where := cm.locate_remote(path)) and cm.remote:
            mount, rel = where
            cm.remote.check_writable(mount, path, "restore")
            pieces = cm.pieces(self._where(path), None)
            size = await asyncio.to_thread(_file_size, os_cp)
            await cm.remote.call(mount, lambda d: d.write(rel, pieces, size))
            cm.remote.invalidate(mount, rel)
            return
        cm._check_writable(path, "restore")
        target = cm._get_os_path(path)
        async with cm.writing(path, target, await asyncio.to_thread(_file_size, os_cp)) as tmp:
            await asyncio.to_thread(shutil.copyfile, os_cp, tmp)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        self._check_id(checkpoint_id, old_path)
        old, new = self._os_path(old_path), self._os_path(new_path)

        def move() -> None:
            if os.path.isfile(old):
                os.makedirs(os.path.dirname(new), exist_ok=True)
                os.replace(old, new)

        await asyncio.to_thread(move)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        self._check_id(checkpoint_id, path)
        os_cp = self._os_path(path)
        if not await asyncio.to_thread(os.path.isfile, os_cp):
            raise HTTPError(404, f"'{path}' has no checkpoint '{checkpoint_id}'")
        await asyncio.to_thread(os.remove, os_cp)
        self.cm.ledger.changed()

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        os_cp = self._os_path(path)
        return [await self._model(os_cp)] if await asyncio.to_thread(os.path.isfile, os_cp) else []
