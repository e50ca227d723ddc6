"""The Helm chart (helm/nbspaces): what it renders, what it refuses, and the hub it configures.

A real `helm` (installed by `make deps` into .tools/) lints and renders the chart for several
value sets; every manifest must pass kubernetes-validate --strict for Kubernetes 1.31. The hub
config the chart renders is loaded in-process (FUSE variants, cheap) and by a real JupyterHub
process that spawns against a stand-in Kubernetes API (tests/kube_standin.py), which records the
PVC and pod KubeSpawner sends for a member of each community.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import requests
import yaml

from tests.kube_standin import KubeStandin
from tests.realhub import ROOT, free_port, stop_process, wait_http
from tests.waiting import wait_until

HELM = ROOT / ".tools" / "helm"
CHART = ROOT / "helm" / "nbspaces"
K8S_VERSION = "1.31.0"
RELEASE, NAMESPACE = "site", "notebooks"
FULLNAME = f"{RELEASE}-nbspaces"

# Secret values given to the chart: none may appear in a ConfigMap or a pod spec.
DB_URL = "postgresql://hub:db-Pa55word-9d1e@db.example.org:5432/hub"
CLIENT_SECRET = "oidc-client-secret-5c1f7a"
CRYPT_KEY = "ab" * 32
COOKIE_SECRET = "cd" * 32
NBSPACES_SECRET = "ef" * 32
PROXY_TOKEN = "proxy-token-0123456789abcdef0123456789"

COMMUNITIES: dict[str, Any] = {
    "hub": {"loadGroups": {"climate": ["alice"], "ocean": ["olaf"]}},
    "nbspaces": {
        "home": {"size": "20Gi", "storageClass": "standard-rwo", "groups": {"home-100g": "100Gi"}},
        "shared": {
            "datasets": {
                "volume": {"nfs": {"server": "nfs.example.org", "path": "/exports/datasets"}},
                "groups": {"*": "ro"},
                "description": "Reference data",
            },
            "climate-data": {
                "volume": {"persistentVolumeClaim": {"claimName": "climate-data"}},
                "groups": {"climate": "rw", "ocean": "ro"},
            },
            "ocean-data": {
                "volume": {"hostPath": {"path": "/srv/ocean", "type": "Directory"}},
                "subPath": "cruises",
                "groups": {"ocean": "rw"},
            },
        },
        "communityAdmins": {"climate": ["alice"], "ocean": ["olaf"]},
        "oneproviderHost": "oneprovider.example.org",
    },
    "ingress": {"enabled": True, "host": "notebooks.example.org", "tlsSecret": "notebooks-tls"},
}
FUSE = {"nbspaces": {"allowFuse": True}}
FUSE_PLUGIN = {"nbspaces": {"allowFuse": True, "fuse": {"resourceName": "smarter-devices/fuse",
                                                        "appArmorUnconfined": False}}}
EXTERNAL_DB = {
    "hub": {"db": {"type": "postgres", "url": DB_URL}, "cryptKey": CRYPT_KEY, "cookieSecret": COOKIE_SECRET,
            "nbspacesSecret": NBSPACES_SECRET},
    "proxy": {"secretToken": PROXY_TOKEN, "service": {"type": "LoadBalancer"}},
    "auth": {"type": "checkin", "checkin": {
        "clientId": "nbspaces-hub", "clientSecret": CLIENT_SECRET,
        "callbackUrl": "https://notebooks.example.org/hub/oauth_callback",
        "allowedEntitlements": ["urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu"]}},
}
EXISTING_SECRETS = {
    "hub": {"db": {"type": "postgres", "existingSecret": {"name": "hub-db", "key": "url"}}},
    "auth": {"type": "checkin", "checkin": {
        "clientId": "nbspaces-hub", "existingSecret": "checkin-client",
        "callbackUrl": "https://notebooks.example.org/hub/oauth_callback"}},
}
VALUE_SETS = {"default": {}, "communities": COMMUNITIES, "fuse": FUSE, "fuse-plugin": FUSE_PLUGIN,
              "external-db": EXTERNAL_DB, "existing-secrets": EXISTING_SECRETS}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make deps` (it installs helm for these tests)")
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=60)


def values_file(values: dict[str, Any], tmp: Path) -> Path:
    path = tmp / f"values-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


_rendered: dict[str, list[dict[str, Any]]] = {}


def render(values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """Every object `helm template` renders for these values (cached per value set)."""
    key = json.dumps(values, sort_keys=True)
    if key not in _rendered:
        result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", K8S_VERSION,
                      "-f", str(values_file(values, tmp)))
        assert result.returncode == 0, result.stderr
        _rendered[key] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return copy.deepcopy(_rendered[key])


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def secret_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    data = find(docs, "Secret", f"{FULLNAME}-secret")["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def chart_values(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return json.loads(find(docs, "ConfigMap", f"{FULLNAME}-hub")["data"]["values.json"])


# -- lint, render, validate --------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_and_every_manifest_is_valid_kubernetes(name: str, tmp_path: Path) -> None:
    values = values_file(VALUE_SETS[name], tmp_path)
    lint = helm("lint", "--strict", str(CHART), "--kube-version", K8S_VERSION, "-f", str(values))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    docs = render(VALUE_SETS[name], tmp_path)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding",
            "NetworkPolicy"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, desired_version=K8S_VERSION, strict=True)


def test_validation_would_catch_a_wrong_field(tmp_path: Path) -> None:
    hub = find(render({}, tmp_path), "Deployment", f"{FULLNAME}-hub")
    hub["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hub, desired_version=K8S_VERSION, strict=True)


# -- what it renders ----------------------------------------------------------------------------------


def test_default_values_are_the_site_defaults(tmp_path: Path) -> None:
    nb = chart_values(render({}, tmp_path))["nbspaces"]
    assert nb["home"]["size"] == "20Gi"
    assert nb["cullTimeout"] == 3600
    assert nb["allowFuse"] is False
    assert nb["shared"] == {}


def test_catalog_reaches_the_hub_config(tmp_path: Path) -> None:
    docs = render(COMMUNITIES, tmp_path)
    values = chart_values(docs)
    assert values["nbspaces"]["shared"]["climate-data"]["groups"] == {"climate": "rw", "ocean": "ro"}
    assert values["names"] == {"release": RELEASE, "namespace": NAMESPACE, "hub": f"{FULLNAME}-hub",
                               "proxyApi": f"{FULLNAME}-proxy-api"}
    config = find(docs, "ConfigMap", f"{FULLNAME}-hub")["data"]["jupyterhub_config.py"]
    assert config == (CHART / "files" / "jupyterhub_config.py").read_text()
    ingress = find(docs, "Ingress", FULLNAME)
    assert ingress["spec"]["tls"] == [{"hosts": ["notebooks.example.org"], "secretName": "notebooks-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{FULLNAME}-proxy-public", "port": {"name": "http"}}
    assert not of_kind(render({}, tmp_path), "Ingress")


@pytest.mark.parametrize("name", ["communities", "external-db"])
def test_no_secret_value_in_any_configmap_or_pod_spec(name: str, tmp_path: Path) -> None:
    docs = render(VALUE_SETS[name], tmp_path)
    values = secret_data(docs)
    assert values.pop("hub.extra-config.json") == "{}"  # no snippet here (tested below)
    assert values["hub.cookie-secret"] and values["nbspaces.secret"]
    given = [DB_URL, "db-Pa55word-9d1e", CLIENT_SECRET, CRYPT_KEY, COOKIE_SECRET, NBSPACES_SECRET, PROXY_TOKEN]
    assert len(values) >= 5
    not_in = [*of_kind(docs, "ConfigMap"), *of_kind(docs, "Deployment")]
    for doc in not_in:
        text = json.dumps(doc)
        for value in [*values.values(), *given]:
            assert value not in text, f"a secret is in {doc['kind']}/{doc['metadata']['name']}"
    if name == "external-db":
        assert values["hub.db-url"] == DB_URL
        assert values["auth.client-secret"] == CLIENT_SECRET
        assert values["hub.crypt-key"] == CRYPT_KEY
        assert values["hub.cookie-secret"] == COOKIE_SECRET
        assert values["nbspaces.secret"] == NBSPACES_SECRET
        assert values["proxy.token"] == PROXY_TOKEN
        assert chart_values(docs)["hub"]["db"] == {"type": "postgres"}


def test_generated_secrets_are_strong_and_kept_on_uninstall(tmp_path: Path) -> None:
    docs = render({}, tmp_path)
    secret = find(docs, "Secret", f"{FULLNAME}-secret")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    values = secret_data(docs)
    for key in ("hub.crypt-key", "hub.cookie-secret", "proxy.token", "nbspaces.secret", "auth.admin-password"):
        assert len(values[key]) == 64 and int(values[key], 16) > 0, key
    assert len(values["auth.user-password"]) == 16
    assert "auth.client-secret" not in values and "hub.db-url" not in values
    # A second render (a fresh install) gets other secrets; an upgrade reads them back (lookup).
    _rendered.clear()
    assert secret_data(render({}, tmp_path))["hub.crypt-key"] != values["hub.crypt-key"]


def test_an_upgrade_reads_the_secret_back_once_and_keeps_it(tmp_path: Path) -> None:
    """An upgrade renders against the cluster (here the stand-in API, through `helm template
    --dry-run=server`): the chart reads its Secret once and keeps every generated value in it; a
    value given in the chart's values still wins."""
    stored = {"hub.crypt-key": "12" * 32, "hub.cookie-secret": "34" * 32, "proxy.token": "56" * 32,
              "nbspaces.secret": "78" * 32, "auth.user-password": "9a" * 8, "auth.admin-password": "bc" * 32}
    name = f"{FULLNAME}-secret"
    standin = KubeStandin()
    with standin.running():
        # The Secret a previous `helm install` made (Helm's ownership marks included).
        standin.objects[("secrets", NAMESPACE, name)] = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "Helm"},
                         "annotations": {"meta.helm.sh/release-name": RELEASE,
                                         "meta.helm.sh/release-namespace": NAMESPACE}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in stored.items()},
        }
        result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=server",
                      "--disable-openapi-validation", "--kubeconfig", str(standin.kubeconfig(tmp_path / "kubeconfig")),
                      "-f", str(values_file({"proxy": {"secretToken": PROXY_TOKEN}}, tmp_path)))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert secret_data(docs) == {**stored, "proxy.token": PROXY_TOKEN, "hub.extra-config.json": "{}"}
    assert not [r for r in standin.requests if not r.startswith("GET ")], standin.requests
    # Helm reads each object it would apply once (may it take it over?); the chart's lookup is one more.
    assert standin.requests.count(f"GET /api/v1/namespaces/{NAMESPACE}/configmaps/{FULLNAME}-hub") == 1
    assert standin.requests.count(f"GET /api/v1/namespaces/{NAMESPACE}/secrets/{name}") == 2


def _checksums(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {d["metadata"]["name"].removeprefix(f"{FULLNAME}-"):
            d["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] for d in of_kind(docs, "Deployment")}


def test_a_new_secret_value_restarts_the_pods_that_read_it(tmp_path: Path) -> None:
    """The pods carry a checksum of the secret values given in the chart's values: the same values
    give the same pods (though every `helm template` generates other secrets), a new value a new
    pod template, for the pods that read it."""
    first = _checksums(render({}, tmp_path))
    _rendered.clear()
    assert _checksums(render({}, tmp_path)) == first
    token = _checksums(render({"proxy": {"secretToken": PROXY_TOKEN}}, tmp_path))
    assert token["hub"] != first["hub"] and token["proxy"] != first["proxy"]
    for values in ({"hub": {"cryptKey": CRYPT_KEY}}, {"hub": {"cookieSecret": COOKIE_SECRET}},
                   {"hub": {"nbspacesSecret": NBSPACES_SECRET}}, EXTERNAL_DB, EXISTING_SECRETS):
        changed = _checksums(render(values, tmp_path))
        assert changed["hub"] != first["hub"], values
        assert changed["proxy"] == first["proxy"] or "proxy" in values, values
    db_url = copy.deepcopy(EXTERNAL_DB)
    db_url["hub"]["db"]["url"] = DB_URL.replace("db.example.org", "db2.example.org")
    assert _checksums(render(db_url, tmp_path))["hub"] != _checksums(render(EXTERNAL_DB, tmp_path))["hub"]


def test_existing_secrets_are_projected_not_copied(tmp_path: Path) -> None:
    docs = render(EXISTING_SECRETS, tmp_path)
    assert "hub.db-url" not in secret_data(docs)
    assert "auth.client-secret" not in secret_data(docs)
    hub = find(docs, "Deployment", f"{FULLNAME}-hub")["spec"]["template"]["spec"]
    sources = next(v for v in hub["volumes"] if v["name"] == "secret")["projected"]["sources"]
    assert {"name": "hub-db", "items": [{"key": "url", "path": "hub.db-url"}]} in [s["secret"] for s in sources]
    assert {"name": "checkin-client", "items": [{"key": "client-secret", "path": "auth.client-secret"}]} in [
        s["secret"] for s in sources]
    data = next(v for v in hub["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {}}
    assert not of_kind(docs, "PersistentVolumeClaim")


def test_hub_database_on_a_pvc_by_default(tmp_path: Path) -> None:
    docs = render({"hub": {"db": {"pvc": {"size": "5Gi", "storageClass": "fast"}}}}, tmp_path)
    pvc = find(docs, "PersistentVolumeClaim", f"{FULLNAME}-hub-db")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    hub = find(docs, "Deployment", f"{FULLNAME}-hub")
    assert hub["spec"]["strategy"] == {"type": "Recreate"}
    data = next(v for v in hub["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"] == {"claimName": f"{FULLNAME}-hub-db"}


@pytest.mark.parametrize("name", ["default", "fuse"])
def test_hub_and_proxy_pod_security(name: str, tmp_path: Path) -> None:
    """FUSE changes user pods only: the hub and the proxy stay locked down."""
    docs = render(VALUE_SETS[name], tmp_path)
    for deployment in of_kind(docs, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "hostNetwork" not in spec and "hostPID" not in spec
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v]
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc == {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                          "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    proxy = find(docs, "Deployment", f"{FULLNAME}-proxy")["spec"]["template"]["spec"]
    assert proxy["automountServiceAccountToken"] is False
    hub = find(docs, "Deployment", f"{FULLNAME}-hub")["spec"]["template"]["spec"]
    assert hub["serviceAccountName"] == f"{FULLNAME}-hub"
    mounts = {m["name"]: m for m in hub["containers"][0]["volumeMounts"]}
    assert mounts["config"]["readOnly"] is True and mounts["secret"]["readOnly"] is True
    env = {e["name"]: e for e in hub["containers"][0]["env"]}
    for name_, key in (("JUPYTERHUB_CRYPT_KEY", "hub.crypt-key"), ("JPY_COOKIE_SECRET", "hub.cookie-secret"),
                       ("CONFIGPROXY_AUTH_TOKEN", "proxy.token")):
        assert env[name_]["valueFrom"]["secretKeyRef"] == {"name": f"{FULLNAME}-secret", "key": key}


def test_spawner_rbac_is_namespaced_and_minimal(tmp_path: Path) -> None:
    docs = render({}, tmp_path)
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    role = find(docs, "Role", f"{FULLNAME}-hub")
    rules = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
    assert rules == {
        "pods": {"get", "list", "watch", "create", "delete"},
        "persistentvolumeclaims": {"get", "list", "watch", "create", "delete"},
        "events": {"get", "list", "watch"},
    }
    binding = find(docs, "RoleBinding", f"{FULLNAME}-hub")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{FULLNAME}-hub", "namespace": NAMESPACE}]
    assert binding["roleRef"]["kind"] == "Role"


def _ports(rule: dict[str, Any]) -> set[Any]:
    return {p["port"] for p in rule.get("ports", [])}


def _from_components(rule: dict[str, Any], key: str = "from") -> set[str]:
    return {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule.get(key, [])
            if "podSelector" in peer}


def test_network_policies(tmp_path: Path) -> None:
    docs = render({}, tmp_path)
    hub = find(docs, "NetworkPolicy", f"{FULLNAME}-hub")["spec"]
    assert hub["policyTypes"] == ["Ingress"]
    allowed = {(port, comp) for rule in hub["ingress"] for port in _ports(rule) for comp in _from_components(rule)}
    # The nbspaces service's registered URL is the hub's Service on 8082: the hub itself checks it,
    # the proxy routes /services/nbspaces/ to it, user servers fetch their keys from it.
    service = find(docs, "Service", f"{FULLNAME}-hub")["spec"]["ports"]
    assert {"name": "nbspaces", "port": 8082, "targetPort": "nbspaces"} in service
    assert allowed == {(port, comp) for port in ("hub", "nbspaces") for comp in ("proxy", "hub", "singleuser-server")}
    proxy = find(docs, "NetworkPolicy", f"{FULLNAME}-proxy")["spec"]
    public, api = proxy["ingress"]
    assert _ports(public) == {"http"} and "from" not in public
    assert _ports(api) == {"api"} and _from_components(api) == {"hub"}
    user = find(docs, "NetworkPolicy", f"{FULLNAME}-singleuser")["spec"]
    assert user["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": RELEASE,
                                                  "app.kubernetes.io/component": "singleuser-server"}
    assert set(user["policyTypes"]) == {"Ingress", "Egress"}
    assert [(_ports(r), _from_components(r)) for r in user["ingress"]] == [({8888}, {"hub", "proxy"})]
    to_pods = [r for r in user["egress"] if any("podSelector" in p for p in r.get("to", []))]
    assert [(_ports(r), _from_components(r, "to")) for r in to_pods] == [({8081, 8082}, {"hub"})]
    internet = next(r for r in user["egress"] if any("ipBlock" in p for p in r.get("to", [])))
    block = internet["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(block["except"])
    closed = render({"singleuser": {"networkPolicy": {"allowInternet": False}}}, tmp_path)
    egress = find(closed, "NetworkPolicy", f"{FULLNAME}-singleuser")["spec"]["egress"]
    assert not [r for r in egress if any("ipBlock" in p for p in r.get("to", []))]
    assert not of_kind(render({"networkPolicy": {"enabled": False}}, tmp_path), "NetworkPolicy")


# -- what it refuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nbspaces": {"home": {"size": "-5Gi"}}}, "at '/nbspaces/home/size': '-5Gi' does not match pattern"),
        ({"nbspaces": {"home": {"users": {"alice": "0Gi"}}}}, "at '/nbspaces/home/users/alice'"),
        ({"nbspaces": {"shared": {"climate": {"volume": {"nfs": {"server": "a", "path": "/x"}},
                                              "groups": {"climate": "write"}}}}},
         "at '/nbspaces/shared/climate/groups/climate': value must be one of 'ro', 'rw', 'off'"),
        ({"nbspaces": {"shared": {"climate": {"groups": {"climate": "rw"}}}}},
         "at '/nbspaces/shared/climate': missing property 'volume'"),
        ({"nbspaces": {"shared": {"climate": {"volume": {"emptyDir": {}}, "groups": {"climate": "rw"}}}}},
         "at '/nbspaces/shared/climate/volume': additional properties 'emptyDir' not allowed"),
        ({"nbspaces": {"shared": {"climate": {"volume": {}, "groups": {"climate": "rw"}}}}},
         "at '/nbspaces/shared/climate/volume': minProperties: got 0, want 1"),
        ({"nbspaces": {"shared": {"bad name": {"volume": {"nfs": {"server": "a", "path": "/x"}}}}}},
         "invalid propertyName 'bad name'"),
        ({"nbspaces": {"shared": {"x": {"volume": {"nfs": {"server": "a", "path": "/x"}}, "subPath": "../up"}}}},
         "at '/nbspaces/shared/x/subPath'"),
        ({"nbspaces": {"cullTimeout": 120}}, "at '/nbspaces/cullTimeout': minimum: got 120, want 301"),
        ({"nbspaces": {"cullTimeout": -1}}, "at '/nbspaces/cullTimeout'"),
        ({"nbspaces": {"homeSize": "20Gi"}}, "additional properties 'homeSize' not allowed"),
        ({"hub": {"cryptKey": "short"}}, "at '/hub/cryptKey'"),
        ({"hub": {"nbspacesSecret": "not-hex"}}, "at '/hub/nbspacesSecret'"),
        ({"hub": {"db": {"type": "mysql"}}}, "at '/hub/db/type': value must be one of 'sqlite-pvc', 'postgres'"),
        ({"auth": {"type": "checkin"}}, "at '/auth/checkin/clientId': minLength"),
    ],
)
def test_schema_refuses_wrong_values(values: dict[str, Any], message: str, tmp_path: Path) -> None:
    result = helm("template", RELEASE, str(CHART), "--kube-version", K8S_VERSION,
                  "-f", str(values_file(values, tmp_path)))
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hub": {"db": {"type": "postgres"}}}, "hub.db.url (or hub.db.existingSecret.name) is required"),
        ({"auth": {"type": "checkin", "checkin": {"clientId": "x", "callbackUrl": "https://h/hub/oauth_callback"}}},
         "auth.checkin.clientSecret (or auth.checkin.existingSecret) is required"),
    ],
)
def test_template_checks_name_what_is_wrong(values: dict[str, Any], message: str, tmp_path: Path) -> None:
    result = helm("template", RELEASE, str(CHART), "--kube-version", K8S_VERSION,
                  "-f", str(values_file(values, tmp_path)))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# -- the hub config it produces ---------------------------------------------------------------------------


def extract_config(docs: list[dict[str, Any]], tmp: Path) -> dict[str, str]:
    """Write the hub's ConfigMap and Secret as the hub pod sees them; return the hub's environment
    as its Deployment sets it (secretKeyRef values resolved from the rendered Secret)."""
    config, secret, data = tmp / "config", tmp / "secret", tmp / "data"
    for folder in (config, secret, data):
        folder.mkdir()
    for key, text in find(docs, "ConfigMap", f"{FULLNAME}-hub")["data"].items():
        (config / key).write_text(text)
    values = secret_data(docs)
    for key, text in values.items():
        (secret / key).write_text(text)
    container = find(docs, "Deployment", f"{FULLNAME}-hub")["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == f"{FULLNAME}-secret"
            env[item["name"]] = values[ref["key"]]
        else:
            env[item["name"]] = item["value"]
    assert env["NBSPACES_CHART_CONFIG"] == "/etc/nbspaces/config"
    env.update(NBSPACES_CHART_CONFIG=str(config), NBSPACES_CHART_SECRETS=str(secret), NBSPACES_CHART_DATA=str(data))
    return env


def load_config(docs: list[dict[str, Any]], tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The chart's hub config, loaded in this process as JupyterHub loads it (configure_hub included)."""
    from traitlets.config.loader import PyFileConfigLoader

    env = extract_config(docs, tmp)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=env["NBSPACES_CHART_CONFIG"]).load_config()


async def user_pod(config: Any, name: str, groups: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    from kubernetes_asyncio.client import ApiClient

    from nbspaces.spawner.kube import KubeSpaceSpawner
    from tests.test_kube_spawner import Group, User

    spawner = KubeSpaceSpawner(_mock=True, user=User(name, 1, [Group(g) for g in groups]), config=config)
    await spawner.nbspaces_prepare()
    async with ApiClient() as api:
        pod = api.sanitize_for_serialization(await spawner.get_pod_manifest())
        pvc = api.sanitize_for_serialization(spawner.get_pvc_manifest())
    kubernetes_validate.validate(pod, desired_version=K8S_VERSION, strict=True)
    kubernetes_validate.validate(pvc, desired_version=K8S_VERSION, strict=True)
    return pod, pvc


RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


async def test_user_pods_are_restricted_without_fuse(tmp_path: Path, kubeconfig: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(render({"singleuser": {"imagePullSecrets": ["registry-cred"]}}, tmp_path), tmp_path,
                         monkeypatch)
    pod, pvc = await user_pod(config, "alice", [])
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry-cred"}]
    container = pod["spec"]["containers"][0]
    assert {k: container["securityContext"][k] for k in RESTRICTED} == RESTRICTED
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"].get("privileged") in (None, False)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert not [v for v in pod["spec"]["volumes"] if "hostPath" in v]
    assert "/dev/fuse" not in json.dumps(pod)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["NBSPACES_PLAN"].replace("$$", "$"))["posix"] is False
    # Servers, the hub and the proxy's route reach the nbspaces service through the hub's
    # Service; the service itself listens on every address of the hub pod.
    assert env["NBSPACES_SERVICE_URL"] == f"http://{FULLNAME}-hub:8082/services/nbspaces"
    service = next(s for s in config.JupyterHub.services if s["name"] == "nbspaces")
    assert service["url"] == f"http://{FULLNAME}-hub:8082"
    assert service["environment"]["NBSPACES_SERVICE_BIND"] == "0.0.0.0:8082"


@pytest.mark.parametrize("name", ["fuse", "fuse-plugin"])
async def test_fuse_adds_only_what_fuse_needs(name: str, tmp_path: Path, kubeconfig: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(render(VALUE_SETS[name], tmp_path), tmp_path, monkeypatch)
    pod, _ = await user_pod(config, "alice", [])
    container = pod["spec"]["containers"][0]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    assert sc["allowPrivilegeEscalation"] is True  # the setuid fusermount3
    assert sc.get("privileged") in (None, False)
    assert sc["runAsNonRoot"] is True and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    if name == "fuse":
        assert sc["appArmorProfile"] == {"type": "Unconfined"}
        assert volumes["nbspaces-fuse"]["hostPath"] == {"path": "/dev/fuse", "type": "CharDevice"}
        assert {"name": "nbspaces-fuse", "mountPath": "/dev/fuse"} in container["volumeMounts"]
    else:
        assert "appArmorProfile" not in sc
        assert "nbspaces-fuse" not in volumes
        assert container["resources"]["limits"]["smarter-devices/fuse"] == "1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert json.loads(env["NBSPACES_PLAN"].replace("$$", "$"))["posix"] is True


# -- a real hub with the chart's config, spawning against a stand-in Kubernetes API ---------------------------

HUB_TEST_CONFIG = """\
# Test only: no cluster network here, so the hub, its proxy and the nbspaces service listen on
# 127.0.0.1, and the test reaches the hub's API with a token from the environment.
import os
c.JupyterHub.bind_url = os.environ["TEST_PUBLIC_URL"]
c.JupyterHub.hub_bind_url = os.environ["TEST_HUB_URL"]
c.JupyterHub.hub_connect_url = os.environ["TEST_HUB_URL"]
c.ConfigurableHTTPProxy.should_start = True
c.ConfigurableHTTPProxy.api_url = os.environ["TEST_PROXY_API_URL"]
c.NBSpaces.service_ip = "127.0.0.1"
c.NBSpaces.service_port = int(os.environ["TEST_SERVICE_PORT"])
c.NBSpaces.service_url = f"http://127.0.0.1:{os.environ['TEST_SERVICE_PORT']}/services/nbspaces"
# Answer a spawn request at once (202) instead of after 10 s: these pods never start.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
c.JupyterHub.services = [{"name": "test-admin", "api_token": os.environ["TEST_ADMIN_TOKEN"]}]
c.JupyterHub.load_roles = [{
    "name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "admin:servers", "admin:groups", "list:services", "read:services", "read:roles:services"],
}]
"""


@pytest.fixture
def chart_hub(tmp_path: Path) -> Iterator[tuple[str, str, KubeStandin]]:
    values = copy.deepcopy(COMMUNITIES)
    values["hub"]["extraConfig"] = {"zz-test": HUB_TEST_CONFIG}
    docs = render(values, tmp_path)
    env = extract_config(docs, tmp_path)
    token = secrets.token_hex(24)
    public, hub_port = free_port(), free_port()
    env.update(
        TEST_PUBLIC_URL=f"http://127.0.0.1:{public}", TEST_HUB_URL=f"http://127.0.0.1:{hub_port}",
        TEST_PROXY_API_URL=f"http://127.0.0.1:{free_port()}", TEST_SERVICE_PORT=str(free_port()),
        TEST_ADMIN_TOKEN=token,
    )
    standin = KubeStandin()
    with standin.running():
        env["KUBECONFIG"] = str(standin.kubeconfig(tmp_path / "kubeconfig"))
        path = os.pathsep.join([str(Path(sys.executable).parent), str(ROOT / "node_modules" / ".bin"),
                                os.environ.get("PATH", "")])
        child_env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
        child_env.update(env, PATH=path)
        log_path = tmp_path / "hub.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyterhub"),
                 "-f", f"{env['NBSPACES_CHART_CONFIG']}/jupyterhub_config.py"],
                cwd=env["NBSPACES_CHART_DATA"], env=child_env, stdout=log, stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{public}/hub/api"
        try:
            wait_http(url, proc, log_path, 60)
            yield url, token, standin
            # Nothing the hub logged holds a secret of the chart's.
            text = log_path.read_text()
            for key, value in secret_data(docs).items():
                assert value not in text, f"{key} is in the hub's log"
        finally:
            stop_process(proc)


def test_real_hub_with_the_chart_config_builds_each_communitys_pod(chart_hub: tuple[str, str, KubeStandin],
                                                                   tmp_path: Path) -> None:
    url, token, standin = chart_hub
    headers = {"Authorization": f"token {token}"}

    # configure_hub added the culler (with its least-privilege role) and the nbspaces service.
    r = requests.get(f"{url}/services", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    services = r.json()
    culler = services["idle-culler"]
    assert culler["roles"] == ["idle-culler"]
    assert "--timeout=3600" in culler["command"]
    # The hub and the proxy reach the nbspaces service where servers do (the test's service_url).
    service_url = services["nbspaces"]["url"]
    assert service_url.startswith("http://127.0.0.1:") and service_url != "http://127.0.0.1:8082"

    # load_groups from the chart's values made the communities and their members.
    groups = {g["name"]: g["users"] for g in requests.get(f"{url}/groups", headers=headers, timeout=10).json()}
    assert groups["climate"] == ["alice"] and groups["ocean"] == ["olaf"]

    for user in ("alice", "olaf"):
        r = requests.post(f"{url}/users/{user}/server", headers=headers, timeout=30)
        assert r.status_code in (201, 202), r.text

    def manifests() -> dict[str, tuple[dict[str, Any], dict[str, Any]]] | None:
        pods = {p["metadata"]["name"]: p for p in standin.created_of("Pod")}
        pvcs = {p["metadata"]["name"]: p for p in standin.created_of("PersistentVolumeClaim")}
        if {"jupyter-alice", "jupyter-olaf"} <= pods.keys() and {"claim-alice", "claim-olaf"} <= pvcs.keys():
            return {u: (pods[f"jupyter-{u}"], pvcs[f"claim-{u}"]) for u in ("alice", "olaf")}
        return None

    built = wait_until(manifests, "the pods and PVCs of alice and olaf")
    posts = [r for r in standin.requests if r.startswith("POST ")]
    assert posts and all(r.startswith(f"POST /api/v1/namespaces/{NAMESPACE}/") for r in posts), posts
    netpol = find(render(COMMUNITIES, tmp_path), "NetworkPolicy", f"{FULLNAME}-singleuser")
    for user, (pod, pvc) in built.items():
        kubernetes_validate.validate(pod, desired_version=K8S_VERSION, strict=True)
        kubernetes_validate.validate(pvc, desired_version=K8S_VERSION, strict=True)
        assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
        assert pvc["spec"]["storageClassName"] == "standard-rwo"
        assert pod["spec"]["containers"][0]["image"] == "nbspaces-user:0.1.0"
        # The chart's NetworkPolicy selects this pod.
        assert netpol["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        container = pod["spec"]["containers"][0]
        assert {k: container["securityContext"][k] for k in RESTRICTED} == RESTRICTED
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NBSPACES_SERVICE_URL"] == f"{service_url}/services/nbspaces"
        assert env["ONEPROVIDER_HOST"] == "oneprovider.example.org"
        assert env["JUPYTERHUB_API_URL"].endswith("/hub/api")
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["nbspaces-home"]["persistentVolumeClaim"] == {"claimName": f"claim-{user}"}
        assert volumes["shared-datasets"]["nfs"] == {"server": "nfs.example.org", "path": "/exports/datasets"}

    def mounts(user: str) -> dict[str, tuple[str, bool, str | None]]:
        container = built[user][0]["spec"]["containers"][0]
        return {m["name"]: (m["mountPath"], m.get("readOnly", False), m.get("subPath"))
                for m in container["volumeMounts"]}

    assert mounts("alice") == {
        "nbspaces-home": ("/home/jovyan", False, None),
        "shared-datasets": ("/home/jovyan/datasets", True, None),
        "shared-climate-data": ("/home/jovyan/climate-data", False, None),
    }
    assert mounts("olaf") == {
        "nbspaces-home": ("/home/jovyan", False, None),
        "shared-datasets": ("/home/jovyan/datasets", True, None),
        "shared-climate-data": ("/home/jovyan/climate-data", True, None),
        "shared-ocean-data": ("/home/jovyan/ocean-data", False, "cruises"),
    }
    olaf_volumes = {v["name"]: v for v in built["olaf"][0]["spec"]["volumes"]}
    assert olaf_volumes["shared-ocean-data"]["hostPath"] == {"path": "/srv/ocean", "type": "Directory"}
    assert olaf_volumes["shared-climate-data"]["persistentVolumeClaim"] == {"claimName": "climate-data"}


def test_checkin_and_postgres_config_loads(tmp_path: Path, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """External database and Check-in login: the hub reads both secrets from the Secret's files."""
    config = load_config(render(EXTERNAL_DB, tmp_path), tmp_path, monkeypatch)
    assert config.JupyterHub.db_url == DB_URL
    assert config.JupyterHub.authenticator_class == "nbspaces.spawner.checkin.CheckinAuthenticator"
    checkin = config.CheckinAuthenticator
    assert checkin.client_id == "nbspaces-hub"
    assert checkin.client_secret == CLIENT_SECRET
    assert checkin.enable_auth_state is True
    assert checkin.token_url == "https://aai.egi.eu/auth/realms/egi/protocol/openid-connect/token"
    assert checkin.oauth_callback_url == "https://notebooks.example.org/hub/oauth_callback"
    hook = config.Authenticator.post_auth_hook

    class Log:
        def warning(self, *args: Any) -> None:
            pass

    member = {"name": "u1", "auth_state": {"oauth_user": {"eduperson_entitlement": [
        "urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu"]}}}
    stranger = {"name": "u2", "auth_state": {"oauth_user": {"eduperson_entitlement": ["urn:other"]}}}
    authenticator = type("A", (), {"log": Log()})()
    assert hook(authenticator, None, member) is member
    assert hook(authenticator, None, stranger) is None


def test_extra_config_is_kept_in_the_secret_and_run_by_the_hub(tmp_path: Path, kubeconfig: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """hub.extraConfig snippets often hold a token: they go to the Secret, not the ConfigMap, and a
    changed snippet restarts the hub (not the proxy)."""
    token = "extra-config-token-4f2a9c"
    snippet = f"c.GenericOAuthenticator.client_secret = {token!r}"
    docs = render({"hub": {"extraConfig": {"site-login": snippet}}}, tmp_path)
    assert json.loads(secret_data(docs)["hub.extra-config.json"]) == {"site-login": snippet}
    for doc in [*of_kind(docs, "ConfigMap"), *of_kind(docs, "Deployment")]:
        assert token not in json.dumps(doc), f"the snippet is in {doc['kind']}/{doc['metadata']['name']}"
    assert load_config(docs, tmp_path, monkeypatch).GenericOAuthenticator.client_secret == token
    plain = render({}, tmp_path)

    def annotations(d: list[dict[str, Any]]) -> dict[str, str]:
        return find(d, "Deployment", f"{FULLNAME}-hub")["spec"]["template"]["metadata"]["annotations"]

    assert annotations(docs)["checksum/config"] == annotations(plain)["checksum/config"]
    assert annotations(docs)["checksum/secret"] != annotations(plain)["checksum/secret"]
    assert _checksums(docs)["proxy"] == _checksums(plain)["proxy"]


def test_a_reserved_name_stops_the_hub_with_the_catalogs_message(tmp_path: Path, kubeconfig: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub checks the catalog's names (nbspaces.catalog.RESERVED_NAMES), for shared folders and
    remote spaces alike; the chart keeps no copy of the list."""
    values = {"nbspaces": {
        "shared": {"Home": {"volume": {"nfs": {"server": "nfs.example.org", "path": "/x"}}, "groups": {"*": "ro"}}},
        "remote": {"b2drop": {"kind": "webdav", "mount": ".jupyter", "url": "https://b2drop.example.org/dav",
                              "groups": {"*": "rw"}}},
    }}
    with pytest.raises(SystemExit) as stopped:
        load_config(render(values, tmp_path), tmp_path, monkeypatch)
    message = str(stopped.value)
    assert message.startswith("nbspaces catalog is not valid:")
    assert "shared.Home: 'Home' cannot name a folder" in message
    assert "remote.b2drop.mount: '.jupyter' cannot name a top-level folder" in message


def test_missing_secret_file_stops_the_hub_with_its_name(tmp_path: Path, kubeconfig: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(EXISTING_SECRETS, tmp_path)  # the db URL would come from the operator's Secret
    with pytest.raises(SystemExit, match=r"the secret hub.db-url is missing from .*; check the chart's values"):
        load_config(docs, tmp_path, monkeypatch)
