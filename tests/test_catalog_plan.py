"""The catalog's validation and the plan's resolution, with no hub."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nbspaces.catalog import Catalog, CatalogError
from nbspaces.plan import Plan, resolve
from nbspaces.sizes import format_size, kube_quantity, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20GiB", 20 * 2**30), ("20Gi", 20 * 2**30), ("20 GB", 20 * 10**9), ("500MiB", 500 * 2**20),
     (1024, 1024), ("1.5GiB", 3 * 2**29), ("20G", 20 * 10**9)],
)
def test_sizes_as_admins_write_them(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "says"), [("-5GiB", "negative"), ("lots", "cannot read"), ("0", "positive"),
                                            ("20 parsecs", "unknown unit"), (True, "not a size")])
def test_bad_sizes_say_how_to_write_one(text: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_size(text)


def test_size_display() -> None:
    assert format_size(20 * 2**30) == "20 GiB"
    assert format_size(int(3.2 * 2**30)) == "3.2 GiB"
    assert kube_quantity(20 * 2**30) == "20Gi" and kube_quantity(1000) == "1000"


def catalog(**shared: dict) -> Catalog:
    return Catalog.parse({"size": "20GiB", "users": {"big": "50GiB"}, "groups": {"home-100g": "100GiB"}}, shared)


def test_home_size_overrides() -> None:
    home = catalog().home
    assert home.size_for("anyone", []) == 20 * 2**30
    assert home.size_for("x", ["home-100g"]) == 100 * 2**30
    assert home.size_for("big", ["home-100g"]) == 50 * 2**30  # a per-user size wins


def test_every_problem_is_named_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError) as err:
        Catalog.parse(
            {"size": "-1GiB", "colour": "blue"},
            {
                "a": {"source": str(tmp_path), "grups": ["x"], "groups": ["x"]},
                "b": {"groups": ["x"]},
                "c": {"source": str(tmp_path), "groups": {"x": "write"}},
                "d": {"source": str(tmp_path / "missing"), "groups": ["x"]},
                "../e": {"source": str(tmp_path), "groups": ["x"]},
                "f": {"source": "relative/path", "groups": ["x"]},
            },
            need="source",
            check_sources=True,
        )
    text = str(err.value)
    for expected in ("home.size: '-1GiB' is negative", "home: unknown key 'colour'; allowed keys: size, users, groups",
                     "shared.a: unknown key 'grups'", "shared.b: says nowhere where the data lives",
                     "shared.c.groups.x: unknown mode 'write'; allowed modes: ro, rw, off",
                     "does not exist or is not a folder", "'../e' cannot name a folder",
                     "shared.f.source: must be an absolute host path"):
        assert expected in text, text
    assert len(err.value.problems) == 8


def test_kubernetes_needs_volumes() -> None:
    with pytest.raises(CatalogError, match="needs 'volume'"):
        Catalog.parse({}, {"data": {"source": "/srv/data", "groups": ["*"]}}, need="volume")
    ok = Catalog.parse({}, {"data": {"volume": {"nfs": {"server": "nfs", "path": "/x"}}, "groups": ["*"]}},
                       need="volume")
    assert ok.shared["data"].volume == {"nfs": {"server": "nfs", "path": "/x"}}


SHARED = {
    "datasets": {"source": "/srv/datasets", "groups": {"*": "ro"}},
    "climate": {"source": "/srv/climate", "groups": {"climate": "ro", "ocean": "off"}, "users": {"carol": "rw"}},
    "editors": {"source": "/srv/editors", "groups": {"climate": "ro", "climate-editors": "rw"}},
}


def modes(user: str, groups: dict, **kw: object) -> dict[str, str]:
    plan, _ = resolve(catalog(**SHARED), user, groups, isolation="basic", quota_enforced_by="server")
    return {s.name: s.mode for s in plan.spaces}


def test_modes_combine_most_permissive_and_per_user_wins() -> None:
    assert modes("dave", {}) == {"home": "rw", "datasets": "ro"}
    assert modes("bob", {"climate": {}}) == {"home": "rw", "datasets": "ro", "climate": "ro", "editors": "ro"}
    assert modes("eve", {"climate": {}, "climate-editors": {}})["editors"] == "rw"
    assert modes("carol", {})["climate"] == "rw"
    assert "climate" not in modes("olga", {"ocean": {}})  # offered but off


def test_community_admin_settings_apply_to_their_group_only() -> None:
    props = {"nbspaces": {"shared": {"climate": "rw", "datasets": "rw", "nope": "rw", "editors": "sideways"}}}
    plan, problems = resolve(catalog(**SHARED), "bob", {"climate": props}, isolation="basic",
                             quota_enforced_by="server")
    got = {s.name: s.mode for s in plan.spaces}
    assert got["climate"] == "rw"  # their community's folder
    assert got["datasets"] == "ro"  # not offered to the group: ignored
    assert got["editors"] == "ro"  # bad value: ignored
    assert len(problems) == 3 and all("group 'climate'" in p for p in problems)
    # An ocean admin turns on the folder offered to ocean but off.
    on = modes("olga", {"ocean": {"nbspaces": {"shared": {"climate": "ro"}}}})
    assert on["climate"] == "ro"


def test_plan_round_trips_and_holds_no_secret() -> None:
    plan, _ = resolve(catalog(**SHARED), "bob", {"climate": {}}, isolation="strong", quota_enforced_by="filesystem")
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.home.quota_bytes == 20 * 2**30
    assert set(json.loads(plan.to_json())) == {"user", "isolation", "spaces", "user_kinds", "posix",
                                             "posix_reason", "version"}
    with pytest.raises(ValueError, match="different nbspaces versions"):
        Plan.from_json(plan.to_json().replace('"version":1', '"version":99'))


def test_core_imports_no_web_framework() -> None:
    code = ("import sys, nbspaces, nbspaces.catalog, nbspaces.plan, nbspaces.provision, nbspaces.sizes;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tornado','jupyter_server','jupyterhub')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_community_admin_roles_never_collide() -> None:
    from nbspaces.spawner.hub import community_admin_role

    a, b = community_admin_role("Climate", ["x"]), community_admin_role("climate", ["y"])
    assert a["name"] != b["name"]
    assert a["scopes"] == ["groups!group=Climate"] and b["scopes"] == ["groups!group=climate"]


def test_a_user_name_ending_in_a_newline_gets_a_folder_of_its_own() -> None:
    from nbspaces.spawner.local import fs_name

    assert fs_name("alice") == "alice"
    assert fs_name("alice\n") not in ("alice", "alice\n")
    assert "\n" not in fs_name("alice\n")
