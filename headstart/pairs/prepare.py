"""``prepare_pairs``: image–caption pairs -> decoded images + tokenised captions on disk, once.

One streaming pass decodes each image to the prepared size (as ``prepare images`` does) and appends
it, and its cleaned caption, to its split's files; a second pass over the caption files (small
beside the images) trains the tokenizer, unless one is given, and writes the token ids.  Neither
pass holds the collection in memory, so a corpus larger than RAM works.

Skipped, counted by reason and listed (the first ``MAX_LISTED``) in the manifest: unreadable images,
float images holding NaN or infinite values (``non_finite``), samples without an image or without a
caption, empty or non-UTF-8 captions, unsafe tar members, exact duplicates (same image bytes and
caption), and the rest of a cut-off shard.  Web-scraped pairs
always hold some broken samples, so the default ``max_bad_fraction`` is 5%; past it the run fails.

Captions longer than ``caption_len`` tokens are cut (counted as ``captions_truncated``), as CLIP cuts
at 77.  ``--tokenizer`` reuses a text model's tokenizer, which a text tower initialised from that
model needs; otherwise a byte-level BPE is trained on the training captions, lower-cased as CLIP's.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from tqdm import tqdm

from headstart.errors import HeadstartError
from headstart.npy_rows import NpyAppender
from headstart.output_folder import headstart_version, staged_output, write_manifest
from headstart.pairs.arrays import MANIFEST_FORMAT, MANIFEST_VERSION, SPLITS
from headstart.pairs.readers import RawPair, Skip, find_inputs, read_pairs
from headstart.tokenizer import load_tokenizer, special_token_ids, train_bpe
from headstart.vision.decode import CHANNELS, UnreadableImage, decode_image
from headstart.modality.splits import is_val

log = logging.getLogger("headstart.pairs")
MAX_LISTED = 50  # skipped samples named in the manifest; the counts cover all of them
TOKENIZE_BATCH = 1024


@dataclass(frozen=True)
class PairPrepareOptions:
    """Every knob of ``prepare_pairs``; recorded in the manifest's "options"."""

    size: int = 64
    mode: str = "RGB"
    caption_len: int = 32
    tokenizer: Optional[str] = None  # a tokenizer.json, or a folder/run holding one
    vocab_size: int = 8192
    lowercase: bool = True
    val_fraction: float = 0.05
    max_bad_fraction: float = 0.05
    image_field: str = "image"
    caption_field: str = "caption"
    overwrite: bool = False

    def validate(self) -> None:
        if self.mode not in CHANNELS:
            raise HeadstartError(f"mode {self.mode!r}: expected one of {', '.join(CHANNELS)}")
        if self.size <= 0 or self.caption_len <= 0:
            raise HeadstartError(f"size ({self.size}) and caption_len ({self.caption_len}) must be positive")
        if not 0 <= self.val_fraction < 1:
            raise HeadstartError(f"val_fraction {self.val_fraction}: expected a share in [0, 1)")


def prepare_pairs(inputs: Sequence[str | Path] | str | Path, out: str | Path, *, progress: bool = True,
                  **options) -> dict[str, Any]:
    """Prepare the pairs in ``inputs`` (shards, tables, or folders of them) into folder ``out``.

    >>> prepare_pairs(["shards/"], "data/pairs", size=64, caption_len=32)["stats"]["kept"]
    """
    opts = PairPrepareOptions(**options)
    opts.validate()
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    sources = find_inputs(inputs)
    tokenizer_file = _given_tokenizer(Path(opts.tokenizer)) if opts.tokenizer else None
    started = time.perf_counter()
    shape = (opts.size, opts.size, CHANNELS[opts.mode])
    with staged_output(Path(out), overwrite=opts.overwrite) as staging:
        counts, skipped, splits = _decode_all(sources, staging, shape, opts, progress)
        kept = sum(s["pairs"] for s in splits.values())
        found = kept + sum(counts.values())
        if kept == 0:
            raise HeadstartError(f"no usable image-caption pair in {', '.join(map(str, inputs))} "
                                 f"({_reasons(counts) or 'nothing found'})")
        if sum(counts.values()) > opts.max_bad_fraction * found:
            raise HeadstartError(f"{sum(counts.values())} of {found} samples skipped ({_reasons(counts)}), more than "
                                 f"max_bad_fraction {opts.max_bad_fraction:.0%}; see the log, or raise --max-bad-fraction")
        if splits["train"]["pairs"] == 0:
            raise HeadstartError(f"no pair left for the train split; lower val_fraction (now {opts.val_fraction})")
        if tokenizer_file is not None:
            shutil.copyfile(tokenizer_file, staging / "tokenizer.json")  # byte for byte: its hash names the model's
            tokenizer = load_tokenizer(staging / "tokenizer.json")
        else:
            tokenizer = train_bpe(_captions(staging / splits["train"]["captions_file"]), opts.vocab_size,
                                  lowercase=opts.lowercase)
            tokenizer.save(str(staging / "tokenizer.json"))
        truncated = sum(_tokenize(staging, split, entry, tokenizer, opts.caption_len) for split, entry in splits.items())
        seconds = time.perf_counter() - started
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "shape": list(shape), "dtype": "uint8", "mode": opts.mode,
            "caption_len": opts.caption_len, "vocab_size": tokenizer.get_vocab_size(),
            "tokenizer_sha256": hashlib.sha256((staging / "tokenizer.json").read_bytes()).hexdigest(),
            "splits": splits,
            "stats": {"samples_found": found, "kept": kept, "skipped": sum(counts.values()),
                      "skipped_by_reason": dict(sorted(counts.items())), "skipped_samples": skipped,
                      "captions_truncated": truncated, "seconds": round(seconds, 3),
                      "pairs_per_s": round(found / max(seconds, 1e-9), 1)},
            "options": asdict(opts), "inputs": [str(p) for p in sources],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "headstart_version": headstart_version(),
        }
        write_manifest(staging, manifest)
    log.info("prepared %d pairs (%d skipped) in %s", kept, sum(counts.values()), out)
    return manifest


def _decode_all(sources: list[Path], staging: Path, shape, opts: PairPrepareOptions, progress: bool):
    images = {s: NpyAppender(staging / f"images_{s}.npy", np.uint8, shape) for s in SPLITS}
    captions = {s: open(staging / f"captions_{s}.jsonl", "w", encoding="utf-8") for s in SPLITS}
    counts, skipped, seen = Counter(), [], set()
    bar = tqdm(desc="pairs", unit="pair", disable=not (progress and sys.stderr.isatty()))
    try:
        for source in sources:
            for item in read_pairs(source, image_field=opts.image_field, caption_field=opts.caption_field):
                bar.update(1)
                if isinstance(item, RawPair):
                    item = _decoded(item, shape, opts.mode, seen)
                if isinstance(item, Skip):
                    counts[item.reason] += 1
                    if len(skipped) < MAX_LISTED:
                        skipped.append({"sample": item.key, "reason": item.reason, "detail": item.detail})
                    (log.warning if counts[item.reason] <= 5 else log.debug)(
                        "skipping %s: %s%s", item.key, item.reason, f" ({item.detail})" if item.detail else "")
                    continue
                key, pixels, caption = item
                split = "val" if is_val(key, opts.val_fraction) else "train"
                images[split].add(pixels[None])
                captions[split].write(json.dumps(caption, ensure_ascii=False) + "\n")
    finally:
        bar.close()
        for f in captions.values():
            f.close()
        rows = {s: appender.close() for s, appender in images.items()}
    splits = {s: {"pairs": rows[s], "images_file": f"images_{s}.npy", "tokens_file": f"tokens_{s}.npy",
                  "lengths_file": f"lengths_{s}.npy", "captions_file": f"captions_{s}.jsonl"} for s in SPLITS}
    return counts, skipped, splits


def _decoded(pair: RawPair, shape, mode: str, seen: set):
    image_bytes = pair.image if isinstance(pair.image, bytes) else None
    try:
        if image_bytes is None:
            image_bytes = pair.image.read_bytes()
        pixels = decode_image(image_bytes, shape[0], shape[1], mode)
    except UnreadableImage as problem:  # non_finite: a float image holding NaN or infinite values
        return Skip(pair.key, "non_finite" if problem.reason == "non_finite" else "unreadable_image", str(problem))
    except OSError as error:
        return Skip(pair.key, "unreadable_image", error.strerror or str(error))
    digest = hashlib.blake2b(image_bytes + b"\0" + pair.caption.encode("utf-8"), digest_size=16).digest()
    if digest in seen:
        return Skip(pair.key, "duplicate", "same image and caption as an earlier sample")
    seen.add(digest)
    return pair.key, pixels, pair.caption


def _captions(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def _tokenize(staging: Path, split: str, entry: dict, tokenizer, caption_len: int) -> int:
    """Write split's tokens and lengths; return how many captions were cut."""
    pad = special_token_ids(tokenizer)["pad"]
    tokens = NpyAppender(staging / entry["tokens_file"], np.int32, (caption_len,))
    lengths = NpyAppender(staging / entry["lengths_file"], np.int32, ())
    truncated, batch = 0, []

    def flush() -> int:
        encoded = tokenizer.encode_batch(batch, add_special_tokens=False)
        block = np.full((len(batch), caption_len), pad, dtype=np.int32)
        counts = np.zeros(len(batch), dtype=np.int32)
        cut = 0
        for i, enc in enumerate(encoded):
            ids = enc.ids[:caption_len]
            cut += len(enc.ids) > caption_len
            block[i, :len(ids)], counts[i] = ids, max(len(ids), 1)  # an all-padding caption would attend to nothing
        tokens.add(block)
        lengths.add(counts)
        batch.clear()
        return cut

    for caption in _captions(staging / entry["captions_file"]):
        batch.append(caption)
        if len(batch) == TOKENIZE_BATCH:
            truncated += flush()
    if batch:
        truncated += flush()
    tokens.close()
    lengths.close()
    return truncated


def _given_tokenizer(path: Path) -> Path:
    """A tokenizer.json file, or the one in a prepared text folder, checkpoint or run."""
    if path.is_file():
        return path
    if (path / "tokenizer.json").is_file():  # a prepared text folder or a checkpoint
        return path / "tokenizer.json"
    if path.is_dir():  # a run: its best checkpoint's
        from headstart.engine.checkpoint import resolve_checkpoint
        found = resolve_checkpoint(path) / "tokenizer.json"
        if found.is_file():
            return found
    raise HeadstartError(f"--tokenizer {path}: no tokenizer.json there (give the file, a prepared text folder, "
                         f"or a text model's run or checkpoint)")


def _reasons(counts: Counter) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
