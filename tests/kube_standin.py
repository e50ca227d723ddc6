"""A stand-in Kubernetes API server on 127.0.0.1, for tests of a real hub's KubeSpawner.

No Kubernetes control plane can run here, so this is a stand-in, not a cluster: it implements
only the core/v1 calls KubeSpawner makes for a spawn (list and watch pods and events; create,
read and delete pods and persistent volume claims) and records every object it is sent. Pods
stay Pending: nothing schedules them. Schemas are not checked here; tests validate what was
recorded with kubernetes-validate.

It also answers what `helm template --dry-run=server` reads: the API's discovery documents (the
kinds the nbspaces chart renders), the chart's Secret (its `lookup`), and "not found" for each
object the chart would create.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

KINDS = {"pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim", "events": "Event", "secrets": "Secret"}
# Discovery: group/version -> {resource: kind}, for the kinds the nbspaces chart renders.
DISCOVERY = {
    "v1": {"pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim", "events": "Event", "secrets": "Secret",
           "configmaps": "ConfigMap", "services": "Service", "serviceaccounts": "ServiceAccount"},
    "apps/v1": {"deployments": "Deployment"},
    "rbac.authorization.k8s.io/v1": {"roles": "Role", "rolebindings": "RoleBinding"},
    "networking.k8s.io/v1": {"networkpolicies": "NetworkPolicy", "ingresses": "Ingress"},
}


class KubeStandin:
    """Objects by (resource, namespace, name), the list of created ones, and watch streams."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.version = 1
        self._history: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.port = 0

    # -- what tests read --------------------------------------------------------------------

    def created_of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for o in self.created if o.get("kind") == kind]

    # -- the API ----------------------------------------------------------------------------

    def _status(self, code: int, reason: str, message: str) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                "message": message, "code": code}
        return web.json_response(body, status=code)

    def _notify(self, event: str, resource: str, namespace: str, obj: dict[str, Any]) -> None:
        with self._lock:
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self._history.append((self.version, event, resource, namespace, copy.deepcopy(obj)))

    async def collection(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = request.match_info["resource"], request.match_info["namespace"]
        self.requests.append(f"{request.method} {request.path_qs}")
        if resource not in KINDS:
            return self._status(404, "NotFound", f"{resource} is not served by this stand-in")
        if request.method == "POST":
            return await self._create(request, resource, namespace)
        if request.query.get("watch") in ("true", "True", "1"):
            return await self._watch(request, resource, namespace)
        with self._lock:
            items = [copy.deepcopy(o) for (r, ns, _), o in self.objects.items() if r == resource and ns == namespace]
            version = str(self.version)
        return web.json_response({"kind": f"{KINDS[resource]}List", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": version}, "items": items})

    async def _create(self, request: web.Request, resource: str, namespace: str) -> web.Response:
        body = await request.json()
        name = body["metadata"]["name"]
        key = (resource, namespace, name)
        with self._lock:
            self.created.append(copy.deepcopy(body))
            exists = key in self.objects
        if exists:
            return self._status(409, "AlreadyExists", f'{resource} "{name}" already exists')
        obj = copy.deepcopy(body)
        obj["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
        if resource == "pods":
            obj["status"] = {"phase": "Pending"}
        with self._lock:
            self.objects[key] = obj
        self._notify("ADDED", resource, namespace, obj)
        return web.json_response(obj, status=201)

    async def item(self, request: web.Request) -> web.Response:
        resource, namespace = request.match_info["resource"], request.match_info["namespace"]
        name = request.match_info["name"]
        self.requests.append(f"{request.method} {request.path_qs}")
        key = (resource, namespace, name)
        with self._lock:
            obj = self.objects.get(key)
        if obj is None:
            return self._status(404, "NotFound", f'{resource} "{name}" not found')
        if request.method == "DELETE":
            with self._lock:
                self.objects.pop(key, None)
            self._notify("DELETED", resource, namespace, obj)
        return web.json_response(obj)

    async def _watch(self, request: web.Request, resource: str, namespace: str) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or 0)
        timeout = float(request.query.get("timeoutSeconds") or 30)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not request.transport.is_closing():  # type: ignore[union-attr]
            with self._lock:
                events = [(v, e, o) for v, e, r, ns, o in self._history
                          if v > since and r == resource and ns == namespace]
            for version, event, obj in events:
                await response.write(json.dumps({"type": event, "object": obj}).encode() + b"\n")
                since = version
            await asyncio.sleep(0.05)
        return response

    async def discovery(self, request: web.Request) -> web.Response:
        """/version, /api, /apis and each group version's resource list."""
        path = request.path.rstrip("/")
        if path == "/version":
            return web.json_response({"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": "v1"}],
                       "preferredVersion": {"groupVersion": gv, "version": "v1"}} for gv in DISCOVERY if "/" in gv]
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        if group_version not in DISCOVERY:
            return self._status(404, "NotFound", f"{path} is not served by this stand-in")
        resources = [{"name": name, "singularName": kind.lower(), "namespaced": True, "kind": kind,
                      "verbs": ["create", "delete", "get", "list", "watch"]}
                     for name, kind in DISCOVERY[group_version].items()]
        return web.json_response({"kind": "APIResourceList", "groupVersion": group_version, "resources": resources})

    async def not_found(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path_qs}")
        return self._status(404, "NotFound", f"{request.path} is not served by this stand-in")

    # -- running it ---------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[KubeStandin]:
        """Serve on a free port of 127.0.0.1 in a thread of its own until the block ends."""
        loop = asyncio.new_event_loop()
        runner: web.AppRunner | None = None

        async def serve() -> None:
            nonlocal runner
            app = web.Application()
            base = "/api/v1/namespaces/{namespace}/{resource}"
            app.router.add_route("*", base, self.collection)
            app.router.add_route("*", base + "/{name}", self.item)
            for path in ("/version", "/api", "/apis", "/api/{version}", "/apis/{group}/{version}"):
                app.router.add_get(path, self.discovery)
            app.router.add_route("*", "/{tail:.*}", self.not_found)
            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(serve(), loop).result(10)  # listening when it returns
            yield self
        finally:
            if runner is not None:
                asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig that points at this stand-in (plain HTTP, a dummy token)."""
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "standin", "user": {"token": "dummy"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
        }))
        return path
