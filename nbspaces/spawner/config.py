"""``c.NBSpaces``: the admin's catalog and site settings, read by every nbspaces spawner."""

from __future__ import annotations

from traitlets import Bool, Dict, Integer, List, Unicode
from traitlets.config import Configurable

from ..catalog import Catalog


class NBSpaces(Configurable):
    """The catalog of spaces and the site-wide settings of nbspaces."""

    home = Dict(
        help="""The persistent home of every user.

        Keys: ``size`` (default "20GiB"), ``users`` (user -> size) and ``groups``
        (group -> size; a member gets the largest of their groups' sizes). Example::

            c.NBSpaces.home = {"size": "20GiB", "users": {"alice": "50GiB"},
                               "groups": {"home-100g": "100GiB"}}

        To give someone a bigger home with one REST call, declare a group with a bigger size
        and add the user to it: ``POST /hub/api/groups/home-100g/users``.
        """,
    ).tag(config=True)

    shared = Dict(
        help="""Shared folders: folder name -> settings.

        Keys of a folder: ``source`` (host path, one machine), ``volume`` (a Kubernetes volume
        source such as ``{"persistentVolumeClaim": {"claimName": "climate"}}``), ``sub_path``,
        ``groups`` (group -> "ro" | "rw" | "off", or a list of groups that read; "*" is
        everyone), ``users`` (user -> mode, wins over groups) and ``description``.
        """,
    ).tag(config=True)

    remote = Dict(
        help="""Remote spaces the admins pre-define: space name -> settings.

        Keys: ``kind`` ("webdav", ...), ``mount`` (the top-level folder; default: the name),
        ``groups`` / ``users`` (who gets it, with mode "rw", "ro" or "off", as for shared
        folders), ``description``, and the kind's own settings (webdav: ``url``, ``label``,
        ``verify_tls``). Users add only their credentials. Example::

            c.NBSpaces.remote = {"b2drop": {"kind": "webdav", "label": "B2DROP",
                                 "url": "https://b2drop.eudat.eu/remote.php/webdav",
                                 "groups": {"*": "rw"}}}
        """,
    ).tag(config=True)

    posix_mounts = Bool(
        True,
        help="""Also mount remote spaces as folders (FUSE, with rclone), so any program can open
        their files. On one machine this needs /dev/fuse and fusermount3; on Kubernetes the
        spawner must allow FUSE too (KubeSpaceSpawner.allow_fuse). Without it, remote spaces
        work in the file browser and from the Python API.""",
    ).tag(config=True)

    user_kinds = List(
        Unicode(),
        help="Kinds of remote space users may add themselves, e.g. ['webdav'].",
    ).tag(config=True)

    service_port = Integer(
        0,
        help="""Port of the nbspaces hub service (the credential store keys) on the hub's host.
        0 (the default): the port of service_url when it is set, else a free port chosen at hub
        start. A port another program holds stops the hub at start with a message.""",
    ).tag(config=True)

    service_ip = Unicode(
        "127.0.0.1",
        help="Address the nbspaces hub service listens on (0.0.0.0 when servers run elsewhere, as on Kubernetes).",
    ).tag(config=True)

    service_url = Unicode(
        "",
        help="""The nbspaces service's URL as user servers reach it, ending in /services/nbspaces.
        Default: http://127.0.0.1:<service_port><base_url>services/nbspaces (one machine).
        When it is set and service_port is not, the service listens on this URL's port.""",
    ).tag(config=True)

    secret_file = Unicode(
        "",
        help="""File with the secret the users' credential-store keys derive from (made, 0600,
        if missing). Default: nbspaces_secret beside the hub's cookie secret. Keep it: a new
        secret makes every stored credential unreadable.""",
    ).tag(config=True)

    community_admins = Dict(
        help="""Group -> list of users who manage that group's shared folders at run time.

        Each gets a role scoped to that one group (``groups!group=<name>``), which lets them
        store modes in the group's properties through the JupyterHub REST API.
        """,
    ).tag(config=True)

    oneprovider_host = Unicode(
        "",
        help="The default Oneprovider host, passed to servers as ONEPROVIDER_HOST.",
    ).tag(config=True)

    onedata_token_key = Unicode(
        "onedata_token",
        help="The auth_state key that holds the user's Onedata access token.",
    ).tag(config=True)

    cull_timeout = Integer(
        3600,
        help="Seconds of inactivity after which a server is stopped. 0 turns culling off.",
    ).tag(config=True)

    cull_every = Integer(
        0,
        help="Seconds between culler checks (0: a tenth of cull_timeout, at least 10 s).",
    ).tag(config=True)

    cull_args = List(
        Unicode(),
        help="Extra command-line arguments for jupyterhub-idle-culler.",
    ).tag(config=True)

    def catalog(self, *, need: str | None = None, check_sources: bool = False) -> Catalog:
        """The validated catalog; raises CatalogError naming every wrong key."""
        return Catalog.parse(self.home, self.shared, need=need, check_sources=check_sources,
                             remote=self.remote, user_kinds=self.user_kinds)
