"""``nbspaces``: the spaces of this server from a terminal, through the server's own REST API.

    nbspaces list               every space, its status and usage
    nbspaces login b2drop       ask for the credentials (the secret with a hidden prompt)
    nbspaces mount b2drop       connect again; also: umount, retry, logout

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
    pass


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
            message = json.loads(e.read()).get("message") or e.reason
        except ValueError:
            message = e.reason
        raise CLIError(str(message)) from None
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


def cmd_login(args: argparse.Namespace) -> None:
    space = _call("GET", f"spaces/{args.name}")
    if not space["credential_fields"]:
        raise CLIError(f"{space['name']} needs nothing from you: it uses your login, or no credentials")
    values = {}
    for field in space["credential_fields"]:
        prompt = f"{field['label']} for {space['name']}: "
        values[field["name"]] = getpass.getpass(prompt) if field["secret"] else input(prompt)
    result = _call("PUT", f"spaces/{args.name}/credentials", values)
    print(f"{result['name']}: {result['status']}")


def _action(action: str) -> Any:
    def run(args: argparse.Namespace) -> None:
        if action == "logout":
            result = _call("DELETE", f"spaces/{args.name}/credentials")
        else:
            result = _call("POST", f"spaces/{args.name}/{action}")
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
        p.add_argument("name", help="the space's name, as `nbspaces list` shows it")
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
