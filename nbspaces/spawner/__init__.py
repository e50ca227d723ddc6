"""Hub side of nbspaces: spawners and hub configuration.

Import the Kubernetes spawner from :mod:`nbspaces.spawner.kube`; it needs the
``kubernetes`` extra.
"""

from .hub import configure_hub
from .local import LocalSpaceSpawner

__all__ = ["LocalSpaceSpawner", "configure_hub"]
