"""``headstart select``: the command-line face of ``select_text`` (DSIR data selection).

The main CLI registers ``select_command``.  A HeadstartError raised here is left to the main CLI, which
prints it as one line and exits with status 2.
"""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import click

from headstart.errors import HeadstartError
from headstart.text.select_features import TARGET_FORMATS
from headstart.data_engine import engine_options

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}


def parse_tokens(value: str) -> int:
    """'250000', '250k', '50M', '1.5B' -> a positive whole number of tokens; anything else is a one-line error."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMbBgG]?)\s*", str(value))
    if match is None:
        raise HeadstartError(f"--tokens {value}: expected a positive number of tokens, such as 500000 or 50M")
    tokens = int(float(match.group(1)) * _SUFFIXES[match.group(2).lower()])
    if tokens < 1:
        raise HeadstartError(f"--tokens {value}: expected a positive number of tokens")
    return tokens


@click.command("select", epilog="Example: headstart select ../shared/data/imdb/unsup.jsonl ../shared/data/gutenberg "
                                "--target ../shared/data/sst2/stsa.binary.train --out data/sst2-like --tokens 2M")
@click.argument("pool", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", required=True, type=click.Path(path_type=Path),
              help="The task's text: a plain text file or folder, JSONL or Parquet (--target-field), or a labeled "
                   "file as finetune reads it (TSV/CSV/JSONL, or `<label> <text>` lines); labels are ignored.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for selected.jsonl and manifest.json.")
@click.option("--tokens", "tokens", required=True, metavar="N",
              help="How many tokens to select (250000, 250k, 50M, 1.5B). A token here is a lowercased word or a "
                   "run of punctuation (the regex \\w+|[^\\w\\s]+), the unit DSIR's features use; prepare text's "
                   "tokenizer counts differently. The selection holds at least N and fewer than one document more.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the Gumbel noise: the same seed, pool and target give the same selection.")
@click.option("--format", "fmt", type=click.Choice(["auto", "text", "jsonl", "parquet"]), default="auto",
              show_default=True, help="Pool format, as for prepare text ('auto' goes by suffix).")
@click.option("--field", default="text", show_default=True, help="JSONL field / Parquet column of the pool's text.")
@click.option("--doc-unit", type=click.Choice(["file", "paragraph", "line"]), default="paragraph", show_default=True,
              help="What one document of a plain-text file is: the unit that is selected or left out.")
@click.option("--min-tokens", type=click.IntRange(min=0), default=100, show_default=True,
              help="Leave out documents with fewer tokens, as DSIR does: a log-weight is a sum over a document's "
                   "n-grams, so fragments near weight 0 would outrank every long document of ordinary pool text.")
@click.option("--buckets", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Hash buckets for the unigrams and bigrams (DSIR's default).")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of the pool's text and JSONL files.")
@click.option("--target-format", type=click.Choice(TARGET_FORMATS), default="auto", show_default=True,
              help="'auto': .tsv/.csv/.jsonl/.parquet/.txt/.md by suffix, a folder as plain text, and a file with "
                   "no known suffix as `<label> <text>` lines, as finetune reads it (SST-2's stsa.binary.*).")
@click.option("--target-field", default="text", show_default=True,
              help="Text field / column of a JSONL, Parquet, TSV or CSV target.")
@click.option("--target-encoding", default=None, help="Encoding of the target  [default: --encoding]")
@click.option("--on-bad-file", type=click.Choice(["error", "skip"]), default="error", show_default=True,
              help="An unreadable pool file stops the run, or is skipped whole (every file checked up front).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds a headstart folder.")
@click.option("--write-random-sample", is_flag=True,
              help="Also write OUT/random_sample.jsonl: a uniform random sample of the pool, as many tokens, to "
                   "pre-train on as the control the selection must beat.")
@engine_options("Read and weigh the pool as resumable tasks (one per pool file) on the data engine, keeping their "
                "results here: the same selection, byte for byte; a killed run, rerun, redoes only unfinished files.",
                "With --work (a folder every machine sees): ",
                workers_help="With --work: tasks run at once on this machine.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress bars (only on a terminal).")
def select_command(pool: tuple[Path, ...], target: Path, out: Path, tokens: str, **options) -> None:
    """Select the N tokens of POOL (files or folders; each argument is a source) whose text is most like
    the --target task's, by DSIR's hashed n-gram importance resampling, and write them to OUT/selected.jsonl
    (prepare them with: headstart prepare text OUT/selected.jsonl --field text) with OUT/manifest.json."""
    from headstart.text.select import select_text
    manifest = select_text(list(pool), out, target=target, tokens=parse_tokens(tokens),
                           command="headstart select " + shlex.join(sys.argv[2:]), **options)
    click.echo(summary(manifest, out))


def summary(manifest: dict, out: Path) -> str:
    pool, chosen, kl, target = manifest["pool"], manifest["selected"], manifest["kl_divergence"], manifest["target"]
    left_out = (f" (left out {pool['short_documents_skipped']:,} shorter than --min-tokens "
                f"{manifest['options']['min_tokens']})" if pool["short_documents_skipped"] else "")
    width = max(len("source"), *(len(row["source"]) for row in manifest["sources"]))
    lines = [
        f"pool: {pool['documents']:,} documents, {pool['tokens']:,} tokens in {pool['files']:,} file(s){left_out}",
        f"target: {target['tokens']:,} tokens in {target['documents']:,} document(s) of {target['path']}",
        f"selected: {chosen['documents']:,} documents, {chosen['tokens']:,} tokens "
        f"(asked for {manifest['tokens_requested']:,}; tokens are lowercased words and punctuation runs)",
        f"  {'source':<{width}}  pool share  selected  random sample",
    ]
    for row in manifest["sources"]:
        lines.append(f"  {row['source']:<{width}}  {row['pool_share']:>10.1%}  {row['selected_share']:>8.1%}"
                     f"  {row['random_sample_share']:>13.1%}")
    if pool["skipped_files"]:
        lines.append(f"skipped {len(pool['skipped_files'])} unreadable file(s): " + ", ".join(pool["skipped_files"]))
    lines += [
        f"KL(target || ·): selection {kl['target_to_selected']:.3f}, random sample "
        f"{kl['target_to_random_sample']:.3f} nats (reduction {kl['reduction']:.3f})",
        f"peak RSS {manifest['peak_rss_mib']} MiB; {manifest['seconds']:.1f} s, "
        f"{pool['bytes'] / 1e6:,.1f} MB of pool at {manifest['pool_mb_per_s']:.1f} MB/s",
        f"wrote {out / manifest['file']} (headstart prepare text {out / manifest['file']} --field text)",
    ]
    if manifest.get("random_sample_file"):
        lines.append(f"wrote {out / manifest['random_sample_file']} (the random sample, as many tokens: the control)")
    return "\n".join(lines)
