"""Run code in a real kernel of a user's server, as a notebook does (REST + kernel websocket)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.realhub import Hub


class KernelError(AssertionError):
    pass


def run_code(hub: Hub, user: str, code: str, timeout: float = 120) -> str:
    """Execute ``code`` in a new kernel; return its stdout, or raise KernelError with the traceback."""
    r = hub.server(user, "POST", "api/kernels", json={"name": "python3"})
    r.raise_for_status()
    kernel = r.json()["id"]
    try:
        return asyncio.run(asyncio.wait_for(_execute(hub, user, kernel, code), timeout))
    finally:
        hub.server(user, "DELETE", f"api/kernels/{kernel}")


async def _execute(hub: Hub, user: str, kernel: str, code: str) -> str:
    url = hub.url.replace("http://", "ws://") + f"/user/{user}/api/kernels/{kernel}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {hub.user_token(user)}"}))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                   "username": user, "version": "5.3", "date": datetime.now(UTC).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out: list[str] = []
    error: str | None = None
    try:
        while True:
            raw = await ws.read_message()
            if raw is None:
                raise KernelError("the kernel websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = "\n".join(msg["content"]["traceback"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        ws.close()
    if error is not None:
        raise KernelError(error)
    return "".join(out)
