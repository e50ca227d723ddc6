"""The Kubernetes spawner: nbspaces on KubeSpawner.

The same catalog, plan and provisioning logic as the local spawner; this module only
translates :func:`nbspaces.provision.placements` into Kubernetes objects:

- the home is a per-user PVC (KubeSpawner's ``storage_pvc_ensure``) sized by the plan's
  home quota and mounted at ``home_mount_path``;
- each shared folder of the plan is one volume from the catalog's ``volume`` source,
  mounted under the home, with ``readOnly`` on the volumeMount where the user may only read
  (the volume source stays writable: users who may write share it).

Volumes and mounts are set in KubeSpawner's dict form, merged with the admin's own, so
``kubespawner_override`` of a profile merges into them instead of replacing them. The home
size comes from ``c.NBSpaces.home``: ``storage_capacity`` is overwritten at every spawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Bool, Enum, Unicode, default

from ..plan import Plan
from ..provision import Placement, dns_label, placements
from ..sizes import kube_quantity
from .base import SpacesMixin

HOME_VOLUME = "nbspaces-home"
# docker-stacks images run as jovyan in group "users" (gid 100).
USERS_GID = 100


class KubeSpaceSpawner(SpacesMixin, KubeSpawner):
    """Spawns a pod per server with a home PVC and the user's shared folders as volumes."""

    isolation = "kubernetes"
    catalog_need = "volume"
    check_sources = False

    allow_fuse = Bool(
        False,
        help="""Let servers mount remote spaces as folders with FUSE (rclone). The pod then needs
        the /dev/fuse device; without it remote spaces stay in the file browser and Python API.""",
    ).tag(config=True)

    @property
    def posix_allowed(self) -> bool:  # type: ignore[override]
        return bool(self.allow_fuse)

    home_quota_enforced_by = Enum(
        ["filesystem", "server"],
        default_value="server",
        help="""Who enforces the home quota, as the plan tells the user's server.

        'server' (default): the server's contents manager refuses uploads and saves past the
        quota. Many storage classes (NFS provisioners, hostPath, local-path) do not enforce
        a PVC's requested size, so a PVC alone is no quota there.
        'filesystem': the storage class enforces the PVC size (e.g. block-backed volumes).
        A PVC is never resized by nbspaces: a quota raised after the home was made needs a
        storage class with allowVolumeExpansion and a resize by the admin.
        """,
    ).tag(config=True)

    home_mount_path = Unicode(
        "/home/jovyan",
        help="""Where the home PVC is mounted in the pod; shared folders appear under it.

        KubeSpawner templates such as ``{username}`` are expanded. The default matches the
        home and working directory of the docker-stacks images.
        """,
    ).tag(config=True)

    _nbspaces_plan: Plan | None = None
    # The volume (and volumeMount) keys the last prepare added, removed by the next one so
    # a folder turned off since then does not linger on a reused spawner.
    _nbspaces_keys: frozenset[str] = frozenset()

    @property
    def quota_enforced_by(self) -> str:
        return self.home_quota_enforced_by

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self) -> bool:
        return True

    @default("fs_gid")
    def _default_fs_gid(self) -> int:
        return USERS_GID

    async def nbspaces_prepare(self) -> Plan:
        """Resolve this user's plan and set the PVC size, volumes, mounts and environment.

        ``start`` calls it first; call it yourself to render manifests without starting.
        Raises CatalogError when the catalog is wrong.
        """
        catalog = self.nbspaces_catalog()
        plan = self.resolve_plan(catalog)
        volumes, volume_mounts = self._nbspaces_volumes(placements(plan, catalog))
        self.volumes = self._merge("volumes", self.volumes, volumes)
        self.volume_mounts = self._merge("volume_mounts", self.volume_mounts, volume_mounts)
        self._nbspaces_keys = frozenset(volumes)
        assert plan.home.quota_bytes is not None
        self.storage_capacity = kube_quantity(plan.home.quota_bytes)
        self._nbspaces_plan = plan
        return plan

    async def start(self) -> Any:
        await self.nbspaces_prepare()
        return await super().start()

    def get_env(self) -> dict[str, Any]:
        if self._nbspaces_plan is None:
            raise RuntimeError("nbspaces: call nbspaces_prepare() before building the pod")
        env = super().get_env()
        # Kubernetes expands $(VAR) in env values; '$$' keeps a '$' literal.
        env.update({k: v.replace("$", "$$") for k, v in self.nbspaces_env(self._nbspaces_plan).items()})
        return env

    def _nbspaces_volumes(self, placed: Iterable[Placement]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Volumes and volumeMounts keyed by volume name; the home key sorts first."""
        base = self.home_mount_path.rstrip("/")
        volumes: dict[str, Any] = {}
        volume_mounts: dict[str, Any] = {}
        for m in placed:
            if m.kind == "home":
                # KubeSpawner expands {pvc_name} to the PVC it ensures.
                volumes[HOME_VOLUME] = {"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
                volume_mounts[HOME_VOLUME] = {"name": HOME_VOLUME, "mountPath": self.home_mount_path}
                continue
            assert m.volume is not None  # the catalog requires a volume on Kubernetes
            name = dns_label("shared", m.space)
            volumes[name] = {"name": name, **_literal(dict(m.volume))}
            mount: dict[str, Any] = {
                "name": name,
                "mountPath": f"{base}/{_literal(m.target)}",
                "readOnly": m.read_only,
            }
            if m.sub_path:
                mount["subPath"] = _literal(m.sub_path)
            volume_mounts[name] = mount
        return volumes, volume_mounts

    def _merge(self, trait: str, current: Any, ours: Mapping[str, Any]) -> dict[str, Any]:
        """The admin's entries (list or dict form) plus ours, as a new dict."""
        if isinstance(current, Mapping):
            merged = dict(current)
        else:
            # Zero-padded keys keep a list's order: KubeSpawner sorts dict values by key.
            merged = {f"{i:04d}-{item.get('name', '')}": item for i, item in enumerate(current or [])}
        for key in self._nbspaces_keys:
            merged.pop(key, None)
        for key in ours.keys() & merged.keys():
            self.log.warning("nbspaces: %s[%r] is replaced by nbspaces' own entry", trait, key)
        merged.update(ours)
        return merged


def _literal(value: Any) -> Any:
    """Escape braces in catalog strings: KubeSpawner formats every string of a volume."""
    if isinstance(value, str):
        return value.replace("{", "{{").replace("}", "}}")
    if isinstance(value, Mapping):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value
