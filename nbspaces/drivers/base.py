"""What every driver offers: the file operations of one remote kind, blocking, streamed.

Drivers import no web framework. Callers on an event loop run them in threads. Paths are
relative to the space's root, '/'-separated, already checked (see :func:`clean_path`).
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal


class Problem(StrEnum):
    """Why a driver call failed, in terms a caller can act on."""

    AUTH = "auth"  # the credentials were refused
    NOT_FOUND = "not_found"
    EXISTS = "exists"
    FORBIDDEN = "forbidden"
    NO_SPACE = "no_space"
    UNAVAILABLE = "unavailable"  # the service cannot be reached
    INVALID = "invalid"
    OTHER = "other"


class DriverError(Exception):
    """A failure with a message fit for the user: it says what happened and what to do."""

    def __init__(self, problem: Problem, message: str):
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int | None = None
    modified: datetime | None = None
    etag: str | None = None
    mimetype: str | None = None


@dataclass(frozen=True)
class Usage:
    used: int | None
    total: int | None


def clean_path(path: str) -> str:
    """A path inside a space: no '..', no absolute path, no empty or '.' parts."""
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise DriverError(Problem.INVALID, f"'{path}' is not a path inside the space")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DriverError(Problem.INVALID, f"'{path}' leaves the space ('..' is not allowed)")
    return "/".join(parts)


def unreachable(label: str, host: str, error: Exception) -> DriverError:
    """A service that did not answer, in the user's terms (for drivers on requests)."""
    import requests

    reason = ("timed out" if isinstance(error, requests.Timeout) else
              "connection refused" if isinstance(error, requests.ConnectionError) else type(error).__name__)
    return DriverError(Problem.UNAVAILABLE, f"{label} cannot be reached at {host} ({reason}); try again later")


def window(pieces: Iterable[bytes], skip: int = 0, left: int | None = None) -> Iterator[bytes]:
    """The pieces of a stream from byte ``skip`` on, ``left`` bytes at most (None: to the end).

    For servers without Range (or that ignore it): the bytes before are read and dropped.
    """
    for piece in pieces:
        if skip:
            cut = min(skip, len(piece))
            piece, skip = piece[cut:], skip - cut
        if left is not None:
            piece, left = piece[:left], left - min(left, len(piece))
        if piece:
            yield piece
        if left == 0:
            return


def parent_and_name(path: str) -> tuple[str, str]:
    parent, name = posixpath.split(path)
    return parent, name


@dataclass(frozen=True)
class Setting:
    """A setting (never a secret) a space of some kind takes, and how a form asks for it."""

    label: str
    type: Literal["url", "string", "boolean", "integer"] = "string"
    required: bool = False


# Settings every kind takes.
LABEL = Setting("Label")
VERIFY_TLS = Setting("Check the server's TLS certificate", "boolean")


class Driver(ABC):
    """One remote space, with its settings and credentials. Thread-safe per call."""

    kind: ClassVar[str]
    kind_label: ClassVar[str]  # the kind in words, e.g. "WebDAV"
    # What the credentials dialog asks for: field name -> label; secret fields are never shown again.
    credential_fields: ClassVar[dict[str, str]] = {}
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # Kinds whose credentials come from the user's login, not from the user: the login token's
    # name in nbspaces.tokens (e.g. "onedata"); the driver gets {"token": ...}.
    login_token: ClassVar[str | None] = None
    # What a user or admin may set for a space of this kind (not secrets): name -> Setting.
    setting_fields: ClassVar[dict[str, Setting]] = {}

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None):
        self.settings = settings
        self.credentials = credentials or {}

    @abstractmethod
    def check(self) -> None:
        """One real request that proves the settings and credentials work; raises DriverError."""

    @abstractmethod
    def list(self, path: str) -> list[Entry]:
        """The children of a folder, in as few requests as the service allows (one per page)."""

    @abstractmethod
    def stat(self, path: str) -> Entry: ...

    @abstractmethod
    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end] (inclusive, as HTTP Range) in pieces; never the whole file at once."""

    @abstractmethod
    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        """Store a file from pieces. Nothing appears under ``path`` unless every piece arrived."""

    @abstractmethod
    def mkdir(self, path: str) -> None: ...

    @abstractmethod
    def delete(self, path: str) -> None: ...

    @abstractmethod
    def move(self, src: str, dst: str) -> None: ...

    @abstractmethod
    def copy(self, src: str, dst: str) -> None: ...

    def rclone_remote(self) -> dict[str, str] | None:
        """rclone backend options for a POSIX mount of this space, or None if rclone has none.

        Secrets are plain here: the caller obscures them and passes them in rclone's environment.
        """
        return None

    def usage(self) -> Usage:
        """Used and total bytes where the service reports them."""
        return Usage(None, None)

    def close(self) -> None:  # noqa: B027 (optional hook: most drivers hold no connection)
        """Release connections."""
