"""`headstart audit`: duplicates, quality signals, contamination, the bias screen, images and audio,
`prepare text --near-dedup`, and compare's contamination warning."""
from __future__ import annotations

import json
import random
import shutil
import time

import numpy as np
import pytest

from helpers import shared, write
from test_finetune_cli import pretrained_run  # noqa: F401  (fixture)
from test_pretrain_cli import prepared, run_cli as _run_cli  # noqa: F401  (fixture)

from headstart.audit.bias import BiasScreen, read_word_lists
from headstart.audit.contamination import contamination
from headstart.audit.quality import QualityTally, signals
from headstart.audit.words import WordIds, normalized_words
from headstart.errors import HeadstartError

WORDS = ("river stone lantern quiet morning harbor violet engine meadow copper whisper garden thunder "
         "silver orchard candle marble pilgrim compass ember").split()


def run_cli(*args):
    from headstart import cli
    cli._register_audit_command()
    return _run_cli(*args)


def prose(seed: int, lines: int = 60) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) + " ." for _ in range(lines)) + "\n"


def audit(tmp_path, *args):
    code, out = run_cli("audit", *args, "--out", tmp_path / "audit")
    assert code == 0, out
    return json.loads((tmp_path / "audit" / "audit.json").read_text()), (tmp_path / "audit" / "audit.html").read_text(), out


def test_exact_and_near_duplicate_files_are_found_and_the_report_escapes_text(tmp_path):
    corpus = tmp_path / "corpus"
    for i in range(4):
        write(corpus / f"book{i}.txt", prose(i))
    shutil.copy(corpus / "book0.txt", corpus / "copy-of-0.txt")
    lines = (corpus / "book1.txt").read_text().splitlines()
    lines[0] = "an <script>alert(1)</script> edit"  # a near copy: one line of 60 changed, shown in the excerpt
    write(corpus / "near-1.txt", "\n".join(lines) + "\n")
    result, html, out = audit(tmp_path, corpus)
    assert result["documents"] == 6 and result["options"]["doc_unit"] == "file"
    exact = result["exact_duplicates"]
    assert exact["groups"] == 1 and sorted(exact["examples"][0]["documents"]) == [str(corpus / "book0.txt"), str(corpus / "copy-of-0.txt")]
    near = result["near_duplicates"]
    assert near["clusters"] == 1  # the exact copy is not counted again as a near one
    members = near["examples"][0]["members"]
    assert [m["document"] for m in members] == [str(corpus / "book1.txt"), str(corpus / "near-1.txt")]
    assert 0.8 <= members[1]["jaccard_to_first"] < 1
    assert "<script>" not in html and "&lt;script&gt;" in html and "Content-Security-Policy" in html
    assert "1 near-duplicate cluster" in out
    # A threshold above the pair's similarity finds no cluster.
    shutil.rmtree(tmp_path / "audit")
    result, _, _ = audit(tmp_path, corpus, "--near-dup-threshold", "1.0")
    assert result["near_duplicates"]["clusters"] == 0


def test_contamination_long_and_short_examples_with_line_numbers(tmp_path):
    corpus = write(tmp_path / "corpus.txt", "Intro text here.\n\nIt was, Said THE man, a truly remarkable and "
                                            "wholly unexpected turn of events for everyone in the small town.\n\n"
                                            "Short one: moot point.\n")
    eval_texts = ["it was said the man a truly remarkable and wholly unexpected turn of events",  # 14 words, 13-gram
                  "the man a truly remarkable and wholly unexpected turn of events for all",  # 12 of 13 match: not
                  "moot point", "point moot", "a completely different sentence that is long enough to have thirteen words"]
    found = contamination(corpus, eval_texts, line_numbers=[10, 20, 30, 40, 50], doc_unit="paragraph")
    assert [row["index"] for row in found] == [0, 2]
    assert found[0]["line"] == 10 and not found[0]["short"] and found[0]["document"] == f"{corpus}:3"
    assert found[0]["ngram"].split()[0] == "it" and len(found[0]["ngram"].split()) == 13
    assert found[1]["short"] and found[1]["ngram"] == "moot point"


def test_cli_contamination_reads_labeled_eval_files(tmp_path):
    write(tmp_path / "corpus" / "a.txt", prose(0) + "a gob of drivel so sickly sweet , even the eager consumers of moore 's "
                                                    "pasteurized ditties will retch it up .\n")
    evalfile = write(tmp_path / "test.tsv", "label\ttext\n0\tA gob of drivel so sickly sweet, even the eager consumers of "
                                            "Moore's pasteurized ditties\n1\tnothing like the corpus at all in any way\n")
    result, html, out = audit(tmp_path, tmp_path / "corpus", "--eval", evalfile)
    ev = result["contamination"][0]
    assert ev["examples"] == 2 and ev["contaminated"] == 1 and ev["matches"][0]["line"] == 2
    assert "1 of 2 examples" in out and "Contamination" in html
    code, out = run_cli("audit", tmp_path / "corpus", "--eval", evalfile, "--eval-format", "csv", "--out", tmp_path / "x")
    assert code == 2 and "test.tsv" in out  # a misread eval file is a one-line error naming it


def test_quality_signals_and_rule_counts():
    ids = WordIds()

    def values(text):
        words = normalized_words(text)
        return signals(text, words, ids(words))

    rng = random.Random(0)
    good = values("the start of " + " ".join(f"w{rng.randint(0, 10**6)}" for _ in range(300)))
    repeated = values("the cat sat on the mat and then " * 40)
    short = values("too short to keep")
    bullets = values("\n".join(f"- item {i} of the list ..." for i in range(30)))
    assert repeated["duplicate_5gram_char_fraction"] > 0.9 and good["duplicate_10gram_char_fraction"] < 0.1
    assert repeated["top_2gram_char_fraction"] > 0.2 and short["word_count"] == 4
    assert bullets["bullet_line_fraction"] == 1 and bullets["ellipsis_line_fraction"] == 1
    tally = QualityTally()
    hits = [tally.add(v) for v in (good, repeated, short, bullets)]
    assert hits[0] == [] and "duplicate_5grams" in hits[1] and "too_few_words" in hits[2]
    assert {"bullet_lines", "ellipsis_lines"} <= set(hits[3])
    summary = tally.summary()
    assert summary["would_remove_any"] == 3 and summary["rules"]["too_few_words"]["would_remove"] == 1
    assert sum(summary["signals"]["word_count"]["counts"]) == 4


def test_bias_screen_counts_within_the_window_and_word_file_errors(tmp_path):
    lists = read_word_lists()  # the shipped file parses
    assert "nurse" in lists["occupations"] and "she" in lists["female"]
    screen = BiasScreen(lists, window=3)
    screen.add(normalized_words("She is a nurse. " + "x " * 10 + "the engineer said he would come home quickly today. nurse"))
    rows = {r["occupation"]: r for r in screen.summary()["occupations"]}
    assert (rows["nurse"]["mentions"], rows["nurse"]["near_female"], rows["nurse"]["near_male"]) == (2, 1, 0)
    assert (rows["engineer"]["near_female"], rows["engineer"]["near_male"]) == (0, 1)
    assert rows["nurse"]["log_ratio"] > 0 > rows["engineer"]["log_ratio"]
    bad = write(tmp_path / "words.txt", "[female]\nshe\n[occupation]\nnurse\n")
    with pytest.raises(HeadstartError, match=r"words.txt:3: unknown section \[occupation\]"):
        read_word_lists(bad)


def test_prepare_near_dedup_drops_near_copies_and_audit_reads_the_prepared_folder(tmp_path):
    base = prose(7, 10).replace("\n", " ")
    near = base.replace(WORDS[0], "changed", 1)
    write(tmp_path / "c.jsonl", "".join(json.dumps({"text": t}) + "\n" for t in [base, prose(8, 10), near, prose(9, 10)]))
    args = ("prepare", "text", tmp_path / "c.jsonl", "--tokenizer", "char", "--workers", "0", "--val-fraction", "0")
    code, out = run_cli(*args, "--out", tmp_path / "plain")
    assert code == 0, out
    code, out = run_cli(*args, "--out", tmp_path / "dedup", "--near-dedup", "0.8")
    assert code == 0, out and "1 near-duplicate" in out
    manifest = json.loads((tmp_path / "dedup" / "manifest.json").read_text())
    assert manifest["stats"]["dropped"]["near_duplicate"] == 1 and manifest["stats"]["kept"] == 3
    assert "near_duplicate" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())["stats"]["dropped"]
    # The audit decodes a prepared folder's documents from its shards.
    result, _, _ = audit(tmp_path, tmp_path / "plain")
    assert result["documents"] == 4 and result["near_duplicates"]["clusters"] == 1
    assert all("/plain/train#" in m["document"] for m in result["near_duplicates"]["examples"][0]["members"])
    found = contamination(tmp_path / "dedup", [" ".join(base.split()[5:25])])
    assert len(found) == 1 and found[0]["document"].endswith("train#1")


def test_images_duplicates_sizes_and_class_balance(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    smooth = lambda: Image.fromarray(np.kron(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), dtype=np.uint8)))
    a, b, c = smooth(), smooth(), smooth()
    a.save(tmp_path / "imgs" / "cat" / "a.png") if (tmp_path / "imgs" / "cat").mkdir(parents=True) is None else None
    a.save(tmp_path / "imgs" / "cat" / "a-copy.bmp")  # same pixels, another format: exact
    a.resize((40, 40)).save(tmp_path / "imgs" / "cat" / "a-small.png")  # resized: near
    (tmp_path / "imgs" / "dog").mkdir()
    b.save(tmp_path / "imgs" / "dog" / "b.png")
    c.save(tmp_path / "imgs" / "dog" / "c.png")
    write(tmp_path / "imgs" / "dog" / "broken.png", b"not an image")
    result, html, _ = audit(tmp_path, tmp_path / "imgs")
    assert result["kind"] == "images" and result["documents"] == 6
    exact, near = result["duplicates"]["exact"], result["duplicates"]["near"]
    assert [sorted(p.rsplit("/", 1)[1] for p in g) for g in exact] == [["a-copy.bmp", "a.png"]]
    assert len(near) == 1 and sorted(p.rsplit("/", 1)[1] for p in near[0])[1:] == ["a-small.png"]  # with a's first copy
    assert result["classes"] == {"cat": 3, "dog": 2} and len(result["skipped"]) == 1
    assert result["distributions"]["width (pixels)"]["max"] == 64 and "Class balance" in html


def test_audio_duplicates_across_formats_rates_and_gain(tmp_path):
    import soundfile as sf
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 8000
    clip = (np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, 8000) ** 2).astype(np.float32) * 0.5
    other = rng.normal(0, 0.1, 12000).astype(np.float32)
    sf.write(tmp_path / "sounds" / "yes" / "a.wav", clip, 8000) if (tmp_path / "sounds" / "yes").mkdir(parents=True) is None else None
    sf.write(tmp_path / "sounds" / "yes" / "a-loud.flac", clip * 1.8, 8000)
    (tmp_path / "sounds" / "no").mkdir()
    sf.write(tmp_path / "sounds" / "no" / "b.wav", other, 8000)
    result, _, out = audit(tmp_path, tmp_path / "sounds")
    assert result["kind"] == "audio" and result["documents"] == 3
    assert [sorted(p.rsplit("/", 1)[1] for p in g) for g in result["duplicates"]["exact"]] == [["a-loud.flac", "a.wav"]]
    assert result["classes"] == {"no": 1, "yes": 2}
    assert result["distributions"]["length (seconds)"]["max"] == pytest.approx(1.5)


@pytest.mark.slow
def test_real_data_gutenberg_salted_with_sst2_test_sentences(tmp_path):
    gutenberg, sst2 = shared("gutenberg"), shared("sst2/stsa.binary.test")
    sentences = [line.split(maxsplit=1)[1].strip() for line in sst2.read_text(encoding="utf-8").splitlines() if line.strip()]
    salted = sentences[::9]  # 203 sentences, spread over four books
    books = ["blake-poems.txt", "carroll-alice.txt", "shakespeare-caesar.txt", "bryant-stories.txt"]
    corpus = tmp_path / "corpus"
    for i, name in enumerate(books):
        lines = (gutenberg / name).read_text(encoding="utf-8").splitlines()
        mine = salted[i::len(books)]
        step = max(len(lines) // (len(mine) + 1), 1)
        for k, sentence in enumerate(mine):
            lines.insert((k + 1) * step + k, sentence)
        write(corpus / name, "\n".join(lines) + "\n")
    shutil.copy(corpus / "carroll-alice.txt", corpus / "alice-exact-copy.txt")
    lines = (corpus / "shakespeare-caesar.txt").read_text(encoding="utf-8").splitlines()
    near = [line.replace(" the ", " a ") if k % 30 == 0 else line for k, line in enumerate(lines) if k % 40 != 7]
    write(corpus / "caesar-near-copy.txt", "\n".join(near) + "\n")
    evalfile = tmp_path / "salted.txt"
    write(evalfile, "".join(f"1 {s}\n" for s in salted))

    started = time.perf_counter()
    result, _, out = audit(tmp_path, corpus, "--eval", evalfile)
    seconds = time.perf_counter() - started
    ev = result["contamination"][0]
    assert ev["examples"] == len(salted) and ev["contaminated"] == len(salted), out
    assert sorted(result["exact_duplicates"]["examples"][0]["documents"]) == [str(corpus / "alice-exact-copy.txt"), str(corpus / "carroll-alice.txt")]
    clusters = [{m["document"] for m in c["members"]} for c in result["near_duplicates"]["examples"]]
    assert {str(corpus / "shakespeare-caesar.txt"), str(corpus / "caesar-near-copy.txt")} in clusters
    print(f"real data: {ev['contaminated']}/{len(salted)} salted sentences flagged, {len(clusters)} near cluster(s), "
          f"{seconds:.1f} s")


@pytest.mark.slow
def test_compare_warns_when_test_examples_are_in_the_pretraining_data(tmp_path, pretrained_run, caplog):  # noqa: F811
    from test_finetune_cli import write_task
    from test_compare import write_compare_config
    from headstart.compare import compare
    in_corpus = "Paragraph 5: the quick brown fox jumps over the lazy dog, 5 times, and then rests."
    write_task(tmp_path, test_rows=[(1, in_corpus), (0, "a lazy dog"), (1, "a fine fox sleeps")])
    config = write_compare_config(tmp_path, pretrained_run)
    with caplog.at_level("WARNING", logger="headstart"):
        out = compare(config, ["budgets=[8]", "seeds=[0]", "baseline=false"])
    found = out["results"]["contamination"]
    assert found["examples"] == 3 and [(r["line"], r["short"]) for r in found["contaminated"]] == [(2, False)]
    assert any("WARNING: 1 of 3 test examples" in r.getMessage() and "Paragraph 5" in r.getMessage() for r in caplog.records)
    html = (tmp_path / "compare" / "report" / "report.html").read_text()
    assert "Contamination" in html and "Paragraph 5" in html
    assert "Contamination" in (tmp_path / "compare" / "report" / "report.md").read_text()
