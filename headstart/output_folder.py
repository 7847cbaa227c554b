"""Write a prepared folder all at once: into ``OUT.tmp-<pid>``, renamed to ``OUT`` only when complete.

``OUT`` is therefore either absent, the previous result, or a complete new one, never half-written,
whatever stops the run (an exception, Ctrl-C, a full disk).

>>> with staged_output(Path("data/images"), overwrite=False) as staging:
...     write_everything_into(staging)      # published when the block ends without an exception
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

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


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    with open(Path(directory) / MANIFEST_NAME, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


def read_manifest(prepared_dir, *, made_by: str, expected_format: str, expected_version: int) -> dict[str, Any]:
    """``manifest.json`` of a prepared folder, with its format and version checked; one-line errors."""
    directory = Path(prepared_dir)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        hint = f" (did `{made_by}` finish?)" if directory.is_dir() else ""
        raise HeadstartError(f"{path}: manifest not found{hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HeadstartError(f"{path}: not valid JSON ({error})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
    if found != expected_format:
        raise HeadstartError(f"{path}: format is {found!r}, expected {expected_format!r}")
    if manifest.get("version") != expected_version:
        raise HeadstartError(f"{path}: version {manifest.get('version')!r} is not supported (this headstart "
                             f"reads version {expected_version}); run `{made_by}` again")
    return manifest


def read_format(path) -> Optional[str]:
    """The ``format`` a prepared folder's manifest names, or None when ``path`` is not a prepared folder (no
    manifest); a manifest that cannot be read is a one-line error naming it."""
    manifest = Path(path) / MANIFEST_NAME
    if not (Path(path).is_dir() and manifest.is_file()):
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format")
    except (ValueError, OSError, AttributeError) as error:
        raise HeadstartError(f"{manifest}: unreadable manifest ({error})") from None


def headstart_version() -> str:
    """The installed headstart's version, for manifests: which code wrote a prepared folder."""
    from importlib import metadata

    try:
        return metadata.version("headstart")
    except metadata.PackageNotFoundError:  # a source checkout that is not installed
        import headstart

        return getattr(headstart, "__version__", "unknown")


def manifest_split(manifest: dict[str, Any], directory: Path, split: str) -> dict[str, Any]:
    """The manifest's entry for ``split``, or a one-line error listing the splits there are."""
    splits = manifest.get("splits", {})
    if split not in splits:
        raise HeadstartError(f"{Path(directory) / MANIFEST_NAME}: no split {split!r} (splits: {', '.join(splits)})")
    return splits[split]


def open_listed_npy(directory: Path, name: str, shape: tuple[int, ...], dtype):
    """A ``.npy`` file a manifest lists, memory-mapped (read into memory when empty), checked against the
    shape and dtype the manifest says; one-line errors for a missing, unreadable or mismatched file."""
    import numpy as np

    path = Path(directory) / name
    if not path.is_file():
        raise HeadstartError(f"{path}: listed in {Path(directory) / MANIFEST_NAME} but missing")
    try:
        array = np.load(path, mmap_mode="r" if shape[0] else None, allow_pickle=False)
    except ValueError as error:
        raise HeadstartError(f"{path}: not a readable .npy array ({error})") from None
    if array.shape != shape or array.dtype != dtype:
        raise HeadstartError(f"{path}: holds {array.dtype} {array.shape}, but the manifest says "
                             f"{np.dtype(dtype)} {shape}; the file is truncated or from another run")
    return array
