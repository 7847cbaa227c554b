"""The audio audit (``headstart audit`` on audio): same recordings, clip lengths, class balance.

Audio clips are decoded and resampled to 8 kHz (raw files) and reduced to an envelope: log energy of
50 ms frames, quantised to 3 dB steps after peak normalisation.  Clips with the same envelope hash
are the same recording, whatever its file format, sample rate or gain.  A prepared folder has no
waveforms any more; there the hash is of its log-mel frames quantised to 1 dB.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..audit.media import Distribution, HashGroups, class_name
from ..errors import HeadstartError
from ..output_folder import read_format
from .arrays import MANIFEST_FORMAT, AudioArrays
from .prepare import AudioPrepareOptions, find_audio_files, read_clip

_SECONDS_EDGES = [0, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1e9]


def envelope_digest(waveform: np.ndarray, rate: int) -> bytes:
    """Hash of a clip's coarse loudness envelope (see the module docstring)."""
    peak = float(np.abs(waveform).max()) or 1.0
    frame = max(rate // 20, 1)
    usable = len(waveform) // frame * frame
    frames = (waveform[:usable] / peak).reshape(-1, frame) if usable else (waveform / peak)[None]
    energy_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    return hashlib.blake2b(np.round(energy_db / 3).astype(np.int16).tobytes(), digest_size=16).digest()


def audit_audio(inputs: list[Path]) -> dict:
    started = time.perf_counter()
    groups, classes, skipped = HashGroups(0), Counter(), []
    lengths = Distribution(_SECONDS_EDGES)
    count = 0
    for source_path in inputs:
        if read_format(source_path) == MANIFEST_FORMAT:
            for split in ("train", "val"):
                arrays = AudioArrays(source_path, split)
                for i in range(len(arrays)):
                    (frames,), labels = arrays.read([i])
                    digest = hashlib.blake2b(np.round(frames).astype(np.int16).tobytes(), digest_size=16).digest()
                    groups.add(f"{source_path}/{split}#{i}", digest, None)
                    lengths.add(len(frames) / arrays.frame_rate)
                    if labels is not None:
                        classes[class_name(arrays.class_names, int(labels[0]))] += 1
                    count += 1
            continue
        options = AudioPrepareOptions(sample_rate=8000, max_seconds=None)
        files = find_audio_files([source_path])
        labeled = all("/" in f.relative for f in files)  # class folders, as for images
        for file in files:
            count += 1
            waveform, problem, _ = read_clip(file.path, options)
            if waveform is None:
                skipped.append({"name": str(file.path), "reason": f"{problem[0]}: {problem[1]}"})
                continue
            groups.add(str(file.path), envelope_digest(waveform, options.sample_rate), None)
            lengths.add(len(waveform) / options.sample_rate)
            if labeled:
                classes[file.relative.split("/")[0]] += 1
    if count == 0:
        raise HeadstartError(f"no audio clips in {', '.join(map(str, inputs))}")
    exact, _ = groups.summary()
    return {"kind": "audio", "inputs": [str(p) for p in inputs], "documents": count, "options": {},
            "duplicates": {"method": "same recording: equal hash of the loudness envelope (50 ms frames, 3 dB steps, "
                                     "peak-normalised, at 8 kHz); prepared folders: log-mels rounded to 1 dB",
                           "exact": exact, "near": []},
            "distributions": {"length (seconds)": lengths.summary()},
            "classes": dict(sorted(classes.items())) if classes else None, "skipped": skipped,
            "seconds": round(time.perf_counter() - started, 2)}


def audit(inputs: list[Path], options) -> dict:
    """The registered audit of audio (``headstart.audit.cli``)."""
    if options.eval_files:
        raise HeadstartError(f"--eval: contamination is checked for text corpora; {inputs[0]} holds audio")
    return audit_audio(inputs)
