"""What a path is, in words, for the error that refuses it.

``Path.is_file()`` and ``is_dir()`` are both False for a symbolic-link loop, a dangling link, a device
such as ``/dev/zero`` or a named pipe, and "no such file or folder" then sends a user looking for a
typo in a name that exists.  ``not_an_input`` says what the path is instead.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from headstart.errors import HeadstartError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def path_kind(path: str | os.PathLike) -> str:
    """"a file", "a folder", "a character device", "a symbolic link loop", "no such file or folder", ..."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop (it leads back to itself)"
        if error.errno in (errno.ENOENT, errno.ENOTDIR) and os.path.islink(path):
            return f"a symbolic link to {os.readlink(path)}, which does not exist"
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file or folder"
        return f"cannot be looked at ({error.strerror or error})"
    return next((kind for is_kind, kind in _KINDS if is_kind(mode)), "not a file or folder")


def not_an_input(path: str | os.PathLike, wanted: str = "a file or folder") -> HeadstartError:
    """The error for an input path that is not ``wanted``: names what it is instead."""
    kind = path_kind(path)
    if kind.startswith(("a file", "a folder", "a character", "a block", "a named", "a socket")):
        return HeadstartError(f"{path}: {kind}, not {wanted}")
    return HeadstartError(f"{path}: {kind}")


def check_readable_file(path: Path) -> None:
    """Refuse a folder, a device (``/dev/zero`` never ends) or a missing path before opening it as a file.
    A named pipe is allowed: ``<(zcat train.tsv.gz)`` is one."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise not_an_input(path, "a file") from None
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise not_an_input(path, "a file")
