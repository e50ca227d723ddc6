"""``c.NBSpaces``: the admin's catalog and site settings, read by every nbspaces spawner."""

from __future__ import annotations

from traitlets import Dict, Integer, List, Unicode
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
        return Catalog.parse(self.home, self.shared, need=need, check_sources=check_sources)
