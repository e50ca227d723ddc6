"""``nbspaces``: the spaces of this server from a terminal, through the server's own REST API.

    nbspaces list               every space, its status and usage
    nbspaces login b2drop       ask for the credentials (secrets with a hidden prompt, a key from its file)
    nbspaces mount B2DROP       connect again, by name or label; also: umount, retry, logout

It runs in a terminal or kernel of a server spawned by nbspaces, and uses that server's
address and token from the environment, so it sees the same registry as the Data panel.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from .sizes import format_size


class CLIError(Exception):
    def __init__(self, message: str, offer: dict[str, str] | None = None):
        super().__init__(message)
        self.offer = offer  # what the server offers to trust (an SFTP host key)


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    base, token = os.environ.get("JUPYTERHUB_SERVICE_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
    if not base or not token:
        raise CLIError("run this in a terminal or notebook of your server (no JUPYTERHUB_SERVICE_URL here)")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base.rstrip('/')}/nbspaces/api/{path}", data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return json.loads(r.read() or b"{}")  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
        except ValueError:
            answer = {}
        raise CLIError(str(answer.get("message") or e.reason), answer.get("offer")) from None
    except OSError as e:
        raise CLIError(f"your server cannot be reached: {e}") from None


def _usage(space: dict[str, Any]) -> str:
    used, total = space.get("used_bytes"), space.get("quota_bytes")
    if used is None:
        return ""
    return f"{format_size(used)} of {format_size(total)}" if total else format_size(used)


def cmd_list(_: argparse.Namespace) -> None:
    spaces = _call("GET", "spaces")["spaces"]
    rows = [("NAME", "KIND", "FOLDER", "MODE", "STATUS", "USAGE")]
    for s in spaces:
        status = s["status"] + (f" ({s['reason']})" if s.get("reason") else "")
        if s["status"] == "mounted" and s.get("posix_reason"):
            status += f" ({s['posix_reason']})"
        rows.append((s["name"], s["kind"], s["mount"] or "~", s["mode"], status, _usage(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5])


def _space(name_or_label: str) -> dict[str, Any]:
    """A remote space by its name or by its label (what the Data panel shows)."""
    spaces = [s for s in _call("GET", "spaces")["spaces"] if s["kind"] not in ("home", "shared")]
    for match in (lambda s: s["name"] == name_or_label, lambda s: s["settings"].get("label") == name_or_label):
        found = [s for s in spaces if match(s)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CLIError(f"{len(found)} spaces are labelled {name_or_label!r}: use a name from `nbspaces list`")
    raise CLIError(f"there is no space named or labelled {name_or_label!r}; `nbspaces list` shows them")


def _ask(field: dict[str, Any], space: str) -> str:
    """One credential, asked as its type says: secrets hidden, a multi-line secret read from a file."""
    optional = "" if field["required"] else " (Enter to skip)"
    if field.get("help"):
        print(f"  {field['label']}: {field['help']}")
    if field["type"] == "secret":
        path = input(f"{field['label']} for {space}: the file that holds it{optional}: ").strip()
        if not path:
            return ""
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise CLIError(f"{path} cannot be read: {e.strerror}") from None
    prompt = f"{field['label']} for {space}{optional}: "
    return getpass.getpass(prompt) if field["secret"] else input(prompt)


def _trusted(error: CLIError, name: str) -> bool:
    """A server not trusted yet: show what to check, ask, and trust it if the user says so."""
    if error.offer is None:
        return False
    print(error)
    if input("Trust this server? [y/N] ").strip().lower() not in ("y", "yes"):
        raise CLIError("nothing was changed") from None
    _call("POST", f"spaces/{name}/accept", error.offer)
    return True


def cmd_login(args: argparse.Namespace) -> None:
    space = _space(args.name)
    name = space["name"]
    if not space["credential_fields"]:
        raise CLIError(f"{name} needs nothing from you: it uses your login, or no credentials")
    values = {f["name"]: _ask(f, name) for f in space["credential_fields"]}
    where = f"spaces/{name}/credentials" + ("?remember=false" if args.once else "")
    try:
        result = _call("PUT", where, values)
    except CLIError as e:
        if not _trusted(e, name):
            raise
        result = _call("PUT", where, values)
    print(f"{result['name']}: {result['status']}")


def _action(action: str) -> Any:
    def run(args: argparse.Namespace) -> None:
        name = _space(args.name)["name"]
        if action == "logout":
            result = _call("DELETE", f"spaces/{name}/credentials")
        else:
            result = _call("POST", f"spaces/{name}/{action}")
        print(f"{result['name']}: {result['status']}" + (f" ({result['reason']})" if result.get("reason") else ""))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbspaces", description="Your spaces: home, shared folders, remote storage")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every space, its status and usage").set_defaults(run=cmd_list)
    for name, helptext, run in (
        ("login", "give a space your credentials (tested before they are stored)", cmd_login),
        ("logout", "forget a space's credentials", _action("logout")),
        ("mount", "connect a space", _action("mount")),
        ("umount", "disconnect a space", _action("unmount")),
        ("retry", "try a failing space again", _action("retry")),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("name", help="the space's name or label, as `nbspaces list` and the Data panel show them")
        if name == "login":
            p.add_argument("--once", action="store_true",
                           help="use them until your server stops; do not store them (asked again at the next start)")
        p.set_defaults(run=run)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except CLIError as e:
        print(f"nbspaces: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
