"""Fixtures shared by several test files."""

from __future__ import annotations

from pathlib import Path

import pytest

# A kubeconfig that names no reachable cluster: KubeSpawner loads one even in mock mode.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dummy
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: dummy
  user: {token: dummy}
contexts:
- name: dummy
  context: {cluster: dummy, user: dummy}
current-context: dummy
"""


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dummy kubeconfig for KubeSpawner in mock mode (it loads one, and never calls the API)."""
    import kubernetes_asyncio.config.kube_config  # imported here: most tests never need it

    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    # kubernetes_asyncio reads KUBECONFIG once, at import.
    monkeypatch.setattr(kubernetes_asyncio.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return path
