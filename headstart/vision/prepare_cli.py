"""``headstart prepare images``: the command-line face of ``prepare_images``.

The main CLI registers ``images_command`` under its ``prepare`` group; a HeadstartError raised here
is printed by the main CLI as one line, with exit status 2.
"""
from __future__ import annotations

from pathlib import Path

import click

from headstart.vision.prepare import ImagePrepareOptions, prepare_images, skip_kinds

_DEFAULTS = ImagePrepareOptions()


@click.command("images", epilog="Example: headstart prepare images photos/ --out data/photos --size 32")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the uint8 image arrays, labels and manifest.json into.")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Side of the square output in pixels: images are resized to cover it and centre-cropped. "
                   "Needed for image files; arrays (idx, .npy, .npz) keep their size without it.")
@click.option("--mode", type=click.Choice(["RGB", "L"]), default=_DEFAULTS.mode, show_default=True,
              help="Colour (RGB) or grayscale (L).")
@click.option("--layout", type=click.Choice(["auto", "folder", "imagefolder", "idx", "npy"]),
              default=_DEFAULTS.layout, show_default=True,
              help="folder: unlabeled images; imagefolder: one sub-folder per class; idx: MNIST-style "
                   "files (.gz or not); npy: .npy arrays or .npz with x (and y). auto guesses from the inputs.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.val_fraction,
              show_default=True, help="Share of images for the validation split.")
@click.option("--max-bad-fraction", type=click.FloatRange(0, 1), default=_DEFAULTS.max_bad_fraction,
              show_default=True,
              help="Unreadable images are skipped, counted and named; past this share the run fails.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds a prepared folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (only on a terminal).")
def images_command(inputs: tuple[Path, ...], out: Path, **options) -> None:
    """Decode images once (Pillow), convert and resize them, and store them as memory-mapped uint8
    arrays with labels (when the layout has them) and manifest.json in OUT."""
    manifest = prepare_images(list(inputs), out, **options)
    click.echo(summary(manifest, out))


def summary(manifest: dict, out: Path) -> str:
    stats, splits = manifest["stats"], manifest["splits"]
    height, width, channels = manifest["shape"]
    classes = manifest["class_names"]
    lines = [f"images: {stats['images_found']:,} found, {stats['kept']:,} kept "
             f"(train {splits['train']['images']:,}, val {splits['val']['images']:,}), "
             f"{height}x{width}x{channels} uint8, "
             + (f"{len(classes)} classes" if classes else "no labels"),
             f"speed: {stats['images_per_s']:,.0f} images/s"]
    if stats["skipped"]:
        names = ", ".join(f"{entry['file']} ({entry['reason']})" for entry in stats["skipped_files"][:5])
        kinds = skip_kinds(stats.get("skipped_by_reason", {"unreadable": stats["skipped"]}))
        lines.append(f"skipped {stats['skipped']:,} {kinds} image(s): {names}"
                     + (" ..." if stats["skipped"] > 5 else ""))
    lines.append(f"wrote {out}")
    return "\n".join(lines)
