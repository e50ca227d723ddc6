"""Strong isolation: mount a user's spaces in their own mount namespace, then become them.

Run by the local spawner as root, under ``unshare --mount --propagation private``, as a
file (it imports only the standard library)::

    python -I .../nbspaces/spawner/launch.py -- jupyterhub-singleuser ...

It reads its instructions (no secrets: paths, uid, gid) from ``NBSPACES_LAUNCH``, mounts
the home image over the home folder, bind-mounts each shared folder into the home
(read-only where the user may not write), gives the server a private /tmp, drops every
privilege and executes the server. When the last process of the namespace exits, the
kernel unmounts everything and frees the loop device.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

LAUNCH_ENV = "NBSPACES_LAUNCH"


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


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("nbspaces launch: no command to run", file=sys.stderr)
        return 2
    spec = json.loads(os.environ.pop(LAUNCH_ENV))
    home, uid, gid = spec["home"], int(spec["uid"]), int(spec["gid"])

    _mount("-o", "loop,nosuid,nodev", spec["image"], home)
    os.chown(home, uid, gid)
    os.chmod(home, 0o700)
    for bind in spec["binds"]:
        target = os.path.join(home, bind["target"])
        skipped = _bind(bind["source"], target, bool(bind["read_only"]))
        if skipped:
            print(f"nbspaces: shared folder {bind['target']!r} not mounted: {skipped}", file=sys.stderr)
    if spec.get("tmp_size"):
        _mount("-t", "tmpfs", "-o", f"mode=1777,nosuid,nodev,size={spec['tmp_size']}", "tmpfs", "/tmp")
    if spec.get("user_name"):
        _name_the_user(spec["nss_dir"], spec["user_name"], uid, gid, home)

    # Only the groups of the shared folders this user may write; nothing of root's.
    os.setgroups([int(g) for g in spec.get("groups", [])])
    os.umask(0o002)  # what one writer of a shared folder creates, the others can change
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        print("nbspaces launch: could not drop privileges", file=sys.stderr)
        return 1
    os.chdir(home)
    program = shutil.which(argv[0]) or argv[0]
    try:
        os.execve(program, argv, os.environ)
    except OSError as e:
        print(
            f"nbspaces launch: uid {uid} cannot run {program} ({e.strerror}); point "
            "c.LocalSpaceSpawner.cmd at a Python environment every user can read",
            file=sys.stderr,
        )
    return 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
