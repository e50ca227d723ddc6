"""KubeSpaceSpawner renders what an operator expects, and Kubernetes 1.31 accepts it.

No cluster: KubeSpawner(_mock=True) only needs a kubeconfig to load. Every pod and PVC
manifest is validated with kubernetes-validate in strict mode.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from nbspaces.catalog import CatalogError
from nbspaces.plan import Plan
from nbspaces.spawner import configure_hub
from nbspaces.spawner.kube import HOME_VOLUME, KubeSpaceSpawner

K8S_VERSION = "1.31.0"
# Every test here: KubeSpawner loads the dummy kubeconfig of tests/conftest.py.
pytestmark = pytest.mark.usefixtures("kubeconfig")


@dataclass
class Group:
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


class User:
    """Stand-in for the hub's User model: only the attributes spawners read."""

    def __init__(self, name: str, uid: int, groups: list[Group]):
        self.name = name
        self.id = uid
        self.groups = groups
        self.escaped_name = name
        self.url = f"/user/{name}/"


def make_config() -> Config:
    c = Config()
    c.NBSpaces.home = {
        "size": "20GiB",
        "users": {"bigdata": "50GiB"},
        "groups": {"home-100g": "100GiB"},
    }
    c.NBSpaces.shared = {
        "datasets": {
            "volume": {"nfs": {"server": "nfs.example.org", "path": "/exports/datasets"}},
            "groups": {"*": "ro"},
        },
        "climate": {
            "volume": {"persistentVolumeClaim": {"claimName": "climate-data"}},
            "groups": {"climate": "rw", "ocean": "ro"},
            # '$(...)' and braces must reach the server literally.
            "description": "Model runs; costs $(HOME) {not a template}",
        },
        "campaign": {
            "volume": {"persistentVolumeClaim": {"claimName": "campaigns"}},
            "sub_path": "2024/{spring}",
            "groups": {"*": "ro"},
        },
    }
    c.NBSpaces.oneprovider_host = "oneprovider.example.org"
    # The admin's own volume, in dict form.
    c.KubeSpawner.volumes = {"scratch": {"name": "scratch", "emptyDir": {}}}
    c.KubeSpawner.volume_mounts = {"scratch": {"name": "scratch", "mountPath": "/scratch"}}
    return c


def spawner_for(name: str, *groups: str | Group, config: Config | None = None, uid: int = 1) -> KubeSpaceSpawner:
    user = User(name, uid, [g if isinstance(g, Group) else Group(g) for g in groups])
    return KubeSpaceSpawner(_mock=True, user=user, config=config or make_config())


def validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, desired_version=K8S_VERSION, strict=True)


async def render(spawner: KubeSpaceSpawner) -> tuple[dict[str, Any], dict[str, Any]]:
    """Prepare, build and validate the pod and PVC manifests; return them as JSON dicts."""
    await spawner.nbspaces_prepare()
    async with ApiClient() as api:
        pod = api.sanitize_for_serialization(await spawner.get_pod_manifest())
        pvc = api.sanitize_for_serialization(spawner.get_pvc_manifest())
    validate(pod)
    validate(pvc)
    return pod, pvc


def volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod["spec"].get("volumes", [])}


def mounts(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in pod["spec"]["containers"][0].get("volumeMounts", [])}


def env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}


def plan_of(pod: dict[str, Any]) -> Plan:
    # The env value is escaped for Kubernetes' $(VAR) expansion: '$$' reads as '$'.
    return Plan.from_json(env(pod)["NBSPACES_PLAN"].replace("$$", "$"))


async def test_validation_catches_a_broken_manifest() -> None:
    pod, pvc = await render(spawner_for("alice", "climate"))
    broken = copy.deepcopy(pod)
    broken["spec"]["containers"][0]["volumeMounts"][0]["readOnlyy"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    broken = copy.deepcopy(pvc)
    broken["spec"]["resources"]["requests"]["storage"] = {"size": "20Gi"}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


@pytest.mark.parametrize(
    ("name", "groups", "size"),
    [
        ("alice", ["climate"], "20Gi"),
        ("bigdata", ["climate", "home-100g"], "50Gi"),  # the per-user size wins
        ("hana", ["ocean", "home-100g"], "100Gi"),
    ],
)
async def test_home_pvc_size_and_mount(name: str, groups: list[str], size: str) -> None:
    spawner = spawner_for(name, *groups)
    pod, pvc = await render(spawner)
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert pvc["metadata"]["name"] == spawner.pvc_name == f"claim-{name}"
    assert pvc["spec"]["resources"]["requests"]["storage"] == size
    assert spawner.storage_pvc_ensure is True
    assert volumes(pod)[HOME_VOLUME]["persistentVolumeClaim"] == {"claimName": spawner.pvc_name}
    assert mounts(pod)[HOME_VOLUME]["mountPath"] == "/home/jovyan"
    assert plan_of(pod).home.quota_bytes == int(size[:-2]) * 2**30


async def test_shared_folder_modes_per_user() -> None:
    alice, _ = await render(spawner_for("alice", "climate"))
    olaf, _ = await render(spawner_for("olaf", "ocean"))
    nina, _ = await render(spawner_for("nina"))
    for pod in (alice, olaf, nina):
        datasets = mounts(pod)["shared-datasets"]
        assert datasets["mountPath"] == "/home/jovyan/datasets"
        assert datasets["readOnly"] is True
        assert volumes(pod)["shared-datasets"]["nfs"] == {"server": "nfs.example.org", "path": "/exports/datasets"}
    assert mounts(alice)["shared-climate"]["readOnly"] is False
    assert mounts(alice)["shared-climate"]["mountPath"] == "/home/jovyan/climate"
    assert mounts(olaf)["shared-climate"]["readOnly"] is True
    # The source is shared with writers: it is never made read-only itself.
    assert volumes(olaf)["shared-climate"]["persistentVolumeClaim"] == {"claimName": "climate-data"}
    assert "shared-climate" not in mounts(nina)
    assert "shared-climate" not in volumes(nina)
    assert plan_of(nina).space("climate") is None
    assert plan_of(olaf).space("climate").mode == "ro"  # type: ignore[union-attr]


async def test_community_admin_makes_folder_writable() -> None:
    ocean = Group("ocean", {"nbspaces": {"shared": {"climate": "rw"}}})
    pod, _ = await render(spawner_for("olaf", ocean))
    assert mounts(pod)["shared-climate"]["readOnly"] is False
    assert plan_of(pod).space("climate").mode == "rw"  # type: ignore[union-attr]


async def test_reused_spawner_drops_a_folder_turned_off() -> None:
    ocean = Group("ocean")
    spawner = spawner_for("olaf", ocean)
    pod, _ = await render(spawner)
    assert "shared-climate" in mounts(pod)
    ocean.properties = {"nbspaces": {"shared": {"climate": "off"}}}
    pod, _ = await render(spawner)
    assert "shared-climate" not in mounts(pod)
    assert "shared-climate" not in volumes(pod)
    assert {"scratch", HOME_VOLUME, "shared-datasets"} <= mounts(pod).keys()


async def test_sub_path_and_braces_are_literal() -> None:
    pod, _ = await render(spawner_for("alice", "climate"))
    campaign = mounts(pod)["shared-campaign"]
    assert campaign["subPath"] == "2024/{spring}"
    assert campaign["mountPath"] == "/home/jovyan/campaign"
    assert campaign["readOnly"] is True
    assert "subPath" not in mounts(pod)["shared-datasets"]
    assert plan_of(pod).space("climate").description == "Model runs; costs $(HOME) {not a template}"  # type: ignore[union-attr]


async def test_admin_volumes_stay() -> None:
    pod, _ = await render(spawner_for("alice", "climate"))
    assert volumes(pod)["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert mounts(pod)["scratch"]["mountPath"] == "/scratch"
    assert set(volumes(pod)) == {"scratch", HOME_VOLUME, "shared-datasets", "shared-climate", "shared-campaign"}


async def test_admin_volumes_in_list_form_stay() -> None:
    c = make_config()
    c.KubeSpawner.volumes = [{"name": "tools", "configMap": {"name": "tools"}}]
    c.KubeSpawner.volume_mounts = [
        {"name": "tools", "mountPath": "/opt/tools/a", "subPath": "a"},
        {"name": "tools", "mountPath": "/opt/tools/b", "subPath": "b"},
    ]
    pod, _ = await render(spawner_for("alice", "climate", config=c))
    assert volumes(pod)["tools"]["configMap"] == {"name": "tools"}
    paths = [m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
    assert paths[:2] == ["/opt/tools/a", "/opt/tools/b"]
    assert "/home/jovyan" in paths


async def test_profile_override_merges_into_our_volumes() -> None:
    c = make_config()
    c.KubeSpawner.profile_list = [
        {
            "display_name": "GPU",
            "kubespawner_override": {"volumes": {"gpu-cache": {"name": "gpu-cache", "emptyDir": {}}}},
        }
    ]
    spawner = spawner_for("alice", "climate", config=c)
    await spawner.nbspaces_prepare()
    # What KubeSpawner's start does before it builds the pod.
    await spawner.load_user_options()
    async with ApiClient() as api:
        pod = api.sanitize_for_serialization(await spawner.get_pod_manifest())
    validate(pod)
    assert {"gpu-cache", "scratch", HOME_VOLUME, "shared-climate"} <= volumes(pod).keys()


async def test_fs_group_and_storage_settings() -> None:
    pod, pvc = await render(spawner_for("alice", "climate"))
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    assert "storageClassName" not in pvc["spec"]
    c = make_config()
    c.KubeSpawner.fs_gid = 1000
    c.KubeSpawner.storage_class = "standard-rwo"
    c.KubeSpaceSpawner.home_mount_path = "/home/{username}"
    c.KubeSpaceSpawner.home_quota_enforced_by = "filesystem"
    pod, pvc = await render(spawner_for("alice", "climate", config=c))
    assert pod["spec"]["securityContext"]["fsGroup"] == 1000
    assert pvc["spec"]["storageClassName"] == "standard-rwo"
    assert mounts(pod)[HOME_VOLUME]["mountPath"] == "/home/alice"
    assert mounts(pod)["shared-climate"]["mountPath"] == "/home/alice/climate"
    home = plan_of(pod).home
    assert home.quota_enforced_by == "filesystem"
    assert plan_of(pod).isolation == "kubernetes"


async def test_env_holds_the_plan_and_only_the_users_own_token() -> None:
    spawner = spawner_for("alice", "climate")
    pod, _ = await render(spawner)
    values = env(pod)
    assert "ONECLIENT_ACCESS_TOKEN" not in values
    assert values["ONEPROVIDER_HOST"] == "oneprovider.example.org"
    plan = plan_of(pod)
    assert plan.user == "alice"
    assert [(s.name, s.kind, s.mode) for s in plan.spaces] == [
        ("home", "home", "rw"),
        ("campaign", "shared", "ro"),
        ("climate", "shared", "rw"),
        ("datasets", "shared", "ro"),
    ]

    await spawner.run_auth_state_hook(
        {"onedata_token": "tok", "access_token": "secret-access", "refresh_token": "secret-refresh"}
    )
    pod, _ = await render(spawner)
    values = env(pod)
    assert values["ONECLIENT_ACCESS_TOKEN"] == "tok"
    assert "tok" not in values["NBSPACES_PLAN"]
    text = json.dumps(pod)
    assert "secret-" not in text
    assert text.count('"tok"') == 1


async def test_start_requires_a_valid_catalog() -> None:
    c = make_config()
    c.NBSpaces.shared = {"scratch": {"source": "/srv/scratch", "groups": {"*": "rw"}}}
    spawner = spawner_for("alice", config=c)
    with pytest.raises(CatalogError, match="needs 'volume'"):
        await spawner.start()


async def test_pod_needs_a_plan() -> None:
    with pytest.raises(RuntimeError, match="nbspaces_prepare"):
        await spawner_for("alice").get_pod_manifest()


async def test_one_settings_object_per_spawner() -> None:
    spawner = spawner_for("alice")
    assert spawner.nbspaces is spawner.nbspaces
    assert spawner.nbspaces is not spawner_for("bob").nbspaces


class SiteSpawner(KubeSpaceSpawner):
    """A site's own subclass: its name says nothing about Kubernetes."""


def test_configure_hub_asks_the_spawner_not_its_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = make_config()  # shared folders with only a Kubernetes volume, no host path
    c.JupyterHub.spawner_class = SiteSpawner
    c.NBSpaces.secret_file = str(tmp_path / "nbspaces_secret")
    with caplog.at_level(logging.WARNING, logger="JupyterHub"):
        configure_hub(c)  # a wrong catalog would stop the hub (SystemExit)
    assert "nbspaces isolation: kubernetes." in caplog.text
