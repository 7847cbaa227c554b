"""The idx format of MNIST and its kin (Fashion-MNIST, KMNIST, EMNIST), read as a stream.

A file is a header, then the values in C order: two zero bytes, a type byte, the number of
dimensions, then each dimension as a big-endian uint32.  Files usually come gzip-compressed
(``train-images-idx3-ubyte.gz``); the gzip magic bytes, not the name, decide how a file is opened.
"""
from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from headstart.errors import HeadstartError

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"


def looks_like_idx(path: Path) -> bool:
    """MNIST-style names: ``*-idx3-ubyte``, ``*-idx1-ubyte.gz``, ``*.idx``."""
    name = path.name.lower()
    return "-idx" in name or name.endswith((".idx", ".idx.gz"))


@contextmanager
def _open_idx(path: Path) -> Iterator[tuple[BinaryIO, np.dtype, tuple[int, ...]]]:
    """Yield (stream positioned at the first value, value dtype, dimensions).

    Read errors inside the ``with`` block become a HeadstartError naming the file, so only reads of
    this stream belong there.
    """
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            with (gzip.open(raw) if compressed else raw) as stream:
                head = stream.read(4)
                if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or head[3] == 0:
                    raise HeadstartError(f"{path}: not an idx file (header bytes {head.hex(' ') or 'missing'}; "
                                         f"expected 00 00, a type byte and the number of dimensions)")
                dims_bytes = stream.read(4 * head[3])
                if len(dims_bytes) < 4 * head[3]:
                    raise HeadstartError(f"{path}: idx header ends early (truncated file)")
                dims = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
                dtype = np.dtype(IDX_TYPES[head[2]])
                _check_size(path, dims, dtype, 4 + len(dims_bytes), compressed)
                yield stream, dtype, dims
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise HeadstartError(f"{path}: cannot read ({type(error).__name__}: {error})") from None


# Deflate never shrinks data more than about 1032:1, so a gzip file cannot hold more than this many
# bytes per compressed byte: a header that claims more is damaged, and is refused before anything the
# size of its claim is allocated.
MAX_GZIP_RATIO = 1100


def _check_size(path: Path, dims: tuple[int, ...], dtype: np.dtype, header_bytes: int, compressed: bool) -> None:
    """Refuse a header that the file cannot hold: a zero-sized image dimension, or more values than the
    file's bytes (exactly, uncompressed; within deflate's best ratio, gzip)."""
    if 0 in dims[1:]:
        raise HeadstartError(f"{path}: idx dimensions {' x '.join(map(str, dims))} include 0")
    data_bytes = math.prod(dims) * dtype.itemsize  # Python ints: no overflow, whatever the header says
    size = path.stat().st_size
    if compressed:
        if data_bytes > MAX_GZIP_RATIO * size:
            raise HeadstartError(f"{path}: the header says {' x '.join(map(str, dims))} values, more than "
                                 f"{size} compressed bytes can hold (damaged file?)")
    elif size - header_bytes < data_bytes:
        row_bytes = max(data_bytes // max(dims[0], 1), 1)
        raise HeadstartError(f"{path}: the header says {dims[0]} rows but the file ends after "
                             f"{(size - header_bytes) // row_bytes} (truncated download?)")


def idx_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(dimensions, dtype) from the header alone."""
    with _open_idx(path) as (_, dtype, dims):
        return dims, dtype


def read_idx(path: Path) -> np.ndarray:
    """The whole array, in native byte order (for labels: small)."""
    chunks = list(iter_idx_rows(path, rows_per_chunk=1 << 20))
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)


def iter_idx_rows(path: Path, rows_per_chunk: int = 4096) -> Iterator[np.ndarray]:
    """The array in chunks of up to ``rows_per_chunk`` rows along the first dimension, so a file
    larger than memory streams through."""
    with _open_idx(path) as (stream, dtype, dims):
        row_values = math.prod(dims[1:])
        for start in range(0, dims[0], rows_per_chunk):
            rows = min(rows_per_chunk, dims[0] - start)
            data = stream.read(rows * row_values * dtype.itemsize)
            if len(data) < rows * row_values * dtype.itemsize:
                got = start + len(data) // max(row_values * dtype.itemsize, 1)
                raise HeadstartError(f"{path}: the header says {dims[0]} rows but the file ends after {got} "
                                     f"(truncated download?)")
            yield np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(rows, *dims[1:])
