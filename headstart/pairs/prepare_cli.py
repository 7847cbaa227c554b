"""``headstart prepare pairs``: the command-line face of ``prepare_pairs``."""
from __future__ import annotations

from pathlib import Path

import click

from headstart.pairs.prepare import PairPrepareOptions, prepare_pairs

_DEFAULTS = PairPrepareOptions()


@click.command("pairs", epilog="Example: headstart prepare pairs shards/ --out data/pairs --size 64")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write images, caption tokens, tokenizer.json and manifest.json into.")
@click.option("--size", type=click.IntRange(min=1), default=_DEFAULTS.size, show_default=True,
              help="Side of the square images in pixels (resized to cover it, centre-cropped).")
@click.option("--mode", type=click.Choice(["RGB", "L"]), default=_DEFAULTS.mode, show_default=True,
              help="Colour (RGB) or grayscale (L).")
@click.option("--caption-len", type=click.IntRange(min=1), default=_DEFAULTS.caption_len, show_default=True,
              help="Tokens kept per caption; longer captions are cut and counted.")
@click.option("--tokenizer", type=click.Path(exists=True, path_type=Path), default=None,
              help="Reuse this tokenizer.json (or the one of a prepared text folder, text run or checkpoint), "
                   "as a text tower initialised from that model needs. Default: train a BPE on the captions.")
@click.option("--vocab-size", type=click.IntRange(min=1), default=_DEFAULTS.vocab_size, show_default=True,
              help="Vocabulary of the BPE trained when --tokenizer is not given.")
@click.option("--lowercase/--keep-case", default=_DEFAULTS.lowercase, show_default=True,
              help="Fold captions to lower case in the trained tokenizer, as CLIP does.")
@click.option("--image-field", default=_DEFAULTS.image_field, show_default=True,
              help="CSV/JSONL column holding the image path (relative to the table's folder).")
@click.option("--caption-field", default=_DEFAULTS.caption_field, show_default=True,
              help="CSV/JSONL column holding the caption.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.val_fraction,
              show_default=True, help="Share of pairs for the validation split (retrieval is scored there).")
@click.option("--max-bad-fraction", type=click.FloatRange(0, 1), default=_DEFAULTS.max_bad_fraction,
              show_default=True, help="Broken samples are skipped and counted; past this share the run fails.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds a prepared folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (only on a terminal).")
def pairs_command(inputs: tuple[Path, ...], out: Path, tokenizer: Path | None, progress: bool, **options) -> None:
    """Read image-caption pairs from WebDataset .tar shards (.jpg/.png + .txt) or CSV/TSV/JSONL tables
    (image path, caption), decode the images and tokenise the captions once, into OUT."""
    manifest = prepare_pairs(list(inputs), out, progress=progress,
                             tokenizer=str(tokenizer) if tokenizer else None, **options)
    click.echo(summary(manifest, out))


def summary(manifest: dict, out: Path) -> str:
    stats, splits = manifest["stats"], manifest["splits"]
    lines = [f"pairs: {stats['samples_found']:,} found, {stats['kept']:,} kept (train {splits['train']['pairs']:,}, "
             f"val {splits['val']['pairs']:,}), images {'x'.join(map(str, manifest['shape']))} uint8, "
             f"captions {manifest['caption_len']} tokens ({stats['captions_truncated']:,} cut), "
             f"vocabulary {manifest['vocab_size']:,}"]
    if stats["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in stats["skipped_by_reason"].items())
        lines.append(f"skipped {stats['skipped']:,}: {reasons}")
    lines.append(f"wrote {out}")
    return "\n".join(lines)
