"""What every nbspaces spawner shares: the plan of a user, and the environment it gets."""

from __future__ import annotations

import functools
from typing import Any

from ..catalog import Catalog
from ..keys import SERVICE_ENV
from ..plan import PLAN_ENV, Plan, resolve
from .config import NBSpaces

ADMINS_OFF = "your admins have not turned on folder mounts"


class SpacesMixin:
    """Mixed into a JupyterHub Spawner. Subclasses set how homes and quotas are enforced."""

    # Set by subclasses (as attributes or properties).
    isolation: str
    quota_enforced_by: str
    # Where the server may mount remote spaces with FUSE (if the admins allow it), and why not.
    posix_allowed: bool = True
    posix_off_reason: str = ADMINS_OFF
    catalog_need: str | None = None
    check_sources: bool = False

    _nbspaces_auth_state: dict[str, Any] | None = None

    @functools.cached_property
    def nbspaces(self) -> NBSpaces:
        """The site's settings (``c.NBSpaces``), read once per spawner."""
        return NBSpaces(parent=self)  # type: ignore[arg-type]

    def nbspaces_catalog(self) -> Catalog:
        return self.nbspaces.catalog(need=self.catalog_need, check_sources=self.check_sources)

    def resolve_plan(self, catalog: Catalog | None = None) -> Plan:
        """The catalog for this spawner's user, with their groups' current properties."""
        catalog = catalog or self.nbspaces_catalog()
        groups = {g.name: dict(g.properties or {}) for g in self.user.groups}  # type: ignore[attr-defined]
        plan, problems = resolve(
            catalog,
            self.user.name,  # type: ignore[attr-defined]
            groups,
            isolation=self.isolation,
            quota_enforced_by=self.quota_enforced_by,
            posix=self.nbspaces.posix_mounts and self.posix_allowed,
            posix_reason=self.posix_off_reason if self.nbspaces.posix_mounts else ADMINS_OFF,
        )
        for problem in problems:
            self.log.warning("nbspaces: ignoring %s", problem)  # type: ignore[attr-defined]
        return plan

    async def run_auth_state_hook(self, auth_state: dict[str, Any] | None) -> None:
        self._nbspaces_auth_state = auth_state or {}
        await super().run_auth_state_hook(auth_state)  # type: ignore[misc]

    def oneprovider_host(self) -> str:
        """The configured Oneprovider, or the user's choice (spawn option ``oneprovider_host``)
        when it is one of the providers supporting their spaces, as found at login."""
        default = self.nbspaces.oneprovider_host
        chosen = (getattr(self, "user_options", None) or {}).get("oneprovider_host")
        if not chosen:
            return default
        providers = (self._nbspaces_auth_state or {}).get("onedata_providers") or []
        if chosen in [p.get("domain") for p in providers if isinstance(p, dict)]:
            return str(chosen)
        self.log.warning(  # type: ignore[attr-defined]
            "nbspaces: %s asked for Oneprovider %r, which supports none of their spaces; using %r",
            self.user.name, chosen, default)  # type: ignore[attr-defined]
        return default

    def nbspaces_env(self, plan: Plan) -> dict[str, str]:
        """NBSPACES_PLAN, ONEPROVIDER_HOST and the user's own ONECLIENT_ACCESS_TOKEN."""
        env = {PLAN_ENV: plan.to_json()}
        settings = self.nbspaces
        if settings.service_url:
            env[SERVICE_ENV] = settings.service_url
        provider = self.oneprovider_host()
        if provider:
            env["ONEPROVIDER_HOST"] = provider
        token = (self._nbspaces_auth_state or {}).get(settings.onedata_token_key)
        if isinstance(token, str) and token:
            env["ONECLIENT_ACCESS_TOKEN"] = token
        return env
