"""``headstart predict`` and ``headstart evaluate``."""
from __future__ import annotations

from pathlib import Path

import click

RUN = click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
TEXT_FORMATS = ["auto", "lines", "tsv", "csv", "jsonl", "label-first"]


@click.command()
@RUN
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "-o", required=True, help="Where the predictions go, one JSON line per input (- = stdout).")
@click.option("--top-k", default=1, show_default=True, type=click.IntRange(min=1),
              help="Also list the K most probable labels of each input.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--format", "fmt", default="auto", show_default=True, type=click.Choice(TEXT_FORMATS),
              help="Text files: auto reads .tsv/.csv/.jsonl by suffix, other files as label-first when every "
                   "line starts with a known label, else one text per line.")
@click.option("--field", default="text", show_default=True, help="Text files: the JSONL field or column of the text.")
@click.option("--label-field", default="label", show_default=True,
              help="Text files: the field or column of a true label, if any (then accuracy is printed).")
@click.option("--encoding", default="utf-8", show_default=True)
def predict(run: Path, inputs: tuple[str, ...], out: str, top_k: int, batch_size: int, fmt: str, field: str,
            label_field: str, encoding: str) -> None:
    """Predict with the classifier of fine-tuning RUN (or its classifier/ folder) on INPUTS.

    \b
    Text: files of texts (one per line, label-first, TSV, CSV, JSONL) or - for stdin.
    Images: image files or folders (searched recursively; in ImageFolder class folders, the folder
    name is the true label).  Audio: sound files or folders, likewise.
    Inputs stream in batches, so they may be larger than memory.  An unreadable input is skipped: its
    row says why, and the count is printed.
    """
    from .predict import predict_files
    counts = predict_files(run, list(inputs), out, batch_size=batch_size, top_k=top_k,
                           options={"format": fmt, "field": field, "label_field": label_field, "encoding": encoding})
    where = "stdout" if out == "-" else out
    click.echo(f"predicted {counts['predicted']} inputs, skipped {counts['skipped']}"
               + (f" ({', '.join(counts['skipped_inputs'])}{', ...' if counts['skipped'] > len(counts['skipped_inputs']) else ''})"
                  if counts["skipped"] else "") + f" -> {where}", err=out == "-")
    if "accuracy" in counts:
        click.echo(f"accuracy {counts['accuracy']:.4f} on {counts['labeled']} labeled inputs", err=out == "-")


@click.command()
@RUN
@click.option("--test", "test", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labeled test data, as fine-tuning's task.test: a labeled text file, or a prepared image/audio folder.")
@click.option("--split", default=None, help="Prepared folders: the split to score (default: all of it).")
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for evaluation.json/.html and the plots  [default: RUN/evaluation]")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "tsv", "csv", "jsonl", "label-first"]))
@click.option("--text-field", default="text", show_default=True)
@click.option("--label-field", default="label", show_default=True)
@click.option("--encoding", default="utf-8", show_default=True)
def evaluate(run: Path, test: Path, split: str | None, out: Path | None, batch_size: int, fmt: str, text_field: str,
             label_field: str, encoding: str) -> None:
    """Score the classifier of fine-tuning RUN on a labeled test set: accuracy (95% interval), macro-F1,
    per-class precision and recall, the confusion matrix, calibration (ECE, a reliability diagram)."""
    from .predict import evaluate_run
    result = evaluate_run(run, test, split=split, out=out, batch_size=batch_size,
                          options={"format": fmt, "text_field": text_field, "label_field": label_field,
                                   "encoding": encoding})
    m = result["metrics"]
    click.echo(f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, ECE {m['ece']:.4f}, "
               f"log loss {m['log_loss']:.4f} on {m['n']} examples")
    click.echo(f"report: {result['paths']['html']}  (also {result['paths']['json'].name})")
