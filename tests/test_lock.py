"""The lock (requirements.lock) is what the tests run with, and it is the project's requirements.

`make` installs the venv from the lock alone, so an upstream release changes nothing until
someone runs `make lock`. These tests fail when the venv drifted from the lock (installed by
hand, or by an install step that ignores it) or when pyproject.toml asks for something the
lock does not hold (a requirement added without `make lock`).
"""

from __future__ import annotations

import importlib.metadata
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.lockfile import LOCK, locked
from tests.realhub import ROOT


def test_the_venv_runs_exactly_the_locked_versions() -> None:
    wrong = []
    for name, pins in locked().items():
        pin = next((p for p in pins if p.applies()), None)
        if pin is None:
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "nothing"
        if installed != pin.version:
            wrong.append(f"{name}: locked {pin.version}, installed {installed}")
    assert not wrong, "the venv is not the lock (run make test, which installs it):\n" + "\n".join(wrong)


def test_every_requirement_of_pyproject_is_locked_at_a_version_it_accepts() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    pins = locked()
    problems = []
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == "nbspaces":
            continue
        if name not in pins:
            problems.append(f"{req} is not in {LOCK.name}")
        else:
            problems.extend(f"{req} does not accept the locked {pin.version}" for pin in pins[name]
                            if not req.specifier.contains(pin.version, prereleases=True))
    assert not problems, "run `make lock PACKAGE=<name>`, then review and commit the lock:\n" + "\n".join(problems)


def test_every_locked_file_is_hashed_so_a_replaced_one_is_refused() -> None:
    pins = locked()
    assert len(pins) > 100
    assert not [name for name, versions in pins.items() for pin in versions if not pin.hashes]
