"""Container entrypoint: make the state directory the service user's, drop root, run the command.

`docker run -v /some/host/dir:/srv/digits/state` mounts a directory as the host has it, usually owned
by root; the server (uid 10001) could not write its job database there. Started as root (the
default), this takes ownership of the state and models directories, then becomes uid/gid 10001 for
good before exec'ing the command. Started with `--user`, it only checks that the state directory is
writable and says what to do if not.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

SERVICE_UID = SERVICE_GID = 10001
SERVICE_HOME = "/home/digits"


def writable_dirs() -> list[Path]:
    state = Path(os.environ.get("DIGITS_STATE_DIR", "/srv/digits/state"))
    models = os.environ.get("DIGITS_MODELS_DIR")
    return [state] + ([Path(models)] if models else [])


def take_ownership(top: Path) -> None:
    """chown TOP and everything under it to the service user (only what is not already theirs)."""
    top.mkdir(parents=True, exist_ok=True)
    for directory, subdirs, files in os.walk(top):
        for path in [directory, *(os.path.join(directory, name) for name in subdirs + files)]:
            info = os.lstat(path)
            if (info.st_uid, info.st_gid) != (SERVICE_UID, SERVICE_GID):
                os.lchown(path, SERVICE_UID, SERVICE_GID)


def main() -> None:
    command = sys.argv[1:] or ["python", "-m", "app"]
    if os.getuid() == 0:
        for directory in writable_dirs():
            try:
                take_ownership(directory)
            except OSError as exc:  # e.g. a read-only or root-squashed mount: the server says what fails
                sys.stderr.write(f"digits-entrypoint: cannot take ownership of {directory}: {exc}\n")
        os.setgroups([])
        os.setgid(SERVICE_GID)
        os.setuid(SERVICE_UID)
        os.environ.update(HOME=SERVICE_HOME, USER="digits", LOGNAME="digits")
    else:
        for directory in writable_dirs():
            with contextlib.suppress(OSError):
                directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK | os.X_OK):
                sys.stderr.write(
                    f"digits-entrypoint: {directory} is not writable by uid {os.getuid()}: give that uid the "
                    f"directory (chown {os.getuid()} on the host) or run without --user\n"
                )
                sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
