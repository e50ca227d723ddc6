"""Build hook: a wheel of nbspaces never ships without the Data panel (the prebuilt labextension).

`make labextension` builds it into nbspaces/labextension; the wheel maps that folder to
share/jupyter/labextensions/nbspaces. Without it the wheel would install and run, silently
without the panel, so the build stops here and says how to build it. Editable installs are
exempt: `make deps` installs the package before it builds the extension.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LABEXTENSION = Path("nbspaces") / "labextension"


class LabextensionCheck(BuildHookInterface):
    PLUGIN_NAME = "nbspaces-labextension"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root) / LABEXTENSION
        how = "run `make labextension` (it needs npm) before building the wheel"
        try:
            meta = json.loads((root / "package.json").read_text())
        except FileNotFoundError:
            raise RuntimeError(f"nbspaces: the Data panel is not built ({LABEXTENSION}/package.json is missing); "
                               f"{how}") from None
        except ValueError as e:
            raise RuntimeError(f"nbspaces: {LABEXTENSION}/package.json is not JSON ({e}); {how}") from None
        entry = meta.get("jupyterlab", {}).get("_build", {}).get("load")
        if not entry or not (root / entry).is_file():
            raise RuntimeError(f"nbspaces: the Data panel's build is incomplete (no {entry or 'remoteEntry'} in "
                               f"{LABEXTENSION}); {how}")
