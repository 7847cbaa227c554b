"""``prepare_audio``: sound files -> log-mel features on disk + manifest.json, computed once.

Each file is read with soundfile (WAV, FLAC, OGG/Vorbis, AIFF, AU), mixed down to mono, resampled to
``sample_rate`` with soxr (a band-limited resampler: naive decimation would fold high frequencies
into the band) and turned into log-mel frames (``features.LogMel``), written as they come, so a
collection larger than memory works.  Labels come from file names (``label_from_name``, e.g.
``{label}_{speaker}_{take}`` for Free Spoken Digits) or from a CSV with ``file`` and ``label`` columns.

Files that cannot be used are skipped, logged by name and counted by reason in the manifest:
``unreadable`` (soundfile cannot parse it: a corrupt header, not audio at all), ``wrong_format``
(the content is another format than its extension says, e.g. an MP3 renamed ``.wav``: it may well
decode, but a mislabelled file usually means a broken export), ``empty`` (no samples), ``silent``
(peak below ``silence_db``) and ``non_finite`` (a float file holding NaN or infinite samples, or samples
so large that their power overflows: one such clip would make the feature statistics, and so every
training step, NaN).  More than ``max_bad_fraction`` of them fails the run, as for images.

Everything is written to ``OUT.tmp-<pid>`` and renamed to ``OUT`` when complete.
"""
from __future__ import annotations

import csv
import logging
import os
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm

from headstart.audio.arrays import MANIFEST_FORMAT, MANIFEST_VERSION, SPLITS
from headstart.audio.features import LOG_FLOOR, LogMel
from headstart.errors import HeadstartError
from headstart.modality.splits import val_flags
from headstart.npy_rows import NpyAppender
from headstart.output_folder import headstart_version, staged_output, write_manifest
from headstart.path_kind import not_an_input

log = logging.getLogger("headstart.audio")

# The soundfile formats each extension may hold; anything else in such a file is "wrong_format".
FORMATS_OF_SUFFIX = {".wav": {"WAV", "WAVEX", "RF64", "W64"}, ".flac": {"FLAC"}, ".ogg": {"OGG"}, ".oga": {"OGG"},
                     ".aiff": {"AIFF"}, ".aif": {"AIFF"}, ".au": {"AU"}}
SKIP_REASONS = ("unreadable", "wrong_format", "empty", "silent", "non_finite")


@dataclass(frozen=True)
class AudioPrepareOptions:
    """Every knob of ``prepare_audio``; recorded verbatim in the manifest's "options"."""

    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    label_from_name: Optional[str] = None
    labels: Optional[str] = None
    val_fraction: float = 0.1
    max_bad_fraction: float = 0.01
    silence_db: float = -60.0
    max_seconds: Optional[float] = 30.0
    overwrite: bool = False

    def validate(self) -> None:
        def need(condition: bool, message: str) -> None:
            if not condition:
                raise HeadstartError(message)

        need(self.sample_rate >= 1000, f"sample_rate {self.sample_rate}: expected at least 1000 Hz")
        need(self.n_mels >= 1, f"n_mels {self.n_mels}: expected a positive number of mel bins")
        need(0 < self.hop_ms <= self.win_ms <= 1000, f"hop_ms {self.hop_ms} / win_ms {self.win_ms}: expected "
             f"0 < hop_ms <= win_ms <= 1000")
        need(not (self.label_from_name and self.labels), "give labels (a CSV) or label_from_name, not both")
        need(self.label_from_name is None or "{label}" in self.label_from_name,
             f"label_from_name {self.label_from_name!r}: the pattern must contain {{label}}")
        need(0 <= self.val_fraction < 1, f"val_fraction {self.val_fraction}: expected 0 <= value < 1")
        need(0 <= self.max_bad_fraction <= 1, f"max_bad_fraction {self.max_bad_fraction}: expected 0 <= value <= 1")
        need(self.silence_db < 0, f"silence_db {self.silence_db}: expected a level below 0 dBFS")
        need(self.max_seconds is None or self.max_seconds > 0, f"max_seconds {self.max_seconds}: expected > 0")


def prepare_audio(inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike, *,
                  sample_rate: int = 16000, n_mels: int = 80, win_ms: float = 25.0, hop_ms: float = 10.0,
                  label_from_name: Optional[str] = None, labels: Optional[str | os.PathLike] = None,
                  val_fraction: float = 0.1, max_bad_fraction: float = 0.01, silence_db: float = -60.0,
                  max_seconds: Optional[float] = 30.0, overwrite: bool = False,
                  progress: bool = True) -> dict[str, Any]:
    """Prepare sound files for pre-training or fine-tuning; returns the manifest (also OUT/manifest.json).

    ``inputs``: folders (searched recursively) and files.  ``label_from_name``: a pattern over each
    file's name without extension, ``{label}`` marking the label and other ``{names}`` anything
    (``{label}_{speaker}_{take}``); with a ``/`` it is matched against the path below the input folder
    (``{label}/{name}`` for one folder per class).  ``labels``: a CSV with columns ``file`` (path
    relative to the CSV, or a bare file name) and ``label``.  ``max_seconds``: longer clips keep
    their start (counted as truncated).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    options = AudioPrepareOptions(sample_rate=sample_rate, n_mels=n_mels, win_ms=win_ms, hop_ms=hop_ms,
                                  label_from_name=label_from_name, labels=str(labels) if labels else None,
                                  val_fraction=val_fraction, max_bad_fraction=max_bad_fraction,
                                  silence_db=silence_db, max_seconds=max_seconds, overwrite=overwrite)
    options.validate()
    files = find_audio_files(inputs)
    names = label_names_of(files, options)
    return write_prepared_audio(files, names, out, options, inputs=[str(path) for path in inputs], progress=progress)


@dataclass(frozen=True)
class AudioFile:
    path: Path
    relative: str  # below its input folder, for labels, split assignment and messages


def find_audio_files(inputs: Sequence[str | os.PathLike]) -> list[AudioFile]:
    files: list[AudioFile] = []
    ignored = 0
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(p for p in item.rglob("*") if p.is_file()):
                if path.suffix.lower() in FORMATS_OF_SUFFIX:
                    files.append(AudioFile(path, path.relative_to(item).as_posix()))
                else:
                    ignored += 1
        elif item.is_file():
            if item.suffix.lower() not in FORMATS_OF_SUFFIX:
                raise HeadstartError(f"{item}: not a sound file headstart reads (expected "
                                     f"{', '.join(sorted(FORMATS_OF_SUFFIX))})")
            files.append(AudioFile(item, item.name))
        else:
            raise not_an_input(item)
    if ignored:
        log.info("ignored %d file(s) without a sound-file extension (%s)", ignored,
                 ", ".join(sorted(FORMATS_OF_SUFFIX)))
    if not files:
        raise HeadstartError(f"no sound files ({', '.join(sorted(FORMATS_OF_SUFFIX))}) in "
                             f"{', '.join(map(str, inputs))}")
    return files


def label_names_of(files: list[AudioFile], options: AudioPrepareOptions) -> Optional[list[str]]:
    """Each file's label as a string, or None when the preparation is unlabeled."""
    if options.label_from_name:
        pattern = name_pattern(options.label_from_name)
        labels = []
        for file in files:
            key = str(Path(file.relative).with_suffix("")) if "/" in options.label_from_name else file.path.stem
            match = pattern.fullmatch(key)
            if match is None:
                raise HeadstartError(f"{file.path}: name {key!r} does not match label_from_name "
                                     f"{options.label_from_name!r}")
            labels.append(match.group("label"))
        return labels
    if options.labels:
        return _labels_from_csv(Path(options.labels), files)
    return None


def name_pattern(template: str) -> re.Pattern:
    """``{label}_{speaker}_{take}`` -> a regex with a group per field; each field is at least one character
    and never crosses a ``/``."""
    parts = re.split(r"\{(\w*)\}", template)
    regex, seen = "", set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        elif part in seen or not part:
            regex += "[^/]+?"
        else:
            seen.add(part)
            regex += f"(?P<{part}>[^/]+?)"
    return re.compile(regex)


def _labels_from_csv(csv_path: Path, files: list[AudioFile]) -> list[str]:
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
                raise HeadstartError(f"{csv_path}: needs a header with columns file and label "
                                     f"(found {', '.join(reader.fieldnames or []) or 'none'})")
            table: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                if not row["file"] or row["label"] in (None, ""):
                    raise HeadstartError(f"{csv_path}, line {line}: empty file or label")
                table[row["file"]] = row["label"]
    except OSError as error:
        raise HeadstartError(f"{csv_path}: cannot read the labels ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise HeadstartError(f"{csv_path}: not UTF-8 text") from None
    labels = []
    for file in files:
        keys = (_relative_to(file.path, csv_path.parent), file.relative, file.path.name)
        label = next((table[k] for k in keys if k in table), None)
        if label is None:
            raise HeadstartError(f"{file.path}: no label in {csv_path} (looked for {keys[0]!r} and {file.path.name!r})")
        labels.append(label)
    return labels


def _relative_to(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def sorted_class_names(names: set[str]) -> list[str]:
    """Numbers in numeric order (2 before 10), other names alphabetically."""
    if all(name.lstrip("-").isdigit() for name in names):
        return sorted(names, key=int)
    return sorted(names)


class SplitWriter:
    def __init__(self, directory: Path, split: str, n_mels: int, labeled: bool):
        self.split, self.directory, self.labeled = split, directory, labeled
        self.features = NpyAppender(directory / f"features_{split}.npy", np.float16, (n_mels,))
        self.offsets, self.labels = [0], []
        self.sum = np.zeros(n_mels, dtype=np.float64)
        self.sum_sq = np.zeros(n_mels, dtype=np.float64)
        self.count = np.zeros(n_mels, dtype=np.int64)  # finite values per bin: what the statistics are over

    def add(self, frames: np.ndarray, label: Optional[int]) -> None:
        self.features.add(frames)
        self.offsets.append(self.offsets[-1] + len(frames))
        if self.labeled:
            self.labels.append(label)
        frames = frames.astype(np.float64)
        finite = np.isfinite(frames)
        frames = np.where(finite, frames, 0.0)
        self.sum += frames.sum(0)
        self.sum_sq += np.square(frames).sum(0)
        self.count += finite.sum(0)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin mean and standard deviation over the finite values written; checked finite, because
        every training batch is normalised with them."""
        count = np.maximum(self.count, 1)
        mean = self.sum / count
        std = np.sqrt(np.maximum(self.sum_sq / count - np.square(mean), 0.0)) + 1e-5
        bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
        if len(bad):
            raise HeadstartError(f"the {self.split} split's feature mean or std is not finite in mel bin(s) "
                                 f"{', '.join(map(str, bad[:5]))}; nothing was written (features must be finite)")
        return mean, std

    def close(self) -> dict[str, Any]:
        frames = self.features.close()
        np.save(self.directory / f"offsets_{self.split}.npy", np.asarray(self.offsets, dtype=np.int64))
        labels_file = f"labels_{self.split}.npy" if self.labeled else None
        if labels_file:
            np.save(self.directory / labels_file, np.asarray(self.labels, dtype=np.int64))
        return {"clips": len(self.offsets) - 1, "frames": frames, "features_file": self.features.path.name,
                "offsets_file": f"offsets_{self.split}.npy", "labels_file": labels_file}


def write_prepared_audio(files: list[AudioFile], label_names: Optional[list[str]], out: str | os.PathLike,
                         options: AudioPrepareOptions, *, inputs: list[str], progress: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    logmel = LogMel(options.sample_rate, options.n_mels, options.win_ms, options.hop_ms)
    class_names = sorted_class_names(set(label_names)) if label_names is not None else None
    class_id = {name: i for i, name in enumerate(class_names or [])}
    val = val_flags((file.relative for file in files), options.val_fraction, "clip").tolist()
    skipped: list[dict[str, str]] = []
    truncated, samples = 0, 0
    with staged_output(Path(out), overwrite=options.overwrite) as staging:
        writers = {split: SplitWriter(staging, split, options.n_mels, class_names is not None) for split in SPLITS}
        bar = tqdm(files, desc="clips", unit="clip", disable=not (progress and sys.stderr.isatty()))

        def skip(file: AudioFile, problem: tuple[str, str]) -> None:
            reason, detail = problem
            log.warning("skipping %s: %s (%s)", file.path, reason, detail)
            skipped.append({"file": str(file.path), "reason": reason, "detail": detail})
            if len(skipped) > options.max_bad_fraction * len(files):
                examples = "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in skipped[:3])
                raise HeadstartError(
                    f"more than {options.max_bad_fraction:.1%} of the {len(files)} sound files cannot be used "
                    f"({len(skipped)} so far: {examples}); fix or remove them, or raise max_bad_fraction")

        for i, file in enumerate(bar):
            waveform, problem, was_cut = read_clip(file.path, options)
            if problem is not None:
                skip(file, problem)
                continue
            frames = logmel(waveform)
            if not np.isfinite(frames).all():  # finite samples whose power overflows float32 (|x| > ~1e17)
                problem = ("non_finite", f"features overflow (peak sample {float(np.abs(waveform).max()):.3g})")
                skip(file, problem)
                continue
            truncated += was_cut
            samples += len(waveform)
            label = class_id[label_names[i]] if label_names is not None else None
            writers["val" if val[i] else "train"].add(frames, label)
        train = writers["train"]
        splits = {split: writer.close() for split, writer in writers.items()}
        if splits["train"]["clips"] == 0:
            raise HeadstartError(f"no clip left for the train split ({splits['val']['clips']} went to val, "
                                 f"{len(skipped)} skipped); lower val_fraction or add files")
        mean, std = train.statistics()
        seconds = time.perf_counter() - started
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "sample_rate": options.sample_rate,
            "n_mels": options.n_mels,
            "frame_rate": logmel.frame_rate,
            "feature": {"kind": "log_mel", "n_fft": logmel.n_fft, "win_length": logmel.win_length,
                        "hop_length": logmel.hop_length, "window": "hann", "mel_scale": "slaney",
                        "filter_norm": "slaney", "log": f"ln(mel power + {LOG_FLOOR:g})", "dtype": "float16"},
            "feature_mean": [round(float(v), 6) for v in mean],
            "feature_std": [round(float(v), 6) for v in std],
            "class_names": class_names,
            "splits": splits,
            "stats": {"files_found": len(files), "kept": len(files) - len(skipped), "skipped": len(skipped),
                      "skipped_by_reason": _by_reason(skipped),
                      "skipped_files": skipped, "truncated": truncated,
                      "audio_seconds": round(samples / options.sample_rate, 3), "seconds": round(seconds, 3),
                      "clips_per_s": round(len(files) / max(seconds, 1e-9), 1)},
            "options": asdict(options),
            "inputs": inputs,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "headstart_version": headstart_version(),
        }
        write_manifest(staging, manifest)
    log.info("prepared %d clips (%d skipped) of %d mel bins in %s", manifest["stats"]["kept"], len(skipped),
             options.n_mels, out)
    return manifest


def read_clip(path: Path,
              options: AudioPrepareOptions) -> tuple[Optional[np.ndarray], Optional[tuple[str, str]], bool]:
    """(mono waveform at the target rate, None, truncated) or (None, (reason, detail), False)."""
    import soundfile as sf
    import soxr

    if path.stat().st_size == 0:
        return None, ("empty", "0 bytes"), False
    try:  # one open: the header says the format and length, then the samples are read from it
        with sf.SoundFile(str(path)) as f:
            if f.format not in FORMATS_OF_SUFFIX[path.suffix.lower()]:
                return None, ("wrong_format", f"{f.format} data in a {path.suffix} file"), False
            if f.frames == 0:
                return None, ("empty", "no samples"), False
            limit = int(options.max_seconds * f.samplerate) if options.max_seconds else -1
            total, rate = f.frames, f.samplerate
            audio = f.read(frames=limit, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, EOFError) as error:  # sf.LibsndfileError is a RuntimeError
        return None, ("unreadable", _one_line(error)), False
    if len(audio) == 0:
        return None, ("empty", "no samples"), False
    finite = np.isfinite(audio)
    if not finite.all():  # float WAV/FLAC/AIFF can hold NaN and infinities; integer formats cannot
        bad = audio.size - int(finite.sum())
        return None, ("non_finite", f"{bad:,} of {audio.size:,} samples are NaN or infinite"), False
    mono = audio.mean(axis=1)
    peak = float(np.abs(mono).max())
    if peak <= 10 ** (options.silence_db / 20):
        level = f"{20 * np.log10(peak):.0f} dBFS" if peak > 0 else "all zeros"
        return None, ("silent", f"peak {level}, below silence_db {options.silence_db:g}"), False
    if rate != options.sample_rate:
        mono = soxr.resample(mono, rate, options.sample_rate, quality="HQ")
        if len(mono) == 0:  # a few samples at a (damaged header's) huge rate: none left at the target rate
            return None, ("empty", f"no samples left at {options.sample_rate} Hz ({total} at {rate} Hz)"), False
    return mono, None, limit > 0 and total > limit


def _by_reason(skipped: list[dict[str, str]]) -> dict[str, int]:
    counts = Counter(s["reason"] for s in skipped)
    return {reason: counts[reason] for reason in SKIP_REASONS if counts[reason]}


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__
