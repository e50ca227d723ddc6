"""What every driver offers: the file operations of one remote kind, blocking, streamed.

Drivers import no web framework. Callers on an event loop run them in threads. Paths are
relative to the space's root, '/'-separated, already checked (see :func:`clean_path`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import posixpath
import re
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry


class Problem(StrEnum):
    """Why a driver call failed, in terms a caller can act on."""

    AUTH = "auth"  # the credentials were refused
    NOT_FOUND = "not_found"
    EXISTS = "exists"
    FORBIDDEN = "forbidden"
    NO_SPACE = "no_space"
    UNAVAILABLE = "unavailable"  # the service cannot be reached
    INVALID = "invalid"
    UNTRUSTED = "untrusted"  # the server is not the one the user trusted (an SSH host key)
    OTHER = "other"


class DriverError(Exception):
    """A failure with a message fit for the user: it says what happened and what to do.

    ``offer``: with UNTRUSTED, the settings that trust the server as it is now (an SSH host
    key), for the user to accept after checking what the message shows (its fingerprint).
    """

    def __init__(self, problem: Problem, message: str, offer: dict[str, str] | None = None):
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.offer = offer


@dataclass(frozen=True)
class RcloneRemote:
    """How ``rclone mount`` reaches a space (its POSIX folder).

    ``options``: the rclone backend's options, secrets in plain (the caller obscures those named
    in ``obscured``, as rclone wants them, and passes every option in rclone's environment, never
    its argv); ``path``: where in the remote the space starts; ``files``: options whose value is
    a file's path, by the file's content (a known_hosts line), written privately by the caller.
    """

    options: dict[str, str]
    path: str = ""
    obscured: frozenset[str] = frozenset()
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    """What a kind can do beyond the contract, so callers choose the fast path."""

    ranged_reads: bool = True  # read(start, end) asks the service for the range only
    server_copy: bool = False  # copy() happens on the service, no bytes through nbspaces
    atomic_rename: bool = False  # move() replaces in one step, never half-done
    usage: bool = False  # usage() reports used and total bytes


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


# The hidden names of files being written ("upload") or moved aside while replaced ("old").
LEFTOVER = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{8}\.nbspaces-(?P<why>upload|old)")


def aside(folder: str, name: str, why: Literal["upload", "old", "move"] = "upload") -> str:
    """A hidden name no one uses, beside ``name`` in ``folder``, for a file being written, replaced
    or (D4Science) moved."""
    return posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.nbspaces-{why}")


def temporary_name(path: str) -> str:
    """The hidden name a write of ``path`` stores under until every byte arrived."""
    folder, name = posixpath.split(path)
    if not name:
        raise DriverError(Problem.INVALID, "a file needs a name")
    return aside(folder, name)


def utc(value: Any) -> datetime | None:
    """A service's time as the contract has them: in UTC (a naive one is taken as UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


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
    reason = ("timed out" if isinstance(error, requests.Timeout) else
              "connection refused" if isinstance(error, requests.ConnectionError) else type(error).__name__)
    return DriverError(Problem.UNAVAILABLE, f"{label} cannot be reached at {host} ({reason}); try again later")


Net = ipaddress.IPv4Network | ipaddress.IPv6Network
# Link-local addresses: cloud metadata services (169.254.169.254, fd00:ec2::254 is not link-local
# but AWS's IPv6 one) answer there with the machine's credentials.
LINK_LOCAL = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")


@dataclass(frozen=True)
class AddressGuard:
    """Which addresses requests to user-given URLs may reach.

    The most specific network that holds an address decides (an allowed 10.1.2.0/24 inside a
    denied 10.0.0.0/8 is reachable); an address in neither list is reachable unless ``allowed``
    lists any network, in which case only those are.
    """

    allowed: tuple[Net, ...] = ()
    denied: tuple[Net, ...] = tuple(ipaddress.ip_network(n) for n in LINK_LOCAL)

    @classmethod
    def parse(cls, allowed: Iterable[str], denied: Iterable[str]) -> AddressGuard:
        """From text (``10.0.0.0/8``, ``::1``); raises ValueError naming a network that is not one."""
        def nets(texts: Iterable[str]) -> tuple[Net, ...]:
            out = []
            for text in texts:
                try:
                    out.append(ipaddress.ip_network(text.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"{text!r} is not a network (e.g. 10.0.0.0/8, fe80::/10, 127.0.0.1)") from None
            return tuple(out)
        return cls(nets(allowed), nets(denied))

    def allows(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        best: tuple[int, bool] | None = None
        for allow, networks in ((True, self.allowed), (False, self.denied)):
            for net in networks:
                if ip.version == net.version and ip in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, allow)
        return best[1] if best is not None else not self.allowed

    def check(self, host: str, address: str) -> None:
        if not self.allows(address):
            raise DriverError(Problem.INVALID, f"{host} is at {address}, which your admins do not let spaces you "
                                               "add reach; use another address or ask your admins")

    def check_resolved(self, host: str, port: int, shown: str | None = None) -> None:
        """Every address ``host`` resolves to now, checked (blocking: DNS); ``shown`` names it in the
        message. A name that does not resolve passes: the connection that follows says so."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return
        for info in infos:
            self.check(shown or host, str(info[4][0]))


@dataclass(frozen=True)
class Network:
    """How a driver reaches its service: timeouts (seconds), and for user-given addresses a guard."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    guard: AddressGuard | None = None

    @property
    def timeout(self) -> tuple[float, float]:
        return self.connect_timeout, self.read_timeout


def _checked_connection(base: type[HTTPConnection], guard: AddressGuard) -> type[HTTPConnection]:
    """A connection class that resolves the host, checks every address, and checks the address it
    actually connected to (a name that resolves anew between the two, DNS rebinding, is caught)."""

    class Checked(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            guard.check_resolved(self._dns_host, self.port, self.host)
            sock = super()._new_conn()
            try:
                guard.check(self.host, sock.getpeername()[0])
            except DriverError:
                sock.close()
                raise
            return sock

    return Checked


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: AddressGuard, **kwargs: Any):
        self._guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        pools = {}
        for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool)):
            conn = _checked_connection(pool.ConnectionCls, self._guard)  # type: ignore[arg-type]
            pools[scheme] = type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": conn})
        self.poolmanager.pool_classes_by_scheme = pools


class _SameOriginSession(requests.Session):
    """Follows a redirect only to the same scheme, host and port: another would reach an address
    the guard has not seen for this space, and take the user's credentials along."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            here, there = urlsplit(resp.url), urlsplit(urljoin(resp.url, target))
            if (here.scheme, here.hostname, here.port) != (there.scheme, there.hostname, there.port):
                resp.close()
                raise DriverError(Problem.INVALID, f"{here.scheme}://{here.netloc} redirects to another server "
                                                   f"({there.scheme}://{there.netloc}), which spaces you add do "
                                                   "not follow; use that address instead")
        return target


def http_session(network: Network, retries: Retry | int = 0) -> requests.Session:
    """A requests session for a driver: user-given addresses (a guard) are checked at each connection
    and redirected only within the same server."""
    if network.guard is None:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retries)
    else:
        session = _SameOriginSession()
        adapter = _GuardedAdapter(network.guard, max_retries=retries)
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return session


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


FieldType = Literal["url", "string", "password", "integer", "boolean", "select", "secret"]


@dataclass(frozen=True)
class Field:
    """A setting or credential a kind takes, and how the Data panel, the CLI and the OpenAPI
    file ask for it. ``password`` is a one-line secret, ``secret`` a multi-line one (an SSH
    private key); secrets are credentials only, never settings, and never shown again."""

    label: str
    type: FieldType = "string"
    required: bool = False
    help: str = ""  # a line under the field: what to give, where to find it
    link: str = ""  # where to get the value (a service's page for app passwords)
    choices: tuple[str, ...] = ()  # select only
    minimum: int | None = None  # integers only
    maximum: int | None = None
    default: str | int | bool | None = None  # what the driver uses when the value is not given

    @property
    def secret(self) -> bool:
        return self.type in ("password", "secret")

    def describe(self, name: str) -> dict[str, Any]:
        """As the REST API sends it to forms."""
        out: dict[str, Any] = {"name": name, "label": self.label, "type": self.type, "required": self.required,
                               "secret": self.secret, "help": self.help, "link": self.link, "default": self.default}
        if self.type == "select":
            out["choices"] = list(self.choices)
        if self.type == "integer":
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        return out


# Fields many kinds take.
LABEL = Field("Label", help="The name the Data panel shows")
USERNAME = Field("User name", required=True)
PASSWORD = Field("Password", "password", required=True)
VERIFY_TLS = Field("Check the server's TLS certificate", "boolean", default=True)


class Driver(ABC):
    """One remote space, with its settings and credentials. Thread-safe per call.

    The contract every kind keeps (tests/test_driver_contract.py runs it against each):

    - Paths are relative to the space's root, '/'-separated, already cleaned (:func:`clean_path`);
      "" is the root. Names are names: any character the service allows round-trips; one it
      does not allow is refused with INVALID naming the character, and nothing is made.
    - Errors are :class:`DriverError` with a message for the user and a :class:`Problem`:
      NOT_FOUND (what the call names does not exist, or the folder it goes into), EXISTS (the
      target of mkdir, move or copy is taken: nothing is overwritten), FORBIDDEN (the service
      refuses this operation here), AUTH (the credentials are refused: the space needs new
      ones), UNAVAILABLE (the service cannot be reached or timed out: try again later), NO_SPACE
      (its quota is full), INVALID (bad settings or a name it cannot hold), UNTRUSTED (the
      server is not the one the user trusted), OTHER. Only AUTH and UNAVAILABLE say something
      about the whole space.
    - A refused call changes nothing.
    """

    kind: ClassVar[str]
    kind_label: ClassVar[str]  # the kind in words, e.g. "WebDAV"
    # What the credentials dialog asks for, in order; secret fields are never shown again.
    credential_fields: ClassVar[dict[str, Field]] = {}
    # Kinds whose credentials come from the user's login, not from the user: the login token's
    # name in nbspaces.tokens (e.g. "onedata"); the driver gets {"token": ...}.
    login_token: ClassVar[str | None] = None
    # What a user or admin may set for a space of this kind (never secrets), in order.
    setting_fields: ClassVar[dict[str, Field]] = {}

    # What callers may rely on to choose a fast path.
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: dict[str, Any], credentials: dict[str, str] | None, network: Network | None = None):
        self.settings = settings
        self.credentials = credentials or {}
        self.network = network or Network()

    @classmethod
    def fields_for(cls, settings: dict[str, Any]) -> dict[str, Field]:
        """The credential fields for a space with these settings (a Nextcloud asks for an app
        password, and says where to make one)."""
        return cls.credential_fields

    @classmethod
    def check_credentials(cls, values: dict[str, Any]) -> None:
        """The kind's rules across credential fields (SFTP: a password or a private key);
        raises DriverError(INVALID) saying what to give. Most kinds have none."""
        return

    @abstractmethod
    def check(self) -> None:
        """One real request that proves the settings and credentials work; raises DriverError."""

    @abstractmethod
    def list(self, path: str) -> list[Entry]:
        """The children of a folder, in as few requests as the service allows (one per page)."""

    @abstractmethod
    def stat(self, path: str) -> Entry:
        """One file or folder; the root is a folder named ""."""

    @abstractmethod
    def read(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end] (inclusive, as HTTP Range) in pieces; never the whole file at once."""

    @abstractmethod
    def write(self, path: str, chunks: Iterable[bytes], size: int | None = None) -> None:
        """Store a file from pieces (``size``: their total, when known), in bounded memory.

        Nothing appears under ``path`` unless every piece arrived; an existing file is replaced
        only once the new one is complete, and at every moment one whole version has the name.
        A failure of the pieces (an upload abandoned) or of the service leaves no partial file
        under any name: a temporary name left by a killed process is removed by
        :meth:`clean_uploads`. The folder must exist (NOT_FOUND otherwise).
        """

    @abstractmethod
    def mkdir(self, path: str) -> None:
        """One new folder in an existing one; EXISTS if anything has the name."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything in it, for good where the service has
        no trash, or into its trash where it keeps one (D4Science); never the root."""

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Rename or move a file or folder within the space; EXISTS if ``dst`` is taken
        (nothing is overwritten), NOT_FOUND if ``src`` or the folder of ``dst`` is missing."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copy a file or a whole folder within the space, on the service where it can
        (``capabilities.server_copy``); the same refusals as :meth:`move`."""

    def replace(self, temp: str, path: str) -> None:
        """Give the complete file ``temp`` the name ``path``, through the contract's own calls. An
        existing ``path`` is first moved aside, and put back if the last move fails: at every
        moment one whole version has the name. Kinds whose rename replaces in one step use it."""
        if not self.exists(path):
            self.move(temp, path)
            return
        old = aside(*posixpath.split(path), why="old")
        self.move(path, old)
        try:
            self.move(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.move(old, path)
            raise
        with contextlib.suppress(Exception):
            self.delete(old)

    def exists(self, path: str) -> bool:
        """Whether anything is at ``path``: a stat, unless a kind has a cheaper question."""
        try:
            self.stat(path)
        except DriverError as e:
            if e.problem is Problem.NOT_FOUND:
                return False
            raise
        return True

    def rclone_remote(self) -> RcloneRemote | None:
        """How rclone mounts this space as a folder, or None if rclone has no backend for it."""
        return None

    def clean_uploads(self, folder: str, name: str | None = None, older_than: float = 0) -> None:
        """Tidy what interrupted writes left in ``folder`` (a process killed mid-upload leaves its
        temporary file, named by :func:`aside`): those of ``name`` only, or any not modified for
        ``older_than`` seconds. An unfinished upload is deleted; a version moved aside by a
        replace that was cut off takes its name back if nothing has it, and is deleted otherwise.
        Best effort, through the contract's own calls; kinds whose writes leave nothing
        (atomic object stores) find nothing."""
        now = datetime.now(UTC)
        try:
            entries = self.list(folder)
        except DriverError:
            return
        for entry in entries:
            match = LEFTOVER.fullmatch(entry.name)
            if match is None or entry.is_dir or (name is not None and match["name"] != name):
                continue
            if older_than and (entry.modified is None or (now - entry.modified).total_seconds() < older_than):
                continue
            left, target = posixpath.join(folder, entry.name), posixpath.join(folder, match["name"])
            with contextlib.suppress(DriverError):
                if match["why"] == "old" and not self.exists(target):
                    self.move(left, target)
                else:
                    self.delete(left)

    def usage(self) -> Usage:
        """Used and total bytes where the service reports them."""
        return Usage(None, None)

    def close(self) -> None:  # noqa: B027 (optional hook: most drivers hold no connection)
        """Release connections."""


SETTING_MAX = 1024  # bytes of a setting's text (an address, a label) or of a user name
SECRET_MAX = 8 * 1024  # bytes of a secret (a password, a token)


def _described(value: Any) -> str:
    """A JSON value in words, for messages (never the value of a secret)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", list: "a list", dict: "an object"}.get(type(value), "nothing (null)")


def _check_text(name: str, value: Any, limit: int, one_line: bool) -> str:
    if not isinstance(value, str):
        raise DriverError(Problem.INVALID, f"{name} must be text, not {_described(value)}")
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise DriverError(Problem.INVALID, f"{name} must be at most {limit} bytes")
    if one_line and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise DriverError(Problem.INVALID, f"{name} must be one line of text (no line breaks or control characters)")
    return value


def _check_value(name: str, field: Field, value: Any) -> Any:
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise DriverError(Problem.INVALID, f"{name} must be true or false, not {_described(value)}")
        return value
    if field.type == "integer":
        lo, hi = field.minimum, field.maximum
        span = (f" from {lo} to {hi}" if lo is not None and hi is not None else f" of at least {lo}" if lo is not None
                else f" of at most {hi}" if hi is not None else "")
        if isinstance(value, bool) or not isinstance(value, int):
            shown = str(value) if isinstance(value, float) else _described(value)
            raise DriverError(Problem.INVALID, f"{name} must be a whole number{span}, not {shown}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise DriverError(Problem.INVALID, f"{name} must be{span}, not {value}")
        return value
    text = _check_text(name, value, SECRET_MAX if field.secret else SETTING_MAX, one_line=field.type != "secret")
    if field.type == "select" and text not in field.choices:
        raise DriverError(Problem.INVALID, f"{name} must be one of {', '.join(field.choices)}")
    if field.type == "url":
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise DriverError(Problem.INVALID, f"{name} must start with http:// or https://")
        if not parts.hostname:
            raise DriverError(Problem.INVALID, f"{name} must name a host, as in https://example.org/dav")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise DriverError(Problem.INVALID, f"{name} must have a port from 1 to 65535, or none")
        if parts.username is not None or parts.password is not None:
            raise DriverError(Problem.INVALID, f"{name} must not hold a user name or password; give them as "
                                               "credentials")
    return text


def check_fields(cls: type[Driver], values: Any, credentials: bool = False, partial: bool = False) -> dict[str, Any]:
    """A space's settings (or, with ``credentials``, its credentials), each checked against what its
    kind declares: known fields, types, sizes, ranges, choices, addresses, required ones present,
    and the kind's own rules across fields. Raises DriverError(INVALID) with a message that names
    the field and says what it takes. Empty and null values are left out (defaults); ``partial``:
    only the fields given are checked (what a user accepts)."""
    what = "credentials" if credentials else "settings"
    if not isinstance(values, dict):
        raise DriverError(Problem.INVALID, f"The {what} must be an object, not {_described(values)}")
    fields = cls.credential_fields if credentials else cls.setting_fields
    unknown = sorted(str(k) for k in set(values) - set(fields))
    if unknown:
        raise DriverError(Problem.INVALID, f"Unknown {'fields' if credentials else what}: {', '.join(unknown)}; "
                                           f"{cls.kind} takes {', '.join(fields)}")
    checked: dict[str, Any] = {}
    missing: list[str] = []
    for key, spec in fields.items():
        value, name = values.get(key), f"'{key}' ({spec.label})"
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required and not partial:
                missing.append(spec.label)
            continue
        checked[key] = _check_value(name, spec, value)
    if missing:
        raise DriverError(Problem.INVALID, f"Please give: {', '.join(missing)}")
    if credentials and not partial:
        cls.check_credentials(checked)
    return checked


def check_addresses(cls: type[Driver], settings: dict[str, Any], guard: AddressGuard) -> None:
    """The addresses of the URL settings' hosts, checked now (each connection is checked again)."""
    for key, setting in cls.setting_fields.items():
        if setting.type == "url" and isinstance(settings.get(key), str):
            parts = urlsplit(settings[key])
            if parts.hostname:
                guard.check_resolved(parts.hostname, parts.port or 443)
