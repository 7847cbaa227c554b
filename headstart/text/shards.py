"""Token shards on disk: the writer used by ``prepare_text`` and ``TokenShards``, the reader used by
the training engine.

A prepared folder holds, per split, raw little-endian arrays ``{split}_{index:05d}.bin`` (no header:
the manifest says the dtype and each shard's token count), ``tokenizer.json`` and ``manifest.json``.
Each split is one stream of tokens, documents back to back, each ended by the EOS token; shards cut
that stream at a fixed size, so a document may continue in the next shard.  Raw arrays rather than
``.npy`` files keep every shard a plain ``np.memmap`` / ``np.fromfile`` away from any language.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import HeadstartError
from headstart.output_folder import MANIFEST_NAME, read_manifest

from .plugin import MANIFEST_FORMAT  # named where the modality registers
MANIFEST_VERSION = 1
SPLITS = ("train", "val")
_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (vocab_size <= 65535), else uint32: half the disk and page cache."""
    return _DTYPES["uint16"] if vocab_size <= 65535 else _DTYPES["uint32"]


def dtype_name(dtype: np.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[np.dtype(dtype)]


class ShardWriter:
    """Appends documents' tokens to one split's shard files, starting a new file every
    ``shard_tokens`` tokens."""

    def __init__(self, directory: Path, split: str, dtype: np.dtype, shard_tokens: int):
        if shard_tokens < 1:
            raise ValueError("shard_tokens must be >= 1")
        self.directory, self.split, self.dtype = Path(directory), split, np.dtype(dtype)
        self.shard_tokens = shard_tokens
        self.documents = 0
        self.tokens = 0
        self._shards: list[dict[str, Any]] = []
        self._file = None
        self._room = 0  # tokens the open shard can still take

    def add_document(self, tokens: np.ndarray) -> None:
        """Append one document's tokens (its EOS included)."""
        tokens = np.asarray(tokens, dtype=self.dtype)
        self.documents += 1
        self.tokens += len(tokens)
        while len(tokens):
            if self._room == 0:
                self._open_next_shard()
            head, tokens = tokens[: self._room], tokens[self._room:]
            self._file.write(head.data)  # a view of the array: no copy
            self._room -= len(head)
            self._shards[-1]["tokens"] += len(head)

    def close(self) -> dict[str, Any]:
        """Close the open shard and return this split's manifest entry."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return {"documents": self.documents, "tokens": self.tokens, "shards": self._shards}

    def _open_next_shard(self) -> None:
        if self._file is not None:
            self._file.close()
        name = f"{self.split}_{len(self._shards):05d}.bin"
        self._file = open(self.directory / name, "wb", buffering=1 << 20)
        self._shards.append({"file": name, "tokens": 0})
        self._room = self.shard_tokens


def load_manifest(prepared_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and validate ``manifest.json``; check that every shard exists with the right size."""
    directory = Path(prepared_dir)
    path = directory / MANIFEST_NAME
    manifest = read_manifest(directory, made_by="headstart prepare text", expected_format=MANIFEST_FORMAT,
                             expected_version=MANIFEST_VERSION)
    try:
        dtype = _DTYPES[manifest["dtype"]]
        splits = manifest["splits"]
        for split, entry in splits.items():
            _check_split(directory, path, split, entry, dtype)
        tokenizer_file = inside_folder(directory, path, manifest["tokenizer"]["file"])
        int(manifest["vocab_size"])
        dict(manifest["tokenizer"]["special_tokens"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HeadstartError(f"{path}: malformed manifest ({type(error).__name__}: {error})") from None
    if not tokenizer_file.is_file():
        raise HeadstartError(f"{tokenizer_file}: tokenizer file named in {path} is missing")
    return manifest


def inside_folder(directory: Path, manifest_path: Path, entry: str) -> Path:
    """``directory / entry`` when that is a file in the folder.  A manifest is data, perhaps copied from
    elsewhere: an absolute path or ``..`` in it must not make a reader map or parse any file on the machine."""
    if not isinstance(entry, str):
        raise TypeError(f"file entry {entry!r} is not a string")
    folder = directory.resolve()
    resolved = (folder / entry).resolve()
    if resolved == folder or not resolved.is_relative_to(folder):
        raise HeadstartError(f"{manifest_path}: file entry {entry!r} is not inside the prepared folder {directory}")
    return directory / entry


def _check_split(directory: Path, manifest_path: Path, split: str, entry: dict, dtype: np.dtype) -> None:
    total = 0
    for shard in entry["shards"]:
        shard_path = inside_folder(directory, manifest_path, shard["file"])
        expected = int(shard["tokens"]) * dtype.itemsize
        if not shard_path.is_file():
            raise HeadstartError(f"{shard_path}: shard listed in {manifest_path} is missing")
        actual = shard_path.stat().st_size
        if actual != expected:
            raise HeadstartError(
                f"{shard_path}: {actual} bytes, but the manifest says {shard['tokens']} tokens "
                f"x {dtype.itemsize} bytes = {expected}; the shard is truncated or from another run"
            )
        total += int(shard["tokens"])
    if total != int(entry["tokens"]):
        raise HeadstartError(
            f"{manifest_path}: split {split!r} says {entry['tokens']} tokens but its shards hold {total}"
        )


class TokenShards:
    """One split of a prepared folder, read as a single token stream through memory maps.

    >>> train = TokenShards("data/prepared", "train")
    >>> window = train.read(start=1_000, length=257)   # np.int64 array, may span two shards

    Nothing is read until ``read`` touches it: the OS pages shards in and out, so a corpus far
    larger than RAM is fine.
    """

    def __init__(self, prepared_dir: str | os.PathLike, split: str = "train"):
        self.prepared_dir = Path(prepared_dir)
        self.split = split
        self.manifest = load_manifest(self.prepared_dir)
        if split not in self.manifest["splits"]:
            known = ", ".join(self.manifest["splits"])
            raise HeadstartError(f"{self.prepared_dir / MANIFEST_NAME}: no split {split!r} (splits: {known})")
        entry = self.manifest["splits"][split]
        self.dtype = _DTYPES[self.manifest["dtype"]]
        self.vocab_size: int = int(self.manifest["vocab_size"])
        self.special_tokens: dict[str, int] = dict(self.manifest["tokenizer"]["special_tokens"])
        self.tokenizer_path = self.prepared_dir / self.manifest["tokenizer"]["file"]
        self.documents: int = int(entry["documents"])
        self._shards = [
            np.memmap(self.prepared_dir / shard["file"], dtype=self.dtype, mode="r")
            for shard in entry["shards"]
            if int(shard["tokens"]) > 0  # np.memmap cannot map an empty file
        ]
        sizes = [len(shard) for shard in self._shards]
        # _starts[i] is the stream position of shard i's first token; _starts[-1] == n_tokens.
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self.n_tokens: int = int(self._starts[-1])

    def __len__(self) -> int:
        return self.n_tokens

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens ``[start, start + length)`` of the split's stream, as a new int64 array."""
        if start < 0 or length < 0 or start + length > self.n_tokens:
            raise IndexError(
                f"read({start}, {length}) is outside the {self.split} split's {self.n_tokens} tokens"
            )
        out = np.empty(length, dtype=np.int64)
        shard = int(np.searchsorted(self._starts, start, side="right")) - 1
        filled = 0
        while filled < length:
            begin = start + filled - int(self._starts[shard])
            take = min(length - filled, len(self._shards[shard]) - begin)
            out[filled: filled + take] = self._shards[shard][begin: begin + take]
            filled += take
            shard += 1
        return out

    def __reduce__(self):
        # Sending a TokenShards to a DataLoader worker must not copy the mapped shards into the
        # message (np.memmap pickles its data); reopen them from the folder on the other side.
        return (type(self), (str(self.prepared_dir), self.split))

    def __repr__(self) -> str:
        return (f"TokenShards({str(self.prepared_dir)!r}, {self.split!r}: {self.n_tokens:,} tokens, "
                f"{len(self._shards)} shards, vocab {self.vocab_size})")
