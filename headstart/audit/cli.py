"""``headstart audit``: the command-line face of the audit (text, images or audio, raw or prepared)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import click

from headstart.audit.sources import audited_kinds
from headstart.data_engine import engine_options


@dataclass(frozen=True)
class AuditOptions:
    """The command's options; each modality's audit reads those that apply to it."""
    eval_files: tuple[Path, ...] = ()
    eval_format: str = "auto"
    text_field: str = "text"
    label_field: str = "label"
    near_dup_threshold: float = 0.8
    num_perm: int = 128
    bias_words: Optional[Path] = None
    bias_window: int = 10
    fmt: str = "auto"
    field: str = "text"
    doc_unit: str = "file"
    encoding: str = "utf-8"
    hamming: int = 4
    examples: int = 20
    work: Optional[Path] = None  # text: the stages' folder
    remove_work: bool = False  # text: the folder is the command's default scratch, removed after success
    workers: int = 0  # text: tasks run at once on this machine (0: one per CPU)
    cluster: Optional[str] = None  # text: a Ray cluster's address; None runs on this machine
    parts: int = 4


@click.command("audit", epilog="Example: headstart audit corpus/ --out audit/ --eval ../shared/data/sst2/stsa.binary.test")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for audit.json and audit.html.")
@click.option("--kind", type=click.Choice(["auto", *audited_kinds()]), default="auto", show_default=True,
              help="What INPUTS hold; 'auto' reads a prepared folder's manifest, else the files' suffixes.")
@click.option("--eval", "eval_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An evaluation set to check for contamination (repeatable).")
@click.option("--eval-format", default="auto", show_default=True,
              type=click.Choice(["auto", "tsv", "csv", "jsonl", "label-first", "lines"]),
              help="How --eval files are read: as finetune reads labeled files, or 'lines' (one example a line).")
@click.option("--text-field", default="text", show_default=True, help="Text column/field of --eval files.")
@click.option("--label-field", default="label", show_default=True, help="Label column/field of --eval files.")
@click.option("--near-dup-threshold", type=click.FloatRange(0, 1, min_open=True), default=0.8, show_default=True,
              help="Estimated Jaccard similarity of word 5-grams at which two documents are near-duplicates.")
@click.option("--num-perm", type=click.IntRange(min=16), default=128, show_default=True,
              help="MinHash permutations (more: a finer similarity estimate, more memory).")
@click.option("--bias-words", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Word lists for the bias screen ([female], [male], [occupations]); default: the shipped "
                   "headstart/audit/bias_words.txt.")
@click.option("--bias-window", type=click.IntRange(min=1), default=10, show_default=True,
              help="Words either side of an occupation word that count as near it.")
@click.option("--format", "fmt", type=click.Choice(["auto", "text", "jsonl", "parquet"]), default="auto",
              show_default=True, help="Input format of raw text, as for prepare text.")
@click.option("--field", default="text", show_default=True, help="JSONL field / Parquet column holding the text.")
@click.option("--doc-unit", type=click.Choice(["file", "paragraph", "line"]), default="file", show_default=True,
              help="What one document of a plain-text file is. 'file' (unlike prepare's default) so that "
                   "duplicate *files* are found.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of text, JSONL and --eval files.")
@click.option("--hamming", type=click.IntRange(0, 16), default=4, show_default=True,
              help="Images: dHash bits that may differ between near-duplicates.")
@click.option("--examples", type=click.IntRange(min=1), default=20, show_default=True,
              help="Duplicate groups shown in the report.")
@engine_options("Text: folder for the audit's disk-based stages (a few KB a document); a rerun with the same folder "
                "resumes. Default: OUT/work, removed after a successful run. On a cluster, a folder every machine "
                "sees.", "Text: ", workers_help="Text: tasks (input files, buckets) run at once; 0 = one per CPU of "
                "this machine.", workers_default=0, workers_min=0)
@click.option("--parts", type=click.IntRange(min=1), default=4, show_default=True,
              help="Text: buckets each near-duplicate band is split into; peak memory is one bucket, 16 bytes a "
                   "document / PARTS: raise it for corpora of hundreds of millions of documents.")
def audit_command(inputs, out, kind, eval_files, eval_format, text_field, label_field, near_dup_threshold, num_perm,
                  bias_words, bias_window, fmt, field, doc_unit, encoding, hamming, examples, work, workers, cluster,
                  parts) -> None:
    """Audit a corpus before training on it: duplicates, quality, contamination, a bias screen (text);
    duplicates, sizes or lengths and class balance (images, audio).  INPUTS are raw files or folders, or a
    folder from `headstart prepare`.  Writes OUT/audit.json and OUT/audit.html."""
    from headstart.audit.report import write_audit_report
    from headstart.audit.sources import detect_kind
    from headstart.modality import modality
    kind = detect_kind(list(inputs)) if kind == "auto" else kind
    options = AuditOptions(eval_files, eval_format, text_field, label_field, near_dup_threshold, num_perm, bias_words,
                           bias_window, fmt, field, doc_unit, encoding, hamming, examples,
                           work=work or Path(out) / "work", remove_work=work is None, workers=workers, cluster=cluster, parts=parts)
    result = modality(kind).audit(list(inputs), options)
    result["command"] = "headstart audit " + " ".join(sys.argv[2:])
    paths = write_audit_report(out, result)
    click.echo(summary(result))
    click.echo(f"report: {paths['html']}  (also {paths['json'].name})")


def summary(result: dict) -> str:
    if result["kind"] != "text":
        dup = result["duplicates"]
        lines = [f"{result['documents']:,} {result['kind']} items: {len(dup['exact'])} exact duplicate group(s), "
                 f"{len(dup['near'])} near-duplicate group(s), {len(result['skipped'])} unreadable"]
        if result.get("classes"):
            lines.append("classes: " + ", ".join(f"{k} {v}" for k, v in result["classes"].items()))
        return "\n".join(lines)
    exact, near, q = result["exact_duplicates"], result["near_duplicates"], result["quality"]
    lines = [f"{result['documents']:,} documents, {result['words']:,} words in {result['seconds']:.1f} s",
             f"duplicates: {exact['duplicate_documents']:,} exact copies in {exact['groups']:,} group(s); "
             f"{near['clusters']:,} near-duplicate cluster(s) ({near['pairs']:,} pairs)",
             f"quality: the Gopher rules would remove {q['would_remove_any']:,} of {q['documents']:,} documents"]
    for ev in result["contamination"]:
        lines.append(f"contamination: {ev['contaminated']:,} of {ev['examples']:,} examples of {ev['file']} appear in "
                     f"the corpus ({ev['short_matches']:,} shorter than 13 words, matched whole)")
    return "\n".join(lines)
