"""nbspaces: a persistent home, community shared folders and remote storage for JupyterHub users.

This core package is importable in a kernel: it imports no tornado, jupyter_server or
jupyterhub.
"""

__version__ = "0.1.0"
