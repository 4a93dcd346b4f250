"""Files of the charger: written whole or not at all, and readable by their owner only."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

_log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` via a new file created with ``mode``, synced and renamed.

    The file has its final mode from the first byte: a key is never readable by
    others, not even briefly.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)  # the umask may have taken bits a reader needs
            os.fsync(out.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


# For the charger's own process: new files and directories open to the owner only.
OWNER_ONLY_UMASK = 0o077


def restrict_to_owner(root: Path) -> list[tuple[Path, int]]:
    """Take every permission of group and others from ``root`` and all below it.

    Returns each path changed with its old mode. The owner's own bits stay (an
    executable stays executable to its owner). Symbolic links are neither
    changed nor followed: what they point at is not ours. A path that cannot
    be changed (another user's file) is logged and left.
    """
    changed: list[tuple[Path, int]] = []
    _tighten(root, changed)
    for directory, subdirs, names in os.walk(root):  # top-down, links not followed
        for name in [*subdirs, *names]:
            _tighten(Path(directory, name), changed)
    return changed


def _tighten(path: Path, changed: list[tuple[Path, int]]) -> None:
    try:
        status = path.lstat()
        mode = stat.S_IMODE(status.st_mode)
        if stat.S_ISLNK(status.st_mode) or not mode & 0o077:
            return
        path.chmod(mode & 0o700)
    except FileNotFoundError:
        return  # gone meanwhile (a temporary file): nothing left to protect
    except OSError as exc:
        _log.warning("cannot take the access of other users away from %s: %s", path, exc)
        return
    changed.append((path, mode))
