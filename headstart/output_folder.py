"""Write a prepared folder all at once: into ``OUT.tmp-<pid>``, renamed to ``OUT`` only when complete.

``OUT`` is therefore either absent, the previous result, or a complete new one, never half-written,
whatever stops the run (an exception, Ctrl-C, a full disk).

>>> with staged_output(Path("data/images"), overwrite=False) as staging:
...     write_everything_into(staging)      # published when the block ends without an exception
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from headstart.errors import HeadstartError

MANIFEST_NAME = "manifest.json"


def check_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse to write over anything but an empty folder, or (with ``overwrite``) a prepared one."""
    if out.exists() and not out.is_dir():
        raise HeadstartError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise HeadstartError(f"{out}: already exists and is not empty; pass --overwrite to replace it")
    if not (out / MANIFEST_NAME).is_file():
        # --overwrite deletes the old folder: make sure it is one that headstart wrote.
        raise HeadstartError(f"{out}: not a prepared folder (no {MANIFEST_NAME}); refusing to replace it")


@contextmanager
def staged_output(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out``; publish it as ``out`` if the block succeeds."""
    out = Path(out)
    check_output_folder(out, overwrite)
    staging = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)  # left over from a crashed run with a recycled pid
    try:
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        raise HeadstartError(f"{staging}: cannot create the output folder ({error.strerror or error})") from None
    try:
        yield staging
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):  # overwrite: allowed by check_output_folder
        retired = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.replace(out, retired)
        os.replace(staging, out)
        shutil.rmtree(retired)  # only now that the new folder is complete and in place
    else:
        if out.is_dir():
            out.rmdir()
        os.replace(staging, out)
