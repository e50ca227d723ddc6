"""Credentials of remote spaces, encrypted at rest with a key that is not kept in the home.

The store is one file in the user's home (``~/.nbspaces/credentials``, mode 0600),
encrypted with Fernet (AES-128-CBC + HMAC-SHA256). The key comes from the hub's nbspaces
service for the token of the user's own server (see :mod:`nbspaces.spawner.service`): a copy
of the home, a backup, or another user who reads the file gets nothing usable from it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

STORE_NAME = ".nbspaces/credentials"


class CredentialError(Exception):
    pass


def write_private(path: Path, data: bytes) -> None:
    """Replace a state file of the user's (mode 0600) atomically: readers see the old or the new
    content, never a part; writers racing each other each use a temporary file of their own."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CredentialStore:
    """space name -> {field: value}. Values are secrets: never log or return them."""

    def __init__(self, path: str | os.PathLike[str], key: bytes):
        self.path = Path(path)
        self._fernet = Fernet(key)
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            token = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(token))
        except (InvalidToken, ValueError):
            raise CredentialError(
                f"{self.path} cannot be decrypted with this hub's key; forget the credentials and "
                "enter them again"
            ) from None
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        write_private(self.path, self._fernet.encrypt(json.dumps(data).encode()))

    def get(self, space: str) -> dict[str, str] | None:
        with self._lock:
            return self._load().get(space)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._load())

    def set(self, space: str, values: dict[str, str]) -> None:
        with self._lock:
            data = self._load()
            data[space] = dict(values)
            self._save(data)

    def forget(self, space: str) -> bool:
        with self._lock:
            data = self._load()
            if data.pop(space, None) is None:
                return False
            self._save(data)
            return True

    def reset(self) -> None:
        """Start afresh when the file cannot be decrypted (the hub's secret changed)."""
        with self._lock:
            self._save({})
