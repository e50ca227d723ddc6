"""Strong isolation: a user's own mount namespace, with their home and shared folders mounted.

Run by the local spawner as root, under ``unshare --mount --propagation private``, as a
file (it imports only the standard library)::

    python -I .../nbspaces/spawner/launch.py

It reads its instructions (no secrets: paths, uid, gid) as one JSON line on stdin, mounts
the home image over the home folder, bind-mounts each shared folder into the home
(read-only where the user may not write), gives the namespace a private /tmp and a name for
the user, prints ``ready`` and waits until stdin closes. Meanwhile the spawner takes a handle
on the namespace; the server's own process enters it and drops root before it runs the
server (``LocalSpaceSpawner.make_preexec_fn``). When the last process of the namespace has
exited, the kernel unmounts everything and frees the loop device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _bind(source: str, target: str, read_only: bool) -> str | None:
    """Bind-mount a shared folder; return why it was skipped, if it was."""
    if os.path.islink(target) or (os.path.exists(target) and not os.path.isdir(target)):
        return f"{target} is not a folder"
    if os.path.isdir(target) and os.listdir(target):
        return f"{target} holds the user's own files"
    os.makedirs(target, mode=0o755, exist_ok=True)
    _mount("--bind", source, target)
    # The remount makes the bind itself read-only: the kernel answers EROFS to every write.
    flags = "remount,bind,nosuid,nodev" + (",ro" if read_only else "")
    _mount("-o", flags, target)
    return None


def _name_the_user(nss_dir: str, name: str, uid: int, gid: int, home: str) -> None:
    """Give a uid with no account a name, in this namespace only.

    Copies of /etc/passwd and /etc/group with the user's entry are bind-mounted over the
    originals here; the host's files are untouched. Tools that ask "who am I" (fusermount3,
    pip, git, ssh) then work.
    """
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev,noexec,size=4m", "tmpfs", nss_dir)
    for table, line in (("passwd", f"{name}:x:{uid}:{gid}:nbspaces user:{home}:/bin/bash\n"),
                        ("group", f"{name}:x:{gid}:\n")):
        with open(f"/etc/{table}") as f:
            original = f.read()
        copy = os.path.join(nss_dir, table)
        with open(copy, "w") as f:
            f.write(original if original.endswith("\n") else original + "\n")
            f.write(line)
        os.chmod(copy, 0o644)
        _mount("--bind", copy, f"/etc/{table}")


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    home = spec["home"]
    try:
        _mount("-o", "loop,nosuid,nodev", spec["image"], home)
        os.chown(home, int(spec["uid"]), int(spec["gid"]))
        os.chmod(home, 0o700)
        for bind in spec["binds"]:
            target = os.path.join(home, bind["target"])
            skipped = _bind(bind["source"], target, bool(bind["read_only"]))
            if skipped:
                print(f"shared folder {bind['target']!r} not mounted: {skipped}", file=sys.stderr)
        if spec.get("tmp_size"):
            _mount("-t", "tmpfs", "-o", f"mode=1777,nosuid,nodev,size={spec['tmp_size']}", "tmpfs", "/tmp")
        if spec.get("user_name"):
            _name_the_user(spec["nss_dir"], spec["user_name"], int(spec["uid"]), int(spec["gid"]), home)
    except subprocess.CalledProcessError as e:
        print(f"{' '.join(e.cmd)}: {e.stderr.strip() or f'exit status {e.returncode}'}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    sys.stdin.read()  # the namespace lives on in the spawner's handle and the server
    return 0


if __name__ == "__main__":
    sys.exit(main())
