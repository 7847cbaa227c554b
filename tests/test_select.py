"""`headstart select`: the N tokens of a pool most like a target task's text (DSIR).

The pool is two clearly different sources made up here -- cooking paragraphs (a fifth of the pool) and
code-like ones, each over the default --min-tokens of 100 -- and the target is cooking sentences, so a
working selection is almost all cooking.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from headstart.errors import HeadstartError
from headstart.text import prepare_text
from headstart.text.select import TopByBudget, select_text
from headstart.text.select_cli import parse_tokens
from headstart.text.cleaning import document_digest
from headstart.text.select_features import TOKEN

from cli_checks import headstart, one_line_error, succeeded  # noqa: F401  (headstart is a fixture)
from helpers import write

COOKING = ["Whisk the eggs with the sugar until pale.", "Simmer the tomato sauce for twenty minutes.",
           "Season the soup with salt and pepper.", "Bake the bread in a hot oven.",
           "Chop the onions and fry them in butter.", "Stir the risotto slowly with a wooden spoon.",
           "Roast the chicken with garlic and lemon.", "Knead the dough until it is smooth and elastic."]
CODE = ["def parse(self, line): return line.split(',')", "for i in range(len(items)): total += items[i]",
        "if not os.path.exists(path): raise FileNotFoundError(path)", "x = np.zeros((3, 4)) + bias",
        "self.cache[key] = value; return value", "while queue: node = queue.pop(); visit(node)",
        "print(f'{name}: {count}')", "with open(path) as f: data = json.load(f)"]
TOKENS = 5000


def paragraphs(sentences: list[str], count: int, seed: int) -> list[str]:
    """``count`` paragraphs of 15 to 25 random sentences: 105 tokens or more."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(sentences) for _ in range(rng.randint(15, 25))) for _ in range(count)]


@pytest.fixture
def pool(tmp_path) -> list[Path]:
    """Two sources: 200 cooking paragraphs (the first 30 twice over), 800 code-like ones."""
    cooking, code = paragraphs(COOKING, 200, 1), paragraphs(CODE, 800, 2)
    return [write(tmp_path / "pool" / "cooking" / "recipes.txt", "\n\n".join(cooking + cooking[:30])).parent,
            write(tmp_path / "pool" / "code" / "snippets.txt", "\n\n".join(code)).parent]


@pytest.fixture
def target(tmp_path) -> Path:
    return write(tmp_path / "task.txt", "\n".join(random.Random(3).choices(COOKING, k=20)) + "\n")


def select(pool, out, target, **options) -> dict:
    return select_text(pool, out, target=target, **{"tokens": TOKENS, "progress": False, **options})


def selected_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "selected.jsonl").read_text(encoding="utf-8").splitlines()]


def share(manifest: dict, source: Path, column: str) -> float:
    return next(row[column] for row in manifest["sources"] if row["source"] == str(source))


# --- what it selects ----------------------------------------------------------------------------

def test_the_selection_is_mostly_the_source_that_looks_like_the_target(pool, target, tmp_path):
    manifest = select(pool, tmp_path / "sel", target)
    cooking = pool[0]
    assert share(manifest, cooking, "pool_share") < 0.25
    assert share(manifest, cooking, "selected_share") > 0.95
    assert share(manifest, cooking, "selected_share") > share(manifest, cooking, "random_sample_share") + 0.5
    kl = manifest["kl_divergence"]
    assert kl["target_to_selected"] < kl["target_to_random_sample"] and kl["reduction"] > 0
    records = selected_records(tmp_path / "sel")
    assert len(records) == manifest["selected"]["documents"]
    # The pool repeats 30 paragraphs word for word; each text is selected once at most.
    assert len({record["text"] for record in records}) == len(records)
    assert manifest["selected"]["duplicates_skipped"] > 0
    assert {record["source"] for record in records} <= {str(cooking), str(pool[1])}


def test_the_same_seed_repeats_the_selection_and_another_seed_varies_it(target, tmp_path):
    # Weights are sums over a document's n-grams, so between documents of different relevance the Gumbel
    # noise rarely changes the order; between equally relevant ones, the seed decides.
    recipes = [" ".join(COOKING * 2) + f" Recipe {i}." for i in range(300)]  # as relevant as each other
    code = [" ".join(CODE * 2) + f"  # snippet {i}" for i in range(300)]
    pool = [write(tmp_path / "cooking.txt", "\n\n".join(recipes)), write(tmp_path / "code.txt", "\n\n".join(code))]
    first = select(pool, tmp_path / "a", target, seed=7, tokens=1000)
    again = select(pool, tmp_path / "b", target, seed=7, tokens=1000)
    other = select(pool, tmp_path / "c", target, seed=8, tokens=1000)
    assert selected_records(tmp_path / "a") == selected_records(tmp_path / "b")
    assert selected_records(tmp_path / "a") != selected_records(tmp_path / "c")
    assert first["seed"] == 7 and other["seed"] == 8 and first["selected"] == again["selected"]
    assert share(first, pool[0], "selected_share") == share(other, pool[0], "selected_share") == 1.0


def test_the_token_count_is_met_within_one_document(pool, target, tmp_path):
    manifest = select(pool, tmp_path / "sel", target)
    # Tokens are the manifest's "tokens_are": lowercased words and punctuation runs.
    counts = [len(TOKEN.findall(record["text"].lower())) for record in selected_records(tmp_path / "sel")]
    assert sum(counts) == manifest["selected"]["tokens"]
    assert TOKENS <= sum(counts) < TOKENS + max(counts)
    assert "punctuation" in manifest["tokens_are"]


def test_the_manifest_shares_add_up(pool, target, tmp_path):
    manifest = select(pool, tmp_path / "sel", target)
    rows = manifest["sources"]
    for column in ("pool_share", "selected_share", "random_sample_share"):
        assert sum(row[column] for row in rows) == pytest.approx(1, abs=1e-5)
    assert sum(row["pool_tokens"] for row in rows) == manifest["pool"]["tokens"]
    assert sum(row["selected_tokens"] for row in rows) == manifest["selected"]["tokens"]
    assert manifest["target"]["tokens"] == len(TOKEN.findall(target.read_text().lower()))
    assert manifest["method"]["buckets"] == 10_000 and manifest["peak_rss_mib"] > 0


def test_the_selection_prepares_as_text(pool, target, tmp_path):
    select(pool, tmp_path / "sel", target)
    prepared = prepare_text([tmp_path / "sel" / "selected.jsonl"], tmp_path / "prepared", field="text",
                            tokenizer="char", workers=0, progress=False)
    assert prepared["stats"]["documents_read"] == len(selected_records(tmp_path / "sel"))


def test_a_labeled_target_counts_its_text_and_ignores_its_labels(pool, tmp_path):
    sentences = random.Random(3).choices(COOKING, k=20)
    plain = write(tmp_path / "plain.txt", "\n\n".join(sentences) + "\n")  # one sentence a document, as below
    rows = "".join(f"import_{i % 2}\t{s}\n" for i, s in enumerate(sentences))  # code-like labels, ignored
    tsv = write(tmp_path / "task.tsv", "label\ttext\n" + rows)
    label_first = write(tmp_path / "task.train", "".join(f"{i % 2} {s}\n" for i, s in enumerate(sentences)))
    expected = select(pool, tmp_path / "plain", plain)
    for name, labeled in (("tsv", tsv), ("label-first", label_first)):  # a file with no known suffix: label-first
        manifest = select(pool, tmp_path / name, labeled)
        assert manifest["target"]["format"] == name
        assert manifest["target"]["tokens"] == expected["target"]["tokens"]
        assert selected_records(tmp_path / name) == selected_records(tmp_path / "plain")


def test_documents_under_min_tokens_are_left_out(target, tmp_path):
    # One-sentence recipes: relevant, but a short text's weight is a sum over few n-grams.
    recipes = write(tmp_path / "recipes.txt", "\n\n".join(f"{COOKING[i % 8]} Recipe {i}." for i in range(300)))
    code = write(tmp_path / "code.txt", "\n\n".join(paragraphs(CODE, 100, 2)))
    manifest = select([recipes, code], tmp_path / "default", target, tokens=1000)  # --min-tokens 100
    assert manifest["pool"]["short_documents_skipped"] == 300 and share(manifest, recipes, "pool_share") == 0
    manifest = select([recipes, code], tmp_path / "all", target, tokens=1000, min_tokens=0)
    assert share(manifest, recipes, "selected_share") == 1.0


def test_a_pool_of_jsonl_and_parquet_sources_reads_the_named_field(target, tmp_path):
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install pyarrow)")
    import pyarrow.parquet as pq
    cooking = paragraphs(COOKING, 200, 1)
    records = (json.dumps({"id": i, "body": text}) + "\n" for i, text in enumerate(cooking))
    write(tmp_path / "cooking.jsonl", "".join(records))
    pq.write_table(pa.table({"body": paragraphs(CODE, 800, 2)}), tmp_path / "code.parquet")
    manifest = select([tmp_path / "cooking.jsonl", tmp_path / "code.parquet"], tmp_path / "sel", target, field="body")
    assert manifest["pool"]["documents"] == 1000
    assert share(manifest, tmp_path / "cooking.jsonl", "selected_share") > 0.95


def test_the_heap_keeps_exactly_the_top_keys_that_reach_the_budget():
    rng = np.random.default_rng(0)
    keys, tokens = rng.normal(size=10_000), rng.integers(1, 50, size=10_000)
    top = TopByBudget(2_000)
    for start in range(0, 10_000, 1_000):  # streamed in chunks, as the pool is
        part = slice(start, start + 1_000)
        positions = np.arange(start, start + 1_000)
        top.offer(keys[part], tokens[part], np.zeros(1_000, dtype=int), positions,
                  lambda i, start=start: document_digest(f"text {start + i}"))
    order = np.argsort(-keys)
    needed = int(np.searchsorted(np.cumsum(tokens[order]), 2_000)) + 1  # shortest prefix reaching 2,000
    assert sorted(position for _, position in top.locations()) == sorted(order[:needed].tolist())
    assert len(top.heap) < 200  # memory follows the selection, not the 10,000 documents seen


# --- bad input: one line, exit status 2 -----------------------------------------------------------

def test_a_target_with_no_text_is_one_line(headstart, pool, tmp_path):  # noqa: F811
    empty = write(tmp_path / "empty.txt", "\n  \n\n")
    line = one_line_error(headstart("select", *pool, "--target", empty, "--out", tmp_path / "o", "--tokens", 100),
                          "empty.txt", "no text")
    assert line.startswith("error:") and not (tmp_path / "o").exists()


def test_a_pool_with_no_usable_documents_is_one_line(headstart, target, tmp_path):  # noqa: F811
    blank = write(tmp_path / "blank" / "a.txt", "\n\n \t \n")
    line = one_line_error(headstart("select", blank, "--target", target, "--out", tmp_path / "o", "--tokens", 100),
                          "no usable documents", "blank")
    assert line.startswith("error:") and not (tmp_path / "o").exists()


@pytest.mark.parametrize("tokens", ["0", "-5", "many", "1.5x"])
def test_tokens_must_be_a_positive_number(headstart, pool, target, tmp_path, tokens):  # noqa: F811
    one_line_error(headstart("select", *pool, "--target", target, "--out", tmp_path / "o", "--tokens", tokens),
                   f"--tokens {tokens}")
    assert parse_tokens("50M") == 50_000_000 and parse_tokens("1.5k") == 1_500 and parse_tokens("700") == 700


def test_a_pool_smaller_than_the_tokens_asked_for_is_an_error(headstart, pool, target, tmp_path):  # noqa: F811
    one_line_error(headstart("select", *pool, "--target", target, "--out", tmp_path / "o", "--tokens", "10M"),
                   "fewer than --tokens 10,000,000")
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_an_undecodable_pool_file_names_its_line_or_is_skipped(headstart, pool, target, tmp_path):  # noqa: F811
    bad = write(tmp_path / "pool" / "code" / "latin1.txt", "ok line\n\ncaf\xe9\n".encode("latin-1"))
    one_line_error(headstart("select", *pool, "--target", target, "--out", tmp_path / "o", "--tokens", 100),
                   f"{bad}:3", "invalid utf-8")
    manifest = select(pool, tmp_path / "skipped", target, tokens=100, on_bad_file="skip")
    assert manifest["pool"]["files"] == 2 and manifest["pool"]["skipped_files"] == [str(bad)]


def test_a_plain_text_target_without_a_suffix_gets_a_hint(headstart, pool, tmp_path):  # noqa: F811
    notes = write(tmp_path / "NOTES", "Bake\n")  # read as `<label> <text>`, and "Bake" has no text
    one_line_error(headstart("select", *pool, "--target", notes, "--out", tmp_path / "o", "--tokens", 100),
                   "NOTES:1", "--target-format text")
    with pytest.raises(HeadstartError, match="--target-format"):
        select(pool, tmp_path / "o", notes, target_format="yaml")


# --- the command line ------------------------------------------------------------------------------

def test_the_command_writes_the_selection_and_prints_a_summary(headstart, pool, target, tmp_path):  # noqa: F811
    out = tmp_path / "sel"
    result = succeeded(headstart("select", *pool, "--target", target, "--out", out, "--tokens", "3k", "--seed", 1))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokens_requested"] == 3000 and manifest["seed"] == 1
    for expected in ("selected:", str(pool[0]), "pool share", "KL(target", "peak RSS", "MiB", "selected.jsonl"):
        assert expected in result.out
    assert not list(tmp_path.glob("sel.tmp-*"))  # written under a temporary name, then renamed
    one_line_error(headstart("select", *pool, "--target", target, "--out", out, "--tokens", "3k"), "--overwrite")
    succeeded(headstart("select", *pool, "--target", target, "--out", out, "--tokens", "3k", "--overwrite"))
    help_text = " ".join(succeeded(headstart("select", "--help")).out.split())  # unwrapped
    assert "A token here is a lowercased word or a run of punctuation" in help_text


def test_the_random_sample_is_written_as_the_control_when_asked(pool, target, tmp_path):
    manifest = select(pool, tmp_path / "sel", target, write_random_sample=True)
    control = [json.loads(line) for line in (tmp_path / "sel" / "random_sample.jsonl").read_text().splitlines()]
    assert len(control) == manifest["random_sample"]["documents"] and manifest["random_sample_file"]
    counts = [len(TOKEN.findall(record["text"].lower())) for record in control]
    assert sum(counts) == manifest["random_sample"]["tokens"] >= TOKENS
    cooking = sum(count for record, count in zip(control, counts) if record["source"] == str(pool[0]))
    assert cooking / sum(counts) == pytest.approx(share(manifest, pool[0], "random_sample_share"), abs=1e-5)
    assert not (tmp_path / "plain").exists() and select(pool, tmp_path / "plain", target)["random_sample_file"] is None


def test_select_as_tasks_on_the_data_engine_chooses_the_same_documents(pool, target, tmp_path):
    """`--work` runs the two passes over the pool as a task per file: the same selection, byte for byte,
    with 1 worker or 2, and a rerun of a finished job redoes nothing."""
    extra = write(tmp_path / "pool" / "code" / "more.txt", "\n\n".join(paragraphs(CODE + COOKING, 150, 4)))
    assert extra.exists()
    plain = select(pool, tmp_path / "plain", target, write_random_sample=True)
    for workers in (1, 2):
        out = tmp_path / f"engine-{workers}"
        manifest = select(pool, out, target, write_random_sample=True, work=tmp_path / f"work-{workers}",
                          workers=workers)
        for name in ("selected.jsonl", "random_sample.jsonl"):
            assert (out / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
        for key in ("selected", "random_sample", "pool", "sources", "kl_divergence"):
            assert manifest[key] == plain[key], key
    weights = tmp_path / "work-2" / "stages" / "weights" / "completions"
    assert sorted(p.name for p in weights.iterdir()) == ["00000", "00001", "00002"]
    with pytest.raises(HeadstartError, match="min_tokens"):
        select(pool, tmp_path / "other", target, work=tmp_path / "work-2", min_tokens=50)
