"""``headstart prepare audio``: the command-line face of ``prepare_audio``."""
from __future__ import annotations

from pathlib import Path

import click

from headstart.audio.prepare import AudioPrepareOptions, prepare_audio

_DEFAULTS = AudioPrepareOptions()


@click.command("audio", epilog="Example: headstart prepare audio recordings/ --out data/digits --sample-rate 8000 "
                               "--n-mels 40 --label-from-name '{label}_{speaker}_{take}'")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the log-mel features, clip offsets, labels and manifest.json into.")
@click.option("--sample-rate", type=click.IntRange(min=1000), default=_DEFAULTS.sample_rate, show_default=True,
              help="Rate (Hz) every clip is resampled to (soxr) before its features are computed.")
@click.option("--n-mels", type=click.IntRange(min=1), default=_DEFAULTS.n_mels, show_default=True,
              help="Mel bins per frame.")
@click.option("--win-ms", type=float, default=_DEFAULTS.win_ms, show_default=True, help="Analysis window (ms).")
@click.option("--hop-ms", type=float, default=_DEFAULTS.hop_ms, show_default=True, help="Frame step (ms).")
@click.option("--label-from-name", default=None,
              help="Labels from file names: a pattern over the name without extension, {label} marking the "
                   "label, e.g. '{label}_{speaker}_{take}'; with a / it matches the path, e.g. '{label}/{name}'.")
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Labels from a CSV with columns file (relative to the CSV, or a bare name) and label.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.val_fraction,
              show_default=True, help="Share of clips for the validation split (chosen by a hash of the path).")
@click.option("--max-bad-fraction", type=click.FloatRange(0, 1), default=_DEFAULTS.max_bad_fraction,
              show_default=True,
              help="Unusable files are skipped and counted by reason; past this share the run fails.")
@click.option("--silence-db", type=float, default=_DEFAULTS.silence_db, show_default=True,
              help="Clips whose peak is below this level (dBFS) are skipped as silent.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=_DEFAULTS.max_seconds,
              show_default=True, help="Longer clips keep their first MAX_SECONDS (counted as truncated).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds a prepared folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (only on a terminal).")
def audio_command(inputs: tuple[Path, ...], out: Path, **options) -> None:
    """Read sound files (soundfile), resample them (soxr), compute log-mel features once and store them
    memory-mapped with clip lengths, labels (when asked for) and manifest.json in OUT."""
    manifest = prepare_audio(list(inputs), out, **options)
    click.echo(summary(manifest, out))


def summary(manifest: dict, out: Path) -> str:
    stats, splits = manifest["stats"], manifest["splits"]
    classes = manifest["class_names"]
    lines = [f"clips: {stats['files_found']:,} found, {stats['kept']:,} kept "
             f"(train {splits['train']['clips']:,}, val {splits['val']['clips']:,}), "
             f"{stats['audio_seconds'] / 60:.1f} min of audio, {manifest['n_mels']} mel bins at "
             f"{manifest['frame_rate']:g} frames/s, " + (f"{len(classes)} classes" if classes else "no labels"),
             f"speed: {stats['clips_per_s']:,.0f} clips/s"]
    if stats["truncated"]:
        lines.append(f"truncated {stats['truncated']:,} clip(s) longer than {manifest['options']['max_seconds']:g} s")
    if stats["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in stats["skipped_by_reason"].items())
        names = ", ".join(f"{Path(entry['file']).name} ({entry['reason']})" for entry in stats["skipped_files"][:5])
        more = " ..." if stats["skipped"] > 5 else ""
        lines.append(f"skipped {stats['skipped']:,} file(s): {reasons}: {names}{more}")
    lines.append(f"wrote {out}")
    return "\n".join(lines)
