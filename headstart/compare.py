"""``headstart compare``: prove the head start — pre-trained vs from-scratch on the same task and budget.

For every label budget and seed, the same stratified subset of labels fine-tunes two copies of one
architecture: the pre-trained checkpoint and a random initialisation (same strategy, steps and
hyper-parameters).  A classical baseline (TF-IDF + logistic regression for text, logistic regression
on pixels for images) trains on the same labels.  A budget of N is N labels in all, for every arm:
the deep arms validate on a share of them (``finetune.task.split_task``), the baseline cross-validates
inside them; an explicit ``task.val`` is counted on top and the report says so.
Frozen features of both inits are probed (linear, kNN), scored with LogME before any fine-tuning, and
projected to 2-D.  Everything lands in one self-contained report (HTML + Markdown + JSON).

Finished runs are not redone: each keeps its ``results.json``, so an interrupted sweep resumes.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Optional, Union

import numpy as np
import yaml

from .compare_config import SEMI, ArmRecipe, CompareConfig
from .config import apply_overrides, read_yaml, validate
from .engine.checkpoint import read_state, resolve_checkpoint, write_json_atomic
from .engine.metrics import read_metrics
from .engine.rng import seed_everything
from .errors import HeadstartError
from .finetune.config import TRAIN_DEFAULTS, FinetuneConfig
from .finetune.run import finetune
from .finetune.task import TaskModality, budget_labels, split_task, task_modality
from .label_budget import stratified_subset
from .modality import checkpoint_kind, of_checkpoint_kind, prepared_format
from .transfer.logme import logme_score
from .transfer.probes import PROBE_PROTOCOL, knn_probe, linear_probe, project_2d
from .transfer.report import write_report
from .transfer.semi_report import semi_study
from .transfer.stats import steps_to_target

log = logging.getLogger("headstart")
def load_compare_config(path, overrides=()) -> CompareConfig:
    cfg = validate(CompareConfig, apply_overrides(read_yaml(path), list(overrides)), str(path))
    # Check every arm's settings now, so that an error names this file, not a fine-tuning run an hour in.
    for arm in cfg.arms():
        _run_config(cfg, arm, None, cfg.seeds[0], cfg.run_dir, source=str(path))
    return cfg


def _run_config(cfg: CompareConfig, arm: str, budget: Optional[int], seed: int, run_dir: Path,
                lr: Optional[float] = None, source: str = "compare config") -> FinetuneConfig:
    base = arm.removesuffix(SEMI)  # pretrained+semi fine-tunes as pretrained does, plus the pool
    recipe = cfg.recipes.get(arm) or cfg.recipes.get(base) or ArmRecipe()
    train = {**cfg.train, **recipe.train, "seed": seed, "progress": False}
    if lr is not None:  # min_lr keeps its ratio to lr so the schedule's shape is the same for every lr
        ratio = train.get("min_lr", TRAIN_DEFAULTS["min_lr"]) / train.get("lr", TRAIN_DEFAULTS["lr"])
        train.update(lr=lr, min_lr=lr * ratio)
    task = {**cfg.task.model_dump(), "budget": budget}
    if recipe.refit is not None:
        task["refit"] = recipe.refit
    # The compare config's train section is checked here, where it becomes a fine-tuning config.
    return validate(FinetuneConfig, {
        "run_dir": run_dir, "init": cfg.also.get(arm, cfg.pretrained), "scratch": base == "scratch",
        "task": task, "strategy": (recipe.strategy or cfg.strategy).model_dump(),
        "pooling": recipe.pooling or cfg.pooling, "dropout": cfg.dropout, "epochs": recipe.epochs or cfg.epochs,
        "ngrams": cfg.ngrams if recipe.ngrams is None else recipe.ngrams,
        **({"select": recipe.select} if recipe.select is not None else {}),
        "train": train, **({"semi_supervised": cfg.semi_supervised.model_dump()} if arm.endswith(SEMI) else {})},
        source)


def run_dir_of(compare_dir: Path, arm: str, budget: int, seed: int, lr: Optional[float] = None) -> Path:
    """Where a compare in ``compare_dir`` keeps one fine-tuning run (``lr`` when it searches rates)."""
    name = f"{arm}-{budget}-s{seed}"
    return Path(compare_dir) / "runs" / (name if lr is None else f"{name}-lr{lr:g}")


def _best_run(cfg: CompareConfig, arm: str, budget: int, seed: int) -> tuple[dict, Path, float, list]:
    """Fine-tune once per learning rate searched: (results, run folder) of the best on validation, the
    seconds all the candidates took and their cost records (None: a run from before cost records)."""
    best, seconds, costs = None, 0.0, []
    for lr in cfg.lr_candidates(arm):
        run_dir = run_dir_of(cfg.run_dir, arm, budget, seed, lr)
        result = _finetune_once(_run_config(cfg, arm, budget, seed, run_dir, lr))
        seconds += result["seconds"]
        costs.append(result.get("cost"))
        if best is None or result["val"]["accuracy"] > best[0]["val"]["accuracy"]:  # a tie keeps the first lr
            best = (result, run_dir)
    return (*best, seconds, costs)


def _finetune_once(run_cfg: FinetuneConfig) -> dict:
    done = run_cfg.run_dir / "results.json"
    if done.exists():
        _check_same_run(run_cfg)
        return json.loads(done.read_text())
    shutil.rmtree(run_cfg.run_dir, ignore_errors=True)  # an unfinished run starts over
    result = finetune(run_cfg)
    return _keep_only_the_classifier(run_cfg.run_dir, result)


def _keep_only_the_classifier(run_dir: Path, result: dict) -> dict:
    """A finished comparison run is never resumed: its checkpoints go, and the scored weights stay as the
    run's classifier (``classifier/``, what ``headstart predict`` and ``export`` read), which results.json
    then names.  With word vectors every checkpoint holds the whole table and its Adam moments (360 MB for
    100,000 words x 300), and a 3-budget, 3-seed comparison kept 20 GB of checkpoints nobody reads.  A modality
    that saves no standalone classifier (a plug-in without ``classifier_io``) keeps its checkpoints."""
    if result.get("classifier") is None:
        return result
    for checkpoints in (run_dir / "checkpoints", run_dir / "refit" / "checkpoints"):
        shutil.rmtree(checkpoints, ignore_errors=True)
    result = {**result, "best_checkpoint": result["classifier"]}
    write_json_atomic(run_dir / "results.json", result)
    return result


def _check_same_run(run_cfg: FinetuneConfig) -> None:
    """A finished run is reused only if it ran with this very config: a changed setting (say
    task.augment) must not be reported with the old runs' numbers."""
    recorded_file = run_cfg.run_dir / "config.yaml"
    recorded = yaml.safe_load(recorded_file.read_text()) if recorded_file.exists() else None
    if not isinstance(recorded, dict):
        raise HeadstartError(f"{run_cfg.run_dir}: finished, but its config.yaml is missing; delete the folder to "
                             f"run it again")
    now = run_cfg.model_dump(mode="json")  # as finetune records it in config.yaml
    try:  # read back through the config class, so a setting added since then compares at its default
        recorded = FinetuneConfig.model_validate({k: v for k, v in recorded.items() if k != "kind"}).model_dump(mode="json")
    except ValueError:
        pass  # not valid any more: compared as written, and the difference is named below
    # run_dir may differ: a moved compare folder still holds the same runs.
    changed = [key for key in sorted((set(now) | set(recorded)) - {"kind", "run_dir"})
               if now.get(key) != recorded.get(key)]
    if changed:
        key = changed[0]
        raise HeadstartError(f"{run_cfg.run_dir}: finished with another {key} ({recorded.get(key)!r}, now "
                             f"{now.get(key)!r}); give compare a new run_dir, or delete the old one to redo it")


def _budgets(cfg: CompareConfig, modality: TaskModality) -> tuple[list[int], int, int]:
    """(label budgets as sizes, labeled training examples available, held-out examples evaluated)."""
    pool, val, test = split_task(_run_config(cfg, "pretrained", None, cfg.seeds[0], cfg.run_dir), modality)
    available = len(pool) if cfg.task.val is not None else len(pool) + len(val)  # an explicit val is extra
    if any(b != "all" and b > available for b in cfg.budgets):
        log.warning("budgets above the %d labeled training examples are capped at %d", available, available)
    sizes = sorted({available if b == "all" else min(b, available) for b in cfg.budgets})
    for size in sizes:  # a budget too small to train and validate on is an error now, not an hour in
        split_task(_run_config(cfg, "pretrained", size, cfg.seeds[0], cfg.run_dir), modality)
    return sizes, available, len(test)


def recipe_note(cfg: CompareConfig, arm: str) -> str:
    """How ``arm`` fine-tuned, where its recipe differs from the shared one (for the report)."""
    run = _run_config(cfg, arm, None, cfg.seeds[0], cfg.run_dir)
    strategy = run.strategy.name + (f" ({run.strategy.solver})" if run.strategy.solver != "engine" else "")
    rates = [lr for lr in cfg.lr_candidates(arm) if lr is not None]
    parts = [f"strategy {strategy}", f"pooling {run.pooling}"]
    if run.strategy.solver == "engine":
        parts += [f"learning rate {'searched over ' + ', '.join(f'{lr:g}' for lr in rates) if rates else f'{run.train.lr:g}'}",
                  f"{run.epochs:g} epochs" if run.epochs else f"{run.train.steps} steps"]
    parts.append("refitted on every label of the budget" if run.task.refit else "")
    parts.append("plus the TF-IDF n-gram model's logits" if run.ngrams else "")
    return "its own recipe: " + ", ".join(p for p in parts if p)


def label_accounting(cfg: CompareConfig, modality: TaskModality, budgets: list[int]) -> dict:
    """How each budget's labels were spent, for the report: {budget: {"train": n, "validation": m,
    "counted": whether validation is part of the budget}}."""
    spent = {}
    for budget in budgets:
        pool, val, _ = split_task(_run_config(cfg, "pretrained", budget, cfg.seeds[0], cfg.run_dir), modality)
        spent[budget] = {"train": len(pool), "validation": len(val), "counted": cfg.task.val is None}
    return spent


def _frozen_feature_studies(cfg: CompareConfig, modality: TaskModality, largest: int, eval_key: str) -> dict:
    """Linear/kNN probes and LogME of pre-trained vs random-init features, and a 2-D projection."""
    run_cfg = _run_config(cfg, "pretrained", largest, cfg.seeds[0], cfg.run_dir)
    pool, val, held_out = split_task(run_cfg, modality)
    pool = budget_labels(pool, val)  # the probes see the labels the arms saw
    if len(pool) > cfg.probe_examples:
        pool = pool.subset(stratified_subset(pool.labels, cfg.probe_examples, 0).tolist())
    classes = len(pool.label_names)
    pretrained = modality.backbone(run_cfg)
    seed_everything(0)
    inits = {"pretrained": pretrained, "random_init": pretrained.with_fresh_weights()}
    y_train, y_test = np.asarray(pool.labels), np.asarray(held_out.labels)
    probes, logme, test_features = {}, {}, None
    for name, backbone in inits.items():
        X_train, X_test = backbone.features(pool, classes), backbone.features(held_out, classes)
        probes[name] = {"linear": linear_probe(X_train, y_train, X_test, y_test, seed=0),
                        "knn": knn_probe(X_train, y_train, X_test, y_test)}
        logme[name] = logme_score(X_train, y_train)
        test_features = X_test if name == "pretrained" else test_features
    for extra in cfg.rank:
        other = modality.load(extra, run_cfg)
        logme[other.source] = logme_score(other.features(pool, classes), y_train)
    shown = np.arange(len(y_test))[:1000]
    method = "umap" if importlib.util.find_spec("umap") else "pca"  # UMAP when the user installed it
    projection = {"points": project_2d(test_features[shown], method=method).tolist(),
                  "labels": y_test[shown].tolist(), "method": method}
    return {"probes": probes, "logme": logme, "projection": projection}


def _run_folder(path: Path) -> tuple[Path, Path, dict]:
    """(run folder, checkpoint, its state) of a run or checkpoint path, the run holding metrics.jsonl."""
    checkpoint = resolve_checkpoint(path, "best")
    run_dir = Path(path) if (Path(path) / "metrics.jsonl").exists() else checkpoint.parent.parent
    if not (run_dir / "metrics.jsonl").exists():
        raise HeadstartError(f"{path}: no metrics.jsonl in its run folder {run_dir}; give the run folder")
    return run_dir, checkpoint, read_state(checkpoint)


def pretraining_curves(pretrained: Path, reference: Path, target_loss: Optional[float] = None) -> dict:
    """Validation loss of two pre-training runs of one objective, and the first step each reaches the
    target loss (default: 90% of ``reference``'s improvement)."""
    runs = {"pre-trained": _run_folder(pretrained), "reference": _run_folder(reference)}
    objectives = {role: (state.get("config", {}).get("objective") or {}).get("name") for role, (_, _, state) in runs.items()}
    if objectives["pre-trained"] != objectives["reference"]:
        raise HeadstartError(f"pretraining_reference: {reference} trained {objectives['reference']}, "
                             f"the pre-trained run {objectives['pre-trained']}; their losses are not comparable")
    curves = {}
    for role, (run_dir, _, _) in runs.items():
        rows = [row for row in read_metrics(run_dir, "val") if "loss" in row]
        curves[f"{role}: {run_dir.name}"] = {"steps": [r["step"] for r in rows], "loss": [r["loss"] for r in rows]}
    reference = curves[f"reference: {runs['reference'][0].name}"]
    if not reference["loss"]:
        raise HeadstartError(f"pretraining_reference: {runs['reference'][0]} logged no validation loss")
    # As the accuracy target is 90% of the best arm: a run's last stretch is a noisy plateau, where the
    # first step under its very final loss says more about noise than about speed.
    first, last = reference["loss"][0], reference["loss"][-1]
    target = target_loss if target_loss is not None else last + 0.1 * (first - last)
    # Lower is better: negate so steps_to_target's "first value at or above" reads "first loss at or below".
    reach = {name: steps_to_target(c["steps"], [-v for v in c["loss"]], -target) for name, c in curves.items()}
    return {"objective": objectives["reference"], "curves": curves, "target_loss": target, "steps_to_target": reach,
            "seconds": {name: runs[role][2].get("elapsed_seconds") for name, role in zip(curves, runs)}}


def _modality_studies(cfg: CompareConfig, modality: TaskModality, eval_key: str) -> dict:
    """What the pre-trained checkpoint's own modality adds, e.g. zero-shot accuracy and retrieval for an
    image-text model."""
    try:
        state = read_state(resolve_checkpoint(cfg.pretrained, "best"))
    except HeadstartError:
        return {}
    owner = of_checkpoint_kind(checkpoint_kind(state.get("config", {}).get("model")))
    if owner is None or owner.compare_studies is None:
        return {}
    run_dir, _, state = _run_folder(cfg.pretrained)

    def held_out():
        return split_task(_run_config(cfg, "pretrained", None, cfg.seeds[0], cfg.run_dir), modality)[2]
    return owner.compare_studies(cfg.pretrained, task_modality=modality.name, held_out=held_out,
                                 templates=cfg.zero_shot_templates, eval_key=eval_key, run_dir=run_dir,
                                 step=state.get("step"))


def _contamination_check(cfg: CompareConfig, modality: TaskModality, state: dict, eval_key: str) -> Optional[dict]:
    """The held-out examples that occur in the checkpoint's pre-training corpus (13-gram overlap, or the
    whole example when shorter), logged loudly: a head start measured on them is partly memory."""
    from .audit import contamination
    corpus = ((state.get("config") or {}).get("data") or {}).get("path")
    fmt = prepared_format(Path(corpus)) if corpus and modality.name == "text" else None  # None: unreadable too
    if fmt != "headstart.text_shards":
        log.debug("compare: no contamination check (pre-training data %s is gone or not a prepared text folder)", corpus)
        return None
    _, _, held_out = split_task(_run_config(cfg, "pretrained", None, cfg.seeds[0], cfg.run_dir), modality)
    found = contamination(corpus, held_out.texts, held_out.line_numbers)
    if found:
        shown = "; ".join(f"line {row['line']}: {row['text'][:80]!r}" for row in found[:5])
        log.warning("WARNING: %d of %d %s examples of %s occur in the pre-training data %s, so the head start "
                    "on them may be memory, not transfer (see the report): %s%s", len(found), len(held_out),
                    eval_key, held_out.source, corpus, shown, " ..." if len(found) > 5 else "")
    return {"corpus": str(corpus), "split": eval_key, "file": held_out.source, "examples": len(held_out),
            "contaminated": found}


def _pretraining_cost(pretrained: Path, state: dict) -> dict:
    """What producing the pre-trained model cost: the whole run (its cost.json) when ``pretrained`` is the
    run folder, else up to the checkpoint given (its state).  A checkpoint from before cost records, or an
    imported one, has none."""
    whole_run = Path(pretrained) / "cost.json"
    if whole_run.is_file():
        record = json.loads(whole_run.read_text())
        return cost_entry(record.get("wall_s"), [record])
    return cost_entry(state.get("elapsed_seconds"), [state.get("cost")])


def cost_entry(seconds: Optional[float], records: list[Optional[dict]]) -> dict:
    """One row of the report's cost table: wall seconds, and energy and CO2e summed over ``records`` with
    their source; energy None ("not recorded") unless every run has a record: a partial sum would
    understate it."""
    done = [r for r in records if r and r.get("energy_kwh") is not None]
    if not done or len(done) < len(records):
        missing = "" if not done else f" for {len(records) - len(done)} of {len(records)} runs"
        return {"seconds": seconds, "energy_kwh": None, "co2_kg": None, "source": f"energy not recorded{missing}"}
    kinds = {r.get("kind", "estimated") for r in done}
    return {"seconds": seconds, "energy_kwh": sum(r["energy_kwh"] for r in done),
            "co2_kg": sum(r["co2_kg"] for r in done),
            "kind": kinds.pop() if len(kinds) == 1 else "partly measured",
            "source": "; ".join(dict.fromkeys(r["source"] for r in done)),
            "carbon_intensity_g_per_kwh": sorted({r["carbon_intensity_g_per_kwh"] for r in done})}


def compare(config: Union[CompareConfig, str, Path], overrides=(), command: str = "") -> dict:
    """Run the sweep and write the report; returns ``{"results": ..., "report": {format: path}}``."""
    cfg = config if isinstance(config, CompareConfig) else load_compare_config(config, overrides)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise HeadstartError("headstart compare runs its many small fine-tuning runs one after another in one "
                             "process; under torchrun, run a single arm with headstart finetune")
    modality = task_modality(cfg.task)
    budgets, n_train, n_eval = _budgets(cfg, modality)
    eval_key = "test"  # compare always scores on task.test (its config requires one)
    fine_tuned = cfg.arms()
    arms = {arm: {b: [] for b in budgets} for arm in fine_tuned + (("baseline",) if cfg.baseline else ())}
    chosen = {arm: {b: [] for b in budgets} for arm in fine_tuned}  # the learning rate each run ended up with
    calibration = {arm: {b: [] for b in budgets} for arm in fine_tuned}  # test ECE; None: a run from before ECE
    run_dirs, seconds, costs = {}, {arm: 0.0 for arm in fine_tuned}, {arm: [] for arm in fine_tuned}
    label_names, semi_runs = None, {}
    total, done = len(budgets) * len(cfg.seeds) * len(fine_tuned), 0
    for budget in budgets:
        for seed in cfg.seeds:
            for arm in fine_tuned:
                done += 1
                log.info("compare: run %d/%d — %s, %d labels, seed %d", done, total, arm, budget, seed)
                result, run_dir, spent, spent_cost = _best_run(cfg, arm, budget, seed)
                seconds[arm] += spent
                costs[arm] += spent_cost
                arms[arm][budget].append(result[eval_key]["accuracy"])
                calibration[arm][budget].append(result[eval_key].get("ece"))
                chosen[arm][budget].append(result.get("lr"))
                run_dirs[arm, budget, seed] = run_dir
                if arm.endswith(SEMI):
                    semi_runs[arm, budget, seed] = (result, run_dir)
                label_names = result["label_names"]
            if cfg.baseline:  # every label the deep arms saw, validation included; scored on the same test set
                pool, val, test = split_task(_run_config(cfg, "scratch", budget, seed, cfg.run_dir), modality)
                arms["baseline"][budget].append(modality.baseline(budget_labels(pool, val), test, seed))

    largest, first_seed = budgets[-1], cfg.seeds[0]
    curves = {}
    for arm in fine_tuned:
        rows = read_metrics(run_dirs[arm, largest, first_seed], "val")
        curves[arm] = {"steps": [r["step"] for r in rows], "accuracy": [r["accuracy"] for r in rows],
                       "budget": largest}
    target = cfg.target_accuracy or 0.9 * max(max(c["accuracy"]) for c in curves.values())
    studies = _frozen_feature_studies(cfg, modality, largest, eval_key)
    studies.update(_modality_studies(cfg, modality, eval_key))
    if cfg.pretraining_reference is not None:
        studies["pretraining_curves"] = pretraining_curves(cfg.pretrained, cfg.pretraining_reference, cfg.target_loss)
    if (semi := semi_study(semi_runs, budgets, cfg.seeds)) is not None:
        studies["semi_supervised"] = semi
    state = read_state(resolve_checkpoint(cfg.pretrained, "best"))
    if (found := _contamination_check(cfg, modality, state, eval_key)) is not None:
        studies["contamination"] = found
    task_name = cfg.task.train.path.name
    results = {
        "title": f"Head start of {cfg.pretrained} on {task_name}",
        "command": command,
        "configs": {"compare": json.loads(cfg.model_dump_json()),
                    **({"learning rate chosen on validation, per budget and seed": chosen}
                       if any(cfg.lr_candidates(arm) != [None] for arm in fine_tuned) else {})},
        "arm_notes": {**({"baseline": f"{modality.baseline_name}: {PROBE_PROTOCOL[modality.baseline_protocol]}"}
                         if cfg.baseline else {}),
                      **{arm: "as configured, plus the logits of the baseline's TF-IDF + logistic regression fitted "
                              "on the same labels (ngrams: true)" for arm in fine_tuned if cfg.ngrams},
                      **{arm: f"fine-tuned from {path}, exactly as pretrained" for arm, path in cfg.also.items()
                         if arm not in cfg.recipes},
                      **{arm: recipe_note(cfg, arm) for arm in cfg.recipes}},
        "task": {"name": task_name, "label_names": label_names, "n_train": n_train, "n_test": n_eval},
        "budgets": budgets,
        "label_accounting": label_accounting(cfg, modality, budgets),
        "arms": arms,
        "calibration": calibration,
        "curves": curves,
        "steps_to_target": {**{arm: steps_to_target(c["steps"], c["accuracy"], target) for arm, c in curves.items()},
                            "target": target},
        **studies,
        "costs": {"pre-training": _pretraining_cost(cfg.pretrained, state),
                  **{f"fine-tuning ({arm}, all runs)": cost_entry(seconds[arm], costs[arm]) for arm in fine_tuned}},
    }
    paths = write_report(cfg.run_dir / "report", results)
    return {"results": results, "report": paths}
