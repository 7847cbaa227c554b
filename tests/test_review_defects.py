"""Defects found in review (issue #21), each shown the way a user meets it."""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from safetensors.torch import save_file

from headstart.errors import HeadstartError

PROJECT = Path(__file__).resolve().parents[1]


# ---- 1. the Python API: every name is the function, however often and in whatever order it is used ---

# Prints {name: problem} for API names that are not the function/class they should be.  `headstart.X` is
# read twice, with the submodules that share a name with their function (pretrain, finetune, compare)
# imported before the first read or between the two.
API_CHECK = """
import importlib, json, sys, types
if {submodules_first}:
    import headstart.pretrain, headstart.finetune, headstart.compare
import headstart
problems, absent = {{}}, []
for name in headstart.__all__:
    if name == "__version__":
        continue
    for attempt in ("first", "second"):
        try:
            value = getattr(headstart, name)
        except ModuleNotFoundError as e:
            absent.append(name + ": " + str(e))
            break
        if isinstance(value, types.ModuleType) or not callable(value):
            problems[name] = attempt + " read gave " + repr(value)[:80]
        if attempt == "first":
            import headstart.pretrain, headstart.finetune, headstart.compare
from headstart import compare, finetune, pretrain
for value in (compare, finetune, pretrain):
    if isinstance(value, types.ModuleType):
        problems["from headstart import"] = repr(value)
print(json.dumps({{"problems": problems, "absent": absent}}))
"""

DOCUMENTED_API = {
    "prepare_text", "prepare_images", "prepare_audio", "prepare_pairs", "select_text",
    "audit_text", "audit_images", "audit_audio", "write_audit_report",
    "pretrain", "load_pretrain_config", "PretrainConfig", "TrainConfig", "run_sweep",
    "finetune", "load_finetune_config", "FinetuneConfig", "compare", "load_compare_config", "CompareConfig",
    "rank_checkpoints", "generate", "load_text_model", "load_image_model", "load_audio_model", "load_classifier",
    "predict_files", "evaluate_run", "export",
    "export_checkpoint", "import_checkpoint", "run_demo", "HeadstartError",
}


@pytest.mark.parametrize("submodules_first", [False, True])
def test_every_api_name_is_callable_every_time_in_a_fresh_interpreter(submodules_first):
    import headstart

    assert DOCUMENTED_API <= set(headstart.__all__)
    code = API_CHECK.format(submodules_first=submodules_first)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["problems"] == {}
    # headstart.classifier is being written alongside this check; until it lands, only it may be absent.
    assert all(entry.startswith("load_classifier:") for entry in found["absent"]), found["absent"]
    if found["absent"]:
        warnings.warn(f"skipped load_classifier: {found['absent'][0]}")


def test_the_function_keeps_its_name_when_the_module_is_imported_later():
    import headstart

    first = headstart.compare
    import headstart.compare  # noqa: F401  (binds the submodule to the package attribute, unless prevented)
    assert headstart.compare is first and callable(headstart.compare)
    assert sys.modules["headstart.compare"].compare is first


# ---- 2. a validation set is never reported as a test score ----------------------------------------

def write_labeled(path: Path, rows=None) -> Path:
    rows = rows or [(1, "a fine and lovely fox"), (0, "a bad and lazy dog")] * 10
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for y, t in rows))
    return path


@pytest.mark.parametrize("ref", ["{tmp}/val.tsv", "{{path: {tmp}/digits, split: val}}"])
def test_compare_refuses_a_test_set_that_is_the_validation_set(tmp_path, ref):
    from headstart.compare import load_compare_config

    write_labeled(tmp_path / "val.tsv")
    held_out = ref.format(tmp=tmp_path)
    config = tmp_path / "compare.yaml"
    config.write_text(f"run_dir: {tmp_path / 'compare'}\npretrained: {tmp_path / 'run'}\n"
                      f"task: {{train: {tmp_path / 'train.tsv'}, val: {held_out}, test: {held_out}}}\n")
    # Validation chose each run's checkpoint and learning rate: a score on it is not a test score.
    with pytest.raises(HeadstartError, match=r"task\.test: .* is task\.val .*chose"):
        load_compare_config(config)


@pytest.fixture()
def tiny_pretrained(tmp_path):
    from test_pretrain_cli import CORPUS, run_cli, write_config

    (tmp_path / "corpus.txt").write_text(CORPUS)
    assert run_cli("prepare", "text", tmp_path / "corpus.txt", "--out", tmp_path / "data", "--tokenizer", "char",
                   "--workers", "0")[0] == 0
    assert run_cli("pretrain", write_config(tmp_path, tmp_path / "data", "masked_lm"))[0] == 0
    return tmp_path / "run-masked_lm"


@pytest.mark.parametrize("strategy", ["{name: full}", "{name: linear_probe, solver: lbfgs}"])
def test_finetune_without_a_test_set_says_there_is_no_test_score(tmp_path, tiny_pretrained, strategy):
    from test_pretrain_cli import run_cli

    write_labeled(tmp_path / "train.tsv")
    config = tmp_path / "ft.yaml"
    config.write_text(f"run_dir: {tmp_path / 'ft'}\ninit: {tiny_pretrained}\npooling: mean\n"
                      f"task: {{train: {tmp_path / 'train.tsv'}, budget: 20}}\nstrategy: {strategy}\n"
                      "train: {steps: 4, batch_size: 8, warmup_steps: 1, eval_every: 2, log_every: 2}\n")
    code, out = run_cli("finetune", config)
    assert code == 0, out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["test"] is None
    validation = next(line for line in out.splitlines() if line.startswith("val: accuracy"))
    assert "chose" in validation  # what the validation figure was used for, so it is not read as a score
    assert "test: none (no task.test" in out and "test: accuracy" not in out


# ---- 3. a checkpoint's objective weights load whole, or not at all ---------------------------------

def test_objective_weights_that_do_not_fit_the_head_are_an_error_not_a_random_head(tmp_path):
    from headstart.engine.checkpoint import load_objective_weights, model_tensors
    from headstart.models import TextTransformer, TransformerConfig
    from headstart.objectives import Classification

    model = TextTransformer(TransformerConfig(vocab_size=64, context_length=16, n_layer=1, n_head=2, d_model=32))
    trained = Classification(model, num_classes=3, pooling="mean")
    checkpoint = tmp_path / "step_000010"
    checkpoint.mkdir()
    save_file(model_tensors(model), str(checkpoint / "model.safetensors"))
    # The head saved under names this objective does not have (an older objective, another pooling).
    save_file({"classifier.weight": trained.head.weight.detach().clone(),
               "classifier.bias": trained.head.bias.detach().clone()}, str(checkpoint / "objective.safetensors"))

    with pytest.raises(HeadstartError) as caught:
        load_objective_weights(Classification(model, num_classes=3, pooling="mean"), checkpoint)
    message = str(caught.value)
    assert "objective.safetensors" in message and "\n" not in message
    assert "missing 2 (head.bias, head.weight); unexpected 2 (classifier.bias, classifier.weight)" in message

    # A head with no objective.safetensors at all is as random.
    (checkpoint / "objective.safetensors").unlink()
    with pytest.raises(HeadstartError, match=r"missing 2 \(head\.bias, head\.weight\); unexpected 0"):
        load_objective_weights(Classification(model, num_classes=3, pooling="mean"), checkpoint)


# ---- 4. a text task's splits are different files -------------------------------------------------

@pytest.mark.parametrize("keys", [("train", "test"), ("val", "test"), ("train", "val")])
def test_a_text_task_whose_splits_are_one_file_is_refused(tmp_path, keys):
    from test_pretrain_cli import run_cli

    shared_file = write_labeled(tmp_path / "task.tsv")
    (tmp_path / "sub").mkdir()
    files = {"train": tmp_path / "train.tsv", "val": tmp_path / "val.tsv", "test": tmp_path / "test.tsv"}
    for path in files.values():
        write_labeled(path)
    files[keys[0]], files[keys[1]] = shared_file, tmp_path / "sub" / ".." / "task.tsv"  # one file, two spellings
    config = tmp_path / "ft.yaml"  # the splits are checked before any model loads: init need not exist
    config.write_text(f"run_dir: {tmp_path / 'ft'}\ninit: {tmp_path / 'run'}\n"
                      f"task: {{train: {files['train']}, val: {files['val']}, test: {files['test']}}}\n")
    code, out = run_cli("finetune", config)
    assert code == 2 and "\n" not in out.strip()
    assert f"task.{keys[1]}" in out and f"task.{keys[0]}" in out and "task.tsv" in out


# ---- 5. a prepared text folder reads only its own files -------------------------------------------

@pytest.mark.parametrize("where", ["absolute", "parent"])
def test_a_manifest_naming_a_file_outside_its_folder_is_refused(tmp_path, where):
    from headstart.text import TokenShards, prepare_text

    (tmp_path / "corpus.txt").write_text("\n\n".join(f"document {i}: a quick brown fox" for i in range(50)))
    folder = tmp_path / "data"
    prepare_text([tmp_path / "corpus.txt"], folder, tokenizer="char", workers=0, progress=False)
    manifest_file = folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    shard = manifest["splits"]["train"]["shards"][0]
    outside = tmp_path / "elsewhere.bin"  # same size as the shard, so only where it is can give it away
    shutil.copyfile(folder / shard["file"], outside)
    entry = str(outside) if where == "absolute" else "../elsewhere.bin"
    shard["file"] = entry
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(HeadstartError, match=rf"{re.escape(str(manifest_file))}: .*{re.escape(entry)}.* not inside"):
        TokenShards(folder, "train")

    shard["file"] = Path(entry).name
    shutil.copyfile(outside, folder / shard["file"])
    manifest["tokenizer"]["file"] = "../tokenizer.json"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(HeadstartError, match=r"manifest\.json: .*\.\./tokenizer\.json.* not inside"):
        TokenShards(folder, "train")


# ---- 6. every package headstart imports is declared ----------------------------------------------

# Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn", "umap": "umap-learn",
                 "pynvml": "nvidia-ml-py"}


def _normalized(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    declared = {_normalized(r) for r in project["dependencies"]}
    declared |= {_normalized(r) for extra in project.get("optional-dependencies", {}).values() for r in extra}
    imported = {}
    for file in sorted((PROJECT / "headstart").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "headstart" and top not in sys.stdlib_module_names:
                    imported.setdefault(top, file.relative_to(PROJECT))
    undeclared = {top: str(file) for top, file in imported.items()
                  if _normalized(DISTRIBUTIONS.get(top, top)) not in declared}
    assert undeclared == {}
    assert {"torch", "numpy", "PIL", "scipy"} <= set(imported)  # the walk sees imports inside functions too
