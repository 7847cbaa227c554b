"""The image audit (``headstart audit`` on images): exact duplicates, near duplicates, sizes, class balance.

Images get two hashes: BLAKE2b of the decoded pixels (exact duplicates, whatever the file format or
name) and a 64-bit difference hash (dHash: a 9x8 greyscale thumbnail, one bit per horizontal
neighbour comparison), which survives resizing, re-encoding and small edits.  dHash is written here
on Pillow rather than taken from ``imagehash`` because that package would add PyWavelets for hashes
the audit does not use.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..audit.media import DEFAULT_HAMMING, Distribution, HashGroups, class_name
from ..errors import HeadstartError
from ..output_folder import read_format
from .arrays import MANIFEST_FORMAT, ImageArrays
from .readers import ImageFiles, open_sources

_SIZE_EDGES = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 1e9]


def dhash(image) -> int:
    """64-bit difference hash of a PIL image."""
    from PIL import Image
    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def audit_images(inputs: list[Path], hamming: int = DEFAULT_HAMMING) -> dict:
    from PIL import Image, UnidentifiedImageError
    started = time.perf_counter()
    groups, classes, skipped = HashGroups(hamming), Counter(), []
    heights, widths = Distribution(_SIZE_EDGES), Distribution(_SIZE_EDGES)

    def add(name: str, image, label: str | None) -> None:
        rgb = image.convert("RGB")
        groups.add(name, hashlib.blake2b(rgb.tobytes() + bytes(str(rgb.size), "ascii"), digest_size=16).digest(), dhash(rgb))
        widths.add(rgb.size[0])
        heights.add(rgb.size[1])
        if label is not None:
            classes[label] += 1

    count = 0
    for source_path in inputs:
        if read_format(source_path) == MANIFEST_FORMAT:
            for split in ("train", "val"):
                arrays = ImageArrays(source_path, split)
                for start in range(0, len(arrays), 1024):
                    pixels, labels = arrays.read(np.arange(start, min(start + 1024, len(arrays))))
                    for i, array in enumerate(pixels):
                        label = None if labels is None else class_name(arrays.class_names, int(labels[i]))
                        add(f"{source_path}/{split}#{start + i}", Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array), label)
                        count += 1
            continue
        for source in open_sources([source_path]):
            if isinstance(source, ImageFiles):
                for index, file in enumerate(source.files):
                    label = None if source.labels is None else source.class_names[source.labels[index]]
                    try:
                        with Image.open(file) as image:
                            add(str(file), image, label)
                    except (UnidentifiedImageError, OSError, ValueError) as error:
                        skipped.append({"name": str(file), "reason": str(error).splitlines()[0] if str(error) else type(error).__name__})
                    count += 1
            else:
                height, width, channels = source.native_shape
                for decoded in source.read(height, width, "RGB" if channels == 3 else "L"):
                    for i, array in enumerate(decoded.pixels):
                        label = None if decoded.labels is None else str(int(decoded.labels[i]))
                        add(f"{source.name}#{decoded.start + i}", Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array), label)
                        count += 1
    if count == 0:
        raise HeadstartError(f"no images in {', '.join(map(str, inputs))}")
    exact, near = groups.summary()
    return {"kind": "images", "inputs": [str(p) for p in inputs], "documents": count,
            "options": {"hamming": hamming},
            "duplicates": {"method": f"exact: identical decoded pixels; near: 64-bit dHash within {hamming} bits "
                                     f"(exact copies are listed once, under exact)", "exact": exact, "near": near},
            "distributions": {"height (pixels)": heights.summary(), "width (pixels)": widths.summary()},
            "classes": dict(sorted(classes.items())) if classes else None, "skipped": skipped,
            "seconds": round(time.perf_counter() - started, 2)}


def audit(inputs: list[Path], options) -> dict:
    """The registered audit of images (``headstart.audit.cli``)."""
    if options.eval_files:
        raise HeadstartError(f"--eval: contamination is checked for text corpora; {inputs[0]} holds images")
    return audit_images(inputs, options.hamming)
