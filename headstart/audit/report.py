"""``audit.json`` and a self-contained ``audit.html``.

The HTML reuses the head-start report's style, Content-Security-Policy and table helper
(``headstart.transfer.report``): no scripts, nothing loaded, every string from the data (file names,
excerpts, words of the user's word lists) escaped with ``html.escape``.  Histograms are rows of plain
CSS bars, so the page needs no plotting library and stays readable as text.
"""
from __future__ import annotations

import json
from pathlib import Path

from headstart.report_html import escape as e, html_page, html_table as _html_table

_BAR_STYLE = ".bar { background: #4c78a8; height: 10px; display: inline-block; }"
SCREEN_NOTE = ("This is a screen, not a verdict. It counts how often each occupation word has a female or a male "
               "word within {window} words; co-occurrence ignores negation, quotation and who the words refer "
               "to. log ratio = ln((near female + 1) / (near male + 1)); compare it with the corpus-wide ratio "
               "and read the contexts before concluding anything.")


def write_audit_report(out: Path, audit: dict) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "audit.json", "html": out / "audit.html"}
    paths["json"].write_text(json.dumps(audit, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(audit), encoding="utf-8")
    return paths


def render_html(audit: dict) -> str:
    kind = audit["kind"]
    units = "documents" if kind == "text" else "images" if kind == "images" else "clips"
    parts = [f"<h1>Data audit: {e(', '.join(audit['inputs']))}</h1>",
             f"<p class='meta'>{audit['documents']:,} {units}"
             + (f", {audit['words']:,} words" if "words" in audit else "")
             + f", audited in {audit['seconds']:.1f} s.</p>"]
    if audit.get("command"):
        parts.append(f"<pre>$ {e(audit['command'])}</pre>")
    if kind == "text":
        parts += _contamination(audit) + _text_duplicates(audit) + _quality(audit) + _bias(audit)
    else:
        parts += _media(audit)
    return html_page("Data audit", "\n".join(parts), extra_style=_BAR_STYLE, signature="headstart audit")


def _contamination(audit: dict) -> list[str]:
    if not audit["contamination"]:
        return []
    n = audit["options"]["contamination_ngram"]
    parts = ["<h2>Contamination with evaluation sets</h2>",
             f"<p class='note'>An example is contaminated when it shares a {n}-gram of lowercased, "
             f"punctuation-stripped words with a corpus document (as GPT-3 did). An example shorter than {n} "
             f"words is flagged when the whole example appears as a contiguous word sequence; those are "
             f"marked “short”: weaker evidence, worth reading.</p>"]
    for ev in audit["contamination"]:
        headline = (f"{ev['contaminated']:,} of {ev['examples']:,} examples ({100 * ev['fraction']:.1f}%) of "
                    f"{ev['file']} appear in the corpus ({ev['short_matches']:,} of them short).")
        parts.append(f"<p class='headline'>{'⚠ ' if ev['contaminated'] else ''}{e(headline)}</p>")
        if ev["matches"]:
            rows = [[str(m["line"] or m["index"] + 1), m["text"], m["document"], m["ngram"], "yes" if m["short"] else ""]
                    for m in ev["matches"]]
            parts.append(_html_table(["line", "example", "found in", "matching words", "short"], rows, (1, 2, 3)))
    return parts


def _text_duplicates(audit: dict) -> list[str]:
    exact, near, options = audit["exact_duplicates"], audit["near_duplicates"], audit["options"]
    parts = ["<h2>Duplicates</h2>",
             _html_table(["kind", "groups", "documents"], [
                 ["exact (same cleaned text)", f"{exact['groups']:,}", f"{exact['duplicate_documents']:,} extra copies"],
                 [f"near (Jaccard ≥ {options['near_dup_threshold']:g})", f"{near['clusters']:,}",
                  f"{near['documents_in_clusters']:,} in clusters, {near['pairs']:,} pairs"]]),
             f"<p class='note'>Near-duplicates: MinHash ({options['num_perm']} permutations) of each "
             f"document's word {options['shingle_words']}-grams, candidates from LSH, each confirmed by its "
             f"estimated Jaccard similarity. Exact copies are counted once, above, and not again here. "
             f"A document is {e(_unit(options['doc_unit']))}.</p>"]
    if exact["examples"]:
        parts += ["<h3>Exact duplicates</h3>", _html_table(
            ["copies", "documents", "excerpt"],
            [[str(x["copies"]), "\n".join(x["documents"]), x["excerpt"]] for x in exact["examples"]], (1, 2))]
    if near["examples"]:
        rows = [[str(i + 1), m["document"], f"{m['jaccard_to_first']:.2f}", m["excerpt"]]
                for i, cluster in enumerate(near["examples"]) for m in cluster["members"]]
        parts += ["<h3>Near-duplicate clusters</h3>",
                  _html_table(["cluster", "document", "Jaccard to first", "excerpt"], rows, (1, 3))]
    return parts


def _unit(doc_unit: str) -> str:
    return {"file": "a whole file (JSON Lines records and Parquet rows are one each)",
            "paragraph": "a blank-line-separated paragraph", "line": "a non-empty line"}.get(doc_unit, doc_unit)


def _quality(audit: dict) -> list[str]:
    q = audit["quality"]
    n = max(q["documents"], 1)
    rows = [[name, rule["rule"], f"{rule['would_remove']:,}", f"{100 * rule['fraction']:.1f}%"]
            for name, rule in q["rules"].items()]
    rows.append(["any rule", "", f"{q['would_remove_any']:,}", f"{100 * q['would_remove_any'] / n:.1f}%"])
    parts = ["<h2>Quality signals (Gopher rules)</h2>",
             "<p class='note'>The heuristics of Rae et al. (2021), with the paper's thresholds. Nothing is removed: "
             "the table says how many documents each rule would remove. Books and tokenized text trip some rules "
             "by design (a novel is over 100,000 words).</p>",
             _html_table(["rule", "keeps a document when", "would remove", "share"], rows, (0, 1))]
    for signal, stats in q["signals"].items():
        parts.append(f"<h3>{e(signal)} (mean {stats['mean']:.3g})</h3>" + _histogram(stats["edges"], stats["counts"]))
    return parts


def _histogram(edges: list[float], counts: list[int]) -> str:
    top = max(max(counts), 1)
    rows = []
    for i, count in enumerate(counts):
        upper = "∞" if i == len(counts) - 1 else f"{edges[i + 1]:g}"
        width = 0 if count == 0 else max(1, round(300 * count / top))
        rows.append(f"<tr><td class=text>{e(f'{edges[i]:g} – {upper}')}</td><td>{count:,}</td>"
                    f"<td class=text><span class='bar' style='width:{width}px'></span></td></tr>")
    return f"<table><tbody>{''.join(rows)}</tbody></table>"


def _bias(audit: dict) -> list[str]:
    b = audit["bias"]
    rows = [[r["occupation"], f"{r['mentions']:,}", f"{r['near_female']:,}", f"{r['near_male']:,}", f"{r['log_ratio']:+.2f}"]
            for r in b["occupations"]]
    return ["<h2>Representational-bias screen</h2>",
            f"<p class='headline'>{e(SCREEN_NOTE.format(window=b['window']))}</p>",
            f"<p class='meta'>Word lists: {e(b['word_lists'])}. Corpus: {b['female_words']:,} female and "
            f"{b['male_words']:,} male words, ln ratio {b['corpus_log_ratio']:+.2f}.</p>",
            _html_table(["occupation", "mentions", "near female", "near male", "log ratio"], rows)
            if rows else "<p class='note'>No occupation word of the list occurs in the corpus.</p>"]


def _media(audit: dict) -> list[str]:
    dup = audit["duplicates"]
    parts = ["<h2>Duplicates</h2>", f"<p class='note'>{e(dup['method'])}</p>",
             _html_table(["kind", "groups", "items in groups"],
                         [["exact", f"{len(dup['exact'])}", f"{sum(len(g) for g in dup['exact'])}"],
                          ["near", f"{len(dup['near'])}", f"{sum(len(g) for g in dup['near'])}"]])]
    for kind in ("exact", "near"):
        if dup[kind]:
            parts += [f"<h3>{kind.capitalize()} duplicate groups</h3>",
                      _html_table(["group", "items"], [[str(i + 1), "\n".join(g[:10]) + (f"\n… {len(g) - 10} more" if len(g) > 10 else "")]
                                                       for i, g in enumerate(dup[kind][:50])], (1,))]
    for name, stats in audit["distributions"].items():
        parts.append(f"<h2>{e(name)}</h2><p class='meta'>min {stats['min']:g}, mean {stats['mean']:.4g}, "
                     f"max {stats['max']:g}</p>" + _histogram(stats["edges"], stats["counts"]))
    if audit.get("classes"):
        total = max(sum(audit["classes"].values()), 1)
        counts = audit["classes"]
        rows = [[label, f"{count:,}", f"{100 * count / total:.1f}%"] for label, count in counts.items()]
        ratio = max(counts.values()) / max(min(counts.values()), 1)
        parts += ["<h2>Class balance</h2>", f"<p class='meta'>largest / smallest class: {ratio:.2f}</p>",
                  _html_table(["class", "items", "share"], rows)]
    if audit.get("skipped"):
        parts += ["<h2>Unreadable</h2>", _html_table(["item", "reason"], [[s["name"], s["reason"]] for s in audit["skipped"][:100]], (0, 1))]
    return parts
