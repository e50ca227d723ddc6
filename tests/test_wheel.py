"""The wheel ships the prebuilt Data panel, and cannot be built without it.

Builds real wheels with the project's own backend (hatchling) and build hook (hatch_build.py),
from a temporary copy of the sources: with the built extension, and without it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "nbspaces" / "labextension" / "package.json"


def source_copy(dest: Path, *, with_panel: bool) -> Path:
    """The files a wheel is built from, without the venv, node_modules or caches."""
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "jupyter-config", dest / "jupyter-config")
    (dest / "labextension").mkdir()
    shutil.copy(ROOT / "labextension" / "install.json", dest / "labextension" / "install.json")
    skip = ["__pycache__", "*.pyc"] + ([] if with_panel else ["labextension"])
    shutil.copytree(ROOT / "nbspaces", dest / "nbspaces", ignore=shutil.ignore_patterns(*skip))
    return dest


def build_wheel(src: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, str(src / "dist")], cwd=src, capture_output=True,
                          text=True, timeout=300)


def test_a_wheel_without_the_built_panel_is_refused(tmp_path: Path) -> None:
    src = source_copy(tmp_path, with_panel=False)
    result = build_wheel(src)
    assert result.returncode != 0
    assert "the Data panel is not built (nbspaces/labextension/package.json is missing)" in result.stderr
    assert "make labextension" in result.stderr
    assert not (src / "dist").exists() or not list((src / "dist").glob("*.whl"))


def test_the_wheel_ships_the_panel(tmp_path: Path) -> None:
    assert BUILT.exists(), "the Data panel is not built: run `make labextension` (make test does)"
    src = source_copy(tmp_path, with_panel=True)
    result = build_wheel(src)
    assert result.returncode == 0, result.stderr
    wheel = next((src / "dist").glob("nbspaces-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = next(n.split("/")[0] for n in names if ".data/" in n)
    panel = f"{data}/data/share/jupyter/labextensions/nbspaces"
    assert f"{panel}/package.json" in names
    assert f"{panel}/install.json" in names
    assert any(n.startswith(f"{panel}/static/remoteEntry.") for n in names)
    assert f"{panel}/schemas/nbspaces/plugin.json" in names
