"""Set the row count of a ``.npy`` file in place: how prepared folders write arrays whose length is
known only at the end (images skipped as unreadable, audio clips of unknown total length).

NumPy pads every header so that the first axis can change in place (``GROWTH_AXIS_MAX_DIGITS``):
rewriting it never moves a byte of data, so a file can be created empty, appended to, and given
its true shape last.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format


def set_npy_rows(path: Path, rows: int) -> None:
    """Rewrite ``path``'s header to ``rows`` along the first axis and cut (or keep) the data to match."""
    with open(path, "r+b") as f:
        version = npy_format.read_magic(f)
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
        data_offset = f.tell()
        header = io.BytesIO()
        write_header = npy_format.write_array_header_1_0 if version == (1, 0) else npy_format.write_array_header_2_0
        write_header(header, {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": fortran_order,
                              "shape": (rows, *shape[1:])})
        if header.tell() != data_offset:
            raise RuntimeError(f"{path}: the .npy header cannot be rewritten in place")
        f.seek(0)
        f.write(header.getvalue())
        f.truncate(data_offset + rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


class NpyAppender:
    """Write a ``.npy`` of rows ``(n, *row_shape)`` by appending blocks, without knowing ``n`` first."""

    def __init__(self, path: Path, dtype, row_shape: tuple[int, ...]):
        self.path, self.dtype, self.row_shape, self.rows = Path(path), np.dtype(dtype), tuple(row_shape), 0
        np.save(self.path, np.zeros((0, *self.row_shape), dtype=self.dtype), allow_pickle=False)
        self._file = open(self.path, "ab")

    def add(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: rows of shape {block.shape[1:]}, expected {self.row_shape}")
        self._file.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> int:
        self._file.close()
        set_npy_rows(self.path, self.rows)
        return self.rows
