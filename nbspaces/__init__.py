"""nbspaces: a persistent home, community shared folders and remote storage for JupyterHub users.

This core package is importable in a kernel: it imports no tornado, jupyter_server or
jupyterhub.
"""

__version__ = "0.1.0"


def spaces() -> list[dict[str, str]]:
    """The spaces of this server: name, kind, mount (folder) and mode."""
    from .session import describe

    return describe()


def filesystem(space: str | None = None):  # type: ignore[no-untyped-def]
    """An fsspec filesystem over every space, or rooted at one space (by name or folder).

    ``nbspaces.filesystem("b2drop").ls("")``; pandas also takes ``nbspaces://b2drop/data.csv``.
    """
    from .spacefs import NBSpacesFileSystem

    fs = NBSpacesFileSystem()
    if space is None:
        return fs
    from fsspec.implementations.dirfs import DirFileSystem

    return DirFileSystem(path=fs.session.space(space).mount, fs=fs)


def open(path: str, mode: str = "r", **kwargs):  # type: ignore[no-untyped-def]
    """Open a file of any space by its path in the file browser: ``nbspaces.open("b2drop/a.csv")``."""
    return filesystem().open(path, mode, **kwargs)
