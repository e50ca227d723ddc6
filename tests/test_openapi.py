"""openapi.yaml describes the REST API as the code behaves: routes, methods, statuses, shapes.

The static tests compare the document with the handlers' routes and classes and with the
statuses the registry raises; the live test runs a real hub, a real WebDAV server and the
single-user server, and checks each answer against the schema documented for it, with a
small checker for the part of JSON Schema the document uses (no new dependency).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import requests
import yaml
from jupyter_server.base.handlers import APIHandler

from nbspaces.drivers import BUILT_IN
from nbspaces.drivers.base import FieldType
from nbspaces.server_extension import handlers, kept, registry
from nbspaces.server_extension.handlers import HANDLERS
from nbspaces.server_extension.registry import STATUSES
from tests.realhub import Hub, free_port, start_hub
from tests.webdav_servers import DavServer, wsgidav

SPEC_PATH = Path(handlers.__file__).with_name("openapi.yaml")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The part of JSON Schema the checker below implements; annotations it may ignore.
KEYWORDS = {"$ref", "oneOf", "type", "enum", "const", "required", "properties", "additionalProperties",
            "items", "minItems", "maxItems", "pattern"}
ANNOTATIONS = {"description", "title", "example", "examples", "format", "default", "deprecated",
               "readOnly", "writeOnly"}
JSON_TYPES = {"null", "boolean", "integer", "number", "string", "array", "object"}


@functools.cache
def _load() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@pytest.fixture
def spec() -> dict[str, Any]:
    return _load()


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = _load()
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


# -- a checker for the JSON Schema subset in KEYWORDS ------------------------------------


def _is_type(value: Any, kind: str) -> bool:
    return {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]


def check(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """The ways ``value`` breaks ``schema``; empty when it conforms."""
    if "$ref" in schema:
        return check(value, resolve(schema["$ref"]), where)
    errors: list[str] = []
    if "oneOf" in schema:
        matching = [i for i, sub in enumerate(schema["oneOf"]) if not check(value, sub, where)]
        if len(matching) != 1:
            detail = {i: check(value, sub, where) for i, sub in enumerate(schema["oneOf"])}
            errors.append(f"{where}: matches {len(matching)} of the oneOf schemas, not exactly one: {detail}")
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, k) for k in kinds):
            return [*errors, f"{where}: {value!r} is not of type {kinds}"]
    if "enum" in schema and not any(type(value) is type(e) and value == e for e in schema["enum"]):
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and not (type(value) is type(schema["const"]) and value == schema["const"]):
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        errors += [f"{where}: '{key}' is missing" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += check(item, properties[key], f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: '{key}' is not a documented property")
            elif isinstance(extra, dict):
                errors += check(item, extra, f"{where}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += check(item, schema["items"], f"{where}[{i}]")
    return errors


def test_the_checker_catches_what_it_claims_to() -> None:
    space = {"$ref": "#/components/schemas/RemoteSpace"}
    good = {"name": "b2drop", "kind": "webdav", "mount": "b2drop", "mode": "rw", "read_only": False,
            "origin": "catalog", "description": "", "settings": {"url": "https://x/dav"}, "status": "mounted",
            "reason": "", "credential_fields": [{"name": "username", "label": "User name", "type": "string",
                                                 "required": True, "secret": False, "help": "", "link": "",
                                                 "default": None}],
            "has_credentials": True, "used_bytes": 3, "quota_bytes": None, "posix": False, "posix_reason": ""}
    assert check(good, space) == []
    bad: list[dict[str, Any]] = [
        {**good, "status": "gone"},  # enum
        {**good, "used_bytes": "3"},  # type
        {**good, "used_bytes": True},  # a bool is no integer
        {**good, "password": "x"},  # additionalProperties: false
        {k: v for k, v in good.items() if k != "reason"},  # required
        {**good, "credential_fields": [{"name": "username", "label": "User name", "secret": False}]},  # nested
        {**good, "name": "-x"},  # pattern
    ]
    for value in bad:
        assert check(value, space), value
    assert check({**good, "quota_enforced_by": None}, {"$ref": "#/components/schemas/Space"})  # neither variant


# -- the document ------------------------------------------------------------------------


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def media_types(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every request and response body of every operation, with where it is."""
    for path, method, op in operations(spec):
        if "requestBody" in op:
            for mime, media in deref(op["requestBody"])["content"].items():
                yield f"{method.upper()} {path} request {mime}", media
        for code, response in op["responses"].items():
            for mime, media in deref(response).get("content", {}).items():
                yield f"{method.upper()} {path} {code} {mime}", media


def all_schemas(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    roots = [(f"components.schemas.{k}", v) for k, v in spec["components"]["schemas"].items()]
    roots += [(where, media["schema"]) for where, media in media_types(spec)]
    for path, item in spec["paths"].items():
        for p in item.get("parameters", []):
            roots.append((f"{path} parameter", deref(p)["schema"]))
        for _, method, op in operations({"paths": {path: item}}):
            roots += [(f"{method} {path} parameter", deref(p)["schema"]) for p in op.get("parameters", [])]
    roots += [(f"components.parameters.{k}", v["schema"]) for k, v in spec["components"].get("parameters", {}).items()]
    stack = roots
    while stack:
        where, schema = stack.pop()
        yield where, schema
        stack += [(f"{where}.{k}", v) for k, v in schema.get("properties", {}).items()]
        stack += [(f"{where}.oneOf[{i}]", v) for i, v in enumerate(schema.get("oneOf", []))]
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                stack.append((f"{where}.{key}", schema[key]))


def test_the_document_is_openapi_3_1(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", str(spec.get("openapi"))), "openapi must be 3.1.x (a string)"
    assert isinstance(spec["info"]["title"], str) and isinstance(spec["info"]["version"], str)
    assert set(spec) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components",
                         "security", "tags", "externalDocs"}
    for server in spec["servers"]:
        for variable in re.findall(r"\{(\w+)\}", server["url"]):
            assert "default" in server["variables"][variable], f"server variable {variable} needs a default"
    for ref in walk_refs(spec):
        resolve(ref)
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    schemes = spec["components"]["securitySchemes"]
    for requirement in spec["security"]:
        assert set(requirement) <= set(schemes)
    for scheme in schemes.values():
        assert scheme["type"] in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect")
        if scheme["type"] == "apiKey":
            assert scheme["in"] in ("query", "header", "cookie") and scheme["name"]
        if scheme["type"] == "http":
            assert scheme["scheme"]
    # Token auth as jupyter_server (with JupyterHub's identity provider) takes it.
    token = [s for s in schemes.values() if s.get("in") == "header" and s.get("name") == "Authorization"]
    assert token and "token <" in token[0]["description"]
    for path, item in spec["paths"].items():
        assert path.startswith("/")
        declared = {deref(p)["name"]: deref(p) for p in item.get("parameters", [])}
        for method in set(item) - {"parameters", "summary", "description", "servers"}:
            assert method in HTTP_METHODS, f"{path}: '{method}' is not an HTTP method"
            op = item[method]
            names = {**declared, **{deref(p)["name"]: deref(p) for p in op.get("parameters", [])}}
            for name in re.findall(r"\{(\w+)\}", path):
                assert name in names, f"{method.upper()} {path}: path parameter {name} is not declared"
                assert names[name]["in"] == "path" and names[name]["required"] is True
            assert op["responses"], f"{method.upper()} {path} has no responses"
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", str(code)), f"{path} {code}"
                assert isinstance(code, str), f"{method.upper()} {path}: quote status {code} (YAML makes it an int)"
                assert deref(response)["description"], f"{method.upper()} {path} {code} has no description"
    for where, media in media_types(spec):
        assert "schema" in media, where


def test_schemas_use_only_what_the_checker_checks(spec: dict[str, Any]) -> None:
    for where, schema in all_schemas(spec):
        unknown = set(schema) - KEYWORDS - ANNOTATIONS
        assert not unknown, f"{where} uses {unknown}: teach check() or drop them"
        kinds = schema.get("type", [])
        assert set(kinds if isinstance(kinds, list) else [kinds]) <= JSON_TYPES, where
        if "pattern" in schema:
            re.compile(schema["pattern"])


def test_examples_conform_to_their_schemas(spec: dict[str, Any]) -> None:
    for where, media in media_types(spec):
        if "example" in media:
            assert check(media["example"], media["schema"], where) == []
    for where, schema in all_schemas(spec):
        if "example" in schema:
            assert check(schema["example"], schema, where) == [], where


def test_openapi_spec_validator_accepts_it() -> None:
    validator = pytest.importorskip(
        "openapi_spec_validator",
        reason="openapi-spec-validator is not installed; the structural checks above still ran")
    validator.validate(_load())


def test_space_variants_list_every_field_as_required(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    variants = [deref(v) for v in schemas["Space"]["oneOf"]]
    assert schemas["RemoteSpace"] in variants
    for variant in variants:
        assert variant["additionalProperties"] is False
        assert set(variant["required"]) == set(variant["properties"])
    remote = schemas["RemoteSpace"]["properties"]
    assert remote["status"]["enum"] == list(STATUSES)
    for kind in BUILT_IN:  # kinds are open (entry points): the built-in ones are named
        assert f"`{kind}`" in remote["kind"]["description"], f"{kind} is missing from RemoteSpace.kind"
    for name in ("used_bytes", "quota_bytes"):
        assert sorted(remote[name]["type"]) == ["integer", "null"]
    assert {"message", "reason"} <= set(schemas["Error"]["required"])
    for name in ("KindForm", "Kept"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert schemas["Field"]["properties"]["type"]["enum"] == list(get_args(FieldType))


def test_every_driver_says_how_a_form_asks_for_it() -> None:
    """The add-space form shows a kind's name, and each setting with a label and a type."""
    from nbspaces.drivers import driver_class

    for kind in BUILT_IN:
        cls = driver_class(kind)  # make test installs every optional driver
        form = registry.kind_form(kind)
        assert form is not None and form["label"] == cls.kind_label and form["label"] != kind, kind
        for field in form["setting_fields"]:  # settings are never secrets
            assert field["label"] and field["type"] in ("url", "string", "boolean", "integer", "select"), (kind, field)
        for field in form["credential_fields"]:
            assert field["label"] and field["secret"] == (field["type"] in ("password", "secret")), (kind, field)
    # What each kind can do is said as its driver declares it (D4Science's downloads have no Range).
    caps = {kind: registry.kind_form(kind)["capabilities"] for kind in BUILT_IN}  # type: ignore[index]
    assert caps["d4science"]["ranged_reads"] is False and caps["s3"]["ranged_reads"] is True
    assert caps["webdav"]["server_copy"] and caps["smb"]["usage"] and not caps["sftp"]["server_copy"]


def test_who_decides_what_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = str(tmp_path)
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}
    assert kept.kept_folders(root, ["/mnt/project"], True, hub) == (["/mnt/project"], "config")
    assert kept.kept_folders(root, [], False, {}) == ([], "config")  # the admin says: nothing
    assert kept.kept_folders(root, None, True, hub) == ([root], "plan")
    assert kept.kept_folders(root, None, False, hub) == ([str(tmp_path / "home")], "home")
    assert kept.kept_folders(root, None, False, {}) == ([root], "local")  # jupyter lab on a laptop


def test_kept_paths_relative_to_the_file_tree(tmp_path: Path) -> None:
    home = tmp_path / "home" / "ada"
    home.mkdir(parents=True)
    (tmp_path / "scratch").mkdir()
    assert kept.kept_paths(str(home), [str(home)]) == [""]
    assert kept.kept_paths(str(home / "sub"), [str(home)]) == [""]
    assert kept.kept_paths(str(tmp_path), [str(home)]) == ["home/ada"]
    assert kept.kept_paths(str(tmp_path / "scratch"), [str(home)]) == []
    assert kept.kept_paths(str(tmp_path), [str(home), str(tmp_path / "scratch")]) == ["home/ada", "scratch"]
    assert kept.kept_paths("/", [str(home)]) == [str(home).lstrip("/")]


# -- the document against the code -------------------------------------------------------


def _prefix(spec: dict[str, Any]) -> str:
    url = spec["servers"][0]["url"]
    return re.sub(r"^\{\w+\}", "", url)


def _template(route: str) -> str:
    return re.sub(r"\(\?P<(\w+)>[^()]*\)", r"{\1}", route)


def _groups(route: str) -> dict[str, str]:
    return dict(re.findall(r"\(\?P<(\w+)>([^()]*)\)", route))


def test_every_route_is_documented_and_every_path_is_routed(spec: dict[str, Any]) -> None:
    prefix = _prefix(spec)
    assert prefix == "/nbspaces/api"
    routes = {_template(route).removeprefix(prefix): route for route, _ in HANDLERS}
    assert all(_template(route).startswith(prefix + "/") for route, _ in HANDLERS)
    assert set(routes) == set(spec["paths"]), "routes and documented paths differ"
    for path, route in routes.items():
        item = spec["paths"][path]
        params = {deref(p)["name"]: deref(p) for p in item.get("parameters", [])}
        for _, _, op in operations({"paths": {path: item}}):
            params |= {deref(p)["name"]: deref(p) for p in op.get("parameters", [])}
        for name, regex in _groups(route).items():
            schema = params[name]["schema"]
            if "enum" in schema:
                assert sorted(schema["enum"]) == sorted(regex.split("|")), f"{path}: {name} values"
            else:
                assert schema["pattern"] == f"^{regex}$", f"{path}: {name} pattern differs from the route"
        # A concrete path built from the documented parameters reaches this very route.
        examples = {name: (p["schema"].get("enum") or ["b2drop"])[0] for name, p in params.items()}
        sample = path.format(**examples)
        matching = [r for r, _ in HANDLERS if re.fullmatch(r, prefix + sample)]
        assert matching == [route], f"{sample} is routed to {matching}"


def _methods(cls: type) -> set[str]:
    """HTTP methods the nbspaces handler class defines (not the ones jupyter_server's APIHandler gives)."""
    found: set[str] = set()
    for klass in cls.__mro__:
        if klass is APIHandler:
            break
        found |= {m for m in HTTP_METHODS if m in vars(klass)}
    return found


def test_every_method_is_documented_and_nothing_else(spec: dict[str, Any]) -> None:
    prefix = _prefix(spec)
    assert all(_methods(cls) for _, cls in HANDLERS)
    for route, cls in HANDLERS:
        item = spec["paths"][_template(route).removeprefix(prefix)]
        documented = {m for m in HTTP_METHODS if m in item}
        assert documented == _methods(cls), f"{cls.__name__}: code {_methods(cls)}, document {documented}"


def test_every_status_the_code_raises_is_documented(spec: dict[str, Any]) -> None:
    raised: set[str] = set()
    for module in (handlers, registry):
        for call in ast.walk(ast.parse(Path(module.__file__ or "").read_text())):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name in ("RegistryError", "HTTPError"):
                raised |= {str(node.value) for node in ast.walk(call.args[0])
                           if isinstance(node, ast.Constant) and isinstance(node.value, int)}
    assert {"400", "403", "404", "409", "502", "503"} <= raised
    documented = {code for _, _, op in operations(spec) for code in op["responses"]}
    assert raised <= documented, f"statuses the code raises but no operation documents: {raised - documented}"


# -- real answers against the document ---------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, DavServer]]:
    base = tmp_path_factory.mktemp("openapi")
    dav = wsgidav(base)
    hub = start_hub(base / "hub", f"""
        c.NBSpaces.remote = {{"b2drop": {{"kind": "webdav", "url": "{dav.url}", "label": "B2DROP",
                                        "groups": {{"*": "rw"}}}}}}
        c.NBSpaces.user_kinds = ["webdav"]
        c.NBSpaces.posix_mounts = False
        c.NBSpaces.cull_timeout = 0
    """)
    try:
        hub.ensure_user("ada")
        hub.spawn("ada")
        yield hub, dav
    finally:
        hub.api("DELETE", "/users/ada/server")
        hub.stop()
        dav.stop()


class Client:
    """Requests to the nbspaces API of ada's server; each answer is checked against the document."""

    def __init__(self, hub: Hub, secrets: list[str]):
        self.hub, self.secrets = hub, secrets
        self.spec = _load()
        self.prefix = _prefix(self.spec)

    def __call__(self, method: str, template: str, status: int, *, auth: bool = True, **kwargs: Any) -> Any:
        values = kwargs.pop("path", {})
        path = self.prefix + template.format(**values)
        if auth:
            r = self.hub.server("ada", method, path, **kwargs)
        else:
            r = requests.request(method, f"{self.hub.url}/user/ada{path}", timeout=60, **kwargs)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        for secret in self.secrets:
            assert secret not in r.text, f"{method} {path} answered a secret"
        op = self.spec["paths"][template][method.lower()]
        assert str(status) in op["responses"], f"{method} {template} answers {status}, which is not documented"
        response = deref(op["responses"][str(status)])
        if "content" not in response:
            assert r.content == b"", f"{method} {path}: {status} is documented without a body"
            return None
        assert r.headers["Content-Type"].split(";")[0] in response["content"]
        body = r.json()
        errors = check(body, response["content"]["application/json"]["schema"])
        assert errors == [], f"{method} {path} {status}: {errors}\n{body}"
        return body


def exactly_required(value: dict[str, Any], schema_name: str) -> None:
    schema = _load()["components"]["schemas"][schema_name]
    assert set(value) == set(schema["required"]), (
        f"{value.get('name')}: undocumented {set(value) - set(schema['required'])}, "
        f"missing {set(schema['required']) - set(value)}")
    assert check(value, schema) == []


def test_real_answers_conform(site: tuple[Hub, DavServer]) -> None:
    hub, dav = site
    api = Client(hub, [dav.password])
    creds = {"username": dav.user, "password": dav.password}

    assert api("GET", "/kept", 200) == {"kept": [""], "source": "plan"}  # the whole tree is the home
    listing = api("GET", "/spaces", 200)
    spaces = {s["name"]: s for s in listing["spaces"]}
    assert listing["user_kinds"] == ["webdav"] and listing["isolation"] == "basic"
    webdav = listing["kinds"]["webdav"]
    assert set(listing["kinds"]) == {"webdav"} and webdav["label"] == "WebDAV" and webdav["login"] is False
    assert webdav["credential_fields"] == spaces["b2drop"]["credential_fields"]
    assert [(f["name"], f["type"], f["required"]) for f in webdav["setting_fields"]][:2] == [
        ("url", "url", True), ("label", "string", False)]
    assert spaces["b2drop"]["has_credentials"] is False and spaces["home"]["has_credentials"] is False
    assert listing["spaces"][0]["kind"] == "home"
    exactly_required(spaces["home"], "LocalSpace")
    exactly_required(spaces["b2drop"], "RemoteSpace")
    assert spaces["b2drop"]["status"] == "needs-credentials"
    assert {f["name"]: f["secret"] for f in spaces["b2drop"]["credential_fields"]} == {"username": False,
                                                                                      "password": True}

    assert api("GET", "/spaces", 403, auth=False)["message"] == "Forbidden"
    assert api("GET", "/spaces/{name}", 404, path={"name": "home"})["reason"] is None

    # Wrong credentials: refused, nothing changes; right ones: mounted.
    wrong = api("PUT", "/spaces/{name}/credentials", 400, path={"name": "b2drop"},
                json={**creds, "password": "not-the-password"})
    assert wrong == {"message": "B2DROP refused the user name or password", "reason": None}  # not Nextcloud
    assert api("PUT", "/spaces/{name}/credentials", 400, path={"name": "b2drop"},
               json={**creds, "token": "x"})["message"].startswith("Unknown fields: token")
    assert api("GET", "/spaces/{name}", 200, path={"name": "b2drop"})["status"] == "needs-credentials"
    assert api("GET", "/spaces/{name}", 200, path={"name": "b2drop"})["has_credentials"] is False  # not kept
    mounted = api("PUT", "/spaces/{name}/credentials", 200, path={"name": "b2drop"}, json=creds)
    exactly_required(mounted, "RemoteSpace")
    assert mounted["has_credentials"] is True
    assert mounted["status"] == "mounted" and mounted["posix"] is False
    assert mounted["reason"] == "" and mounted["posix_reason"].startswith("browser and Python API only")

    for action, status in (("unmount", "unmounted"), ("mount", "mounted"), ("retry", "mounted")):
        space = api("POST", "/spaces/{name}/{action}", 200, path={"name": "b2drop", "action": action})
        exactly_required(space, "RemoteSpace")
        assert space["status"] == status

    # Spaces of the user's own.
    new = {"name": "mydav", "kind": "webdav", "settings": {"url": dav.url, "label": "Mine"}, "credentials": creds}
    added = api("POST", "/spaces", 201, json=new)
    exactly_required(added, "RemoteSpace")
    assert added["origin"] == "user" and added["status"] == "mounted"
    api("POST", "/spaces", 409, json=new)
    api("POST", "/spaces", 403, json={"name": "s3x", "kind": "s3", "settings": {}})
    api("POST", "/spaces", 400, json={"name": "bad", "kind": "webdav", "settings": {"colour": "red"}})
    down = {**new, "name": "down", "settings": {"url": f"http://127.0.0.1:{free_port()}/dav"}}
    assert "cannot be reached" in api("POST", "/spaces", 502, json=down)["message"]
    api("DELETE", "/spaces/{name}", 403, path={"name": "b2drop"})

    listing = api("GET", "/spaces", 200)
    spaces = {s["name"]: s for s in listing["spaces"]}
    assert "down" not in spaces
    for space in listing["spaces"]:
        exactly_required(space, "LocalSpace" if space["kind"] in ("home", "shared") else "RemoteSpace")
    assert spaces["b2drop"]["status"] == spaces["mydav"]["status"] == "mounted"

    assert spaces["mydav"]["has_credentials"] is True
    forgot = api("DELETE", "/spaces/{name}/credentials", 200, path={"name": "mydav"})
    exactly_required(forgot, "RemoteSpace")
    assert forgot["has_credentials"] is False
    assert forgot["status"] == "needs-credentials" and forgot["used_bytes"] is None
    assert api("DELETE", "/spaces/{name}", 204, path={"name": "mydav"}) is None
    api("GET", "/spaces/{name}", 404, path={"name": "mydav"})
