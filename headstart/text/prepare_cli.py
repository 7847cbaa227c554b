"""``headstart prepare text``: the command-line face of ``prepare_text``.

The main CLI registers ``text_command`` under its ``prepare`` group.  A HeadstartError raised here is
left to the main CLI, which prints it as one line and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from headstart.text.prepare import PrepareOptions, prepare_text
from headstart.data_engine import engine_options

_DEFAULTS = PrepareOptions()


@click.command(
    "text",
    epilog="Example: headstart prepare text data/books/ --out data/books-bpe --tokenizer bpe --vocab-size 8192",
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write shards, tokenizer.json and manifest.json into.")
@click.option("--tokenizer", default=_DEFAULTS.tokenizer, show_default=True,
              help="'bpe' (train byte-level BPE), 'word' (the --vocab-size most frequent words, for word "
                   "vectors), 'char' (one id per character) or the path of an existing tokenizer.json.")
@click.option("--vocab-size", type=click.IntRange(min=1), default=_DEFAULTS.vocab_size, show_default=True,
              help="BPE or word vocabulary size, special tokens included.")
@click.option("--lowercase", is_flag=True,
              help="Fold case in the trained BPE or word tokenizer (like BERT uncased); saved in tokenizer.json.")
@click.option("--format", "fmt", type=click.Choice(["auto", "text", "jsonl", "parquet"]),
              default=_DEFAULTS.fmt, show_default=True,
              help="Input format. 'auto' goes by suffix: .txt/.text/.md text, .jsonl/.json JSON Lines, "
                   ".parquet Parquet; folders are searched for those suffixes only. Any other format "
                   "takes every file of a folder.")
@click.option("--field", default=_DEFAULTS.field, show_default=True,
              help="JSONL field / Parquet column holding the text.")
@click.option("--doc-unit", type=click.Choice(["file", "paragraph", "line"]), default=_DEFAULTS.doc_unit,
              show_default=True,
              help="What one document is in a plain-text file: the whole file, a blank-line-separated "
                   "paragraph, or a non-empty line.")
@click.option("--encoding", default=_DEFAULTS.encoding, show_default=True,
              help="Encoding of text and JSONL files (e.g. latin-1).")
@click.option("--on-bad-file", type=click.Choice(["error", "skip"]), default=_DEFAULTS.on_bad_file,
              show_default=True,
              help="An undecodable, binary or malformed file stops the run ('error'), or is skipped "
                   "whole and listed in the manifest ('skip'; every file is checked once up front).")
@click.option("--fold-whitespace/--no-fold-whitespace", default=_DEFAULTS.fold_whitespace, show_default=True,
              help="Collapse runs of spaces/tabs, trailing spaces and 3+ newlines. Turn off for code.")
@click.option("--min-chars", type=click.IntRange(min=0), default=_DEFAULTS.min_chars, show_default=True,
              help="Drop documents shorter than this many characters after cleaning.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=_DEFAULTS.val_fraction,
              show_default=True,
              help="Share of documents for the validation split (chosen by a hash of each document).")
@click.option("--val-from-end", is_flag=True,
              help="Take val from the last --val-fraction of the input bytes instead (whole documents).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Encoding processes; 0 encodes in-process.  [default: number of CPUs]")
@click.option("--shard-tokens", type=click.IntRange(min=1), default=_DEFAULTS.shard_tokens, show_default=True,
              help="Start a new shard file after this many tokens.")
@click.option("--tokenizer-train-mb", type=click.FloatRange(min=0, min_open=True),
              default=_DEFAULTS.tokenizer_train_mb, show_default=True,
              help="Train BPE on at most this many MB of cleaned text (bounds time and memory).")
@click.option("--near-dedup", type=click.FloatRange(0, 1), default=_DEFAULTS.near_dedup, metavar="THRESHOLD",
              help="Also drop near-duplicates: documents whose word 5-grams have an estimated (MinHash) Jaccard "
                   "similarity >= THRESHOLD (e.g. 0.8) to a document kept earlier. 0 = off.  [default: 0]")
@engine_options("Encode as resumable tasks (one per input file) on the data engine, keeping their outputs here: a "
                "killed run, rerun with the same arguments, redoes only unfinished files. The shards are "
                "byte-identical to a run without --work.", "With --work (a folder every machine sees): ")
@click.option("--parts", type=click.IntRange(min=1), default=4, show_default=True,
              help="With --work: buckets the exact-dedup digests are spread over (memory: 24 bytes a document "
                   "/ PARTS).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds a prepared folder.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar (only on a terminal).")
def text_command(inputs: tuple[Path, ...], out: Path, **options) -> None:
    """Turn raw text (files or folders of .txt/.md, .jsonl, .parquet) into cleaned, deduplicated,
    tokenized shards for pre-training, plus tokenizer.json and manifest.json in OUT."""
    manifest = prepare_text(list(inputs), out, **options)
    click.echo(summary(manifest, out))


def summary(manifest: dict, out: Path) -> str:
    stats, splits = manifest["stats"], manifest["splits"]
    dropped = stats["dropped"]
    shards = sum(len(split["shards"]) for split in splits.values())
    lines = [
        f"documents: {stats['documents_read']:,} read, {stats['kept']:,} kept "
        f"(dropped {dropped['empty']:,} empty, {dropped['too_short']:,} too short, "
        f"{dropped['duplicate']:,} duplicate"
        + (f", {dropped['near_duplicate']:,} near-duplicate" if "near_duplicate" in dropped else "")
        + f"; duplicate rate {stats['duplicate_rate']:.2%})",
        f"tokens: train {splits['train']['tokens']:,}, val {splits['val']['tokens']:,} "
        f"in {shards} shard(s), {manifest['dtype']}, vocab {manifest['vocab_size']:,} "
        f"({manifest['tokenizer']['kind']} tokenizer)",
        f"speed: {stats['bytes_read'] / 1e6:,.1f} MB in {stats['seconds']:.1f} s "
        f"({stats['mb_per_s']:.1f} MB/s)",
    ]
    if stats["skipped_files"]:
        lines.append(f"skipped {len(stats['skipped_files'])} unreadable file(s): "
                     + ", ".join(stats["skipped_files"]))
    lines.append(f"wrote {out}")
    return "\n".join(lines)
