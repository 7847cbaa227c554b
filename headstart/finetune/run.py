"""``headstart finetune``: a task head on a pre-trained (or random) backbone, trained by the engine.

The same path serves every modality: the task's data says which (``task_modality``), and the modality
reads the labeled splits, builds the backbone and its batches; the engine does the rest.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional, Union

import yaml

from ..config import apply_overrides, read_yaml, validate
from ..engine import Checkpointer, Trainer
from ..engine.checkpoint import load_objective_weights, write_json_atomic
from ..engine.device import resolve_device
from ..engine.distributed import barrier, init_from_env, world
from ..engine.rng import RNGStateError, seed_everything
from ..errors import HeadstartError
from .config import FinetuneConfig
from .evaluate import evaluate_classifier
from .probe_fit import fit_probe_run
from .semi_supervised import WithUnlabeled, consistency_rule, read_pool, student_config, with_pseudo_labels
from .strategies import apply_strategy
from .task import budget_labels, split_task, task_modality

log = logging.getLogger("headstart")


def load_finetune_config(path, overrides=()) -> FinetuneConfig:
    return validate(FinetuneConfig, apply_overrides(read_yaml(path), list(overrides)), str(path))


def finetune(config: Union[FinetuneConfig, str, Path], overrides=(), on_eval=None, resume: bool = False,
             stop_at: Optional[int] = None) -> dict:
    """Fine-tune as ``config`` says; returns (and writes to run_dir/results.json) val and test metrics.
    ``on_eval(step, val_metrics) -> stop?`` is the engine's hook after each evaluation (``Trainer``)."""
    cfg = config if isinstance(config, FinetuneConfig) else load_finetune_config(config, overrides)
    here = init_from_env()  # under torchrun: join the process group; otherwise one process
    if here.distributed:
        _check_distributable(cfg)
    latest = Checkpointer(cfg.run_dir / "checkpoints").latest()
    if latest is not None and not resume:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; choose a new run_dir, or continue it with --resume")
    if resume and latest is None and not (cfg.run_dir / "teacher").is_dir():  # self-training stopped in its teacher
        raise HeadstartError(f"--resume: no checkpoint in {cfg.run_dir / 'checkpoints'} yet; run without --resume")
    seed_everything(cfg.train.seed)
    modality = task_modality(cfg.task)
    if cfg.ngrams and not modality.ngram_side:
        raise HeadstartError(f"ngrams: n-gram features are for text tasks; this task is {modality.name}")
    train, val, test = split_task(cfg, modality)
    device = resolve_device(cfg.train.device, here.local_rank)  # the trainer's device: this process's GPU
    num_classes = len(train.label_names)
    semi, pool, extra = cfg.semi_supervised, None, {}
    if semi is not None:
        pool = read_pool(cfg, modality, train.label_names)
        if semi.method == "self_training":  # a teacher on the labels, then a student on labels + its pseudo-labels
            # With rounds > 1 the teacher is itself the student of one round fewer (Noisy Student iterates).
            earlier = semi.model_copy(update={"rounds": semi.rounds - 1}) if semi.rounds > 1 else None
            teacher = _teacher(cfg.model_copy(update={"run_dir": cfg.run_dir / "teacher", "semi_supervised": earlier}),
                               resume)
            labels = len(train)
            train, record = with_pseudo_labels(train, pool, cfg.run_dir / "teacher", cfg, modality)
            extra = {"labels": labels, "self_training": {**record, "round": semi.rounds, "teacher_test": teacher["test"],
                                                         "teacher_seconds": teacher["seconds"]},
                     "teacher_cost": teacher.get("cost")}
            pool, cfg = None, student_config(cfg)
            seed_everything(cfg.train.seed)
    if cfg.strategy.name == "linear_probe" and cfg.strategy.solver == "lbfgs":
        return _solved_probe(cfg, modality, train, val, test, num_classes, device, extra)
    backbone, objective, val_src, result = _train(cfg, modality, train, val, cfg.run_dir, on_eval, num_classes,
                                                  device, early_stopping=cfg.select == "best", pool=pool,
                                                  resume_from=latest if resume else None, stop_at=stop_at)
    best = result.last_checkpoint if cfg.select == "last" else (result.best_checkpoint or result.last_checkpoint)
    best_step = result.step if cfg.select == "last" else result.best_eval and result.best_eval["step"]
    load_objective_weights(objective, best)  # the best step's backbone and head
    summary = {"init": backbone.source, "strategy": cfg.strategy.name, "lr": cfg.train.lr, "labels": len(train),
               "validation_labels": len(val), "validation_counted": cfg.task.val is None,
               "label_names": train.label_names, "best_step": best_step,
               "val": evaluate_classifier(objective, val_src.in_order(), device, num_classes),
               "steps": result.step, "seconds": result.seconds, "cost": result.cost,
               "best_checkpoint": str(best), "interrupted": result.interrupted, **_semi_record(cfg, pool), **extra}
    if cfg.task.refit and cfg.task.val is None and not result.interrupted:
        objective, refit = _refit(cfg, modality, train, val, summary["best_step"] or result.step, num_classes, device,
                                  pool, pseudo_labels=len(train) - summary["labels"])
        summary.update(refit=refit, seconds=result.seconds + refit["seconds"], best_checkpoint=refit["checkpoint"])
        summary["cost"] = _added_costs(result.cost, refit.pop("cost"))
    _add_ngram_side(cfg, backbone, objective, budget_labels(train, val) if cfg.task.val is None else train, summary)
    test_src = backbone.batches(test, cfg.train.batch_size) if test is not None else None
    summary["test"] = evaluate_classifier(objective, test_src.in_order(), device, num_classes) if test_src else None
    return _publish(cfg, modality, backbone, objective, summary)


def _teacher(cfg: FinetuneConfig, resume: bool) -> dict:
    """Self-training's teacher: fine-tuned, or on --resume the one a stopped run already finished (or continued
    from its last checkpoint)."""
    done = cfg.run_dir / "results.json"
    if resume and done.exists():
        return json.loads(done.read_text())
    return finetune(cfg, resume=resume and Checkpointer(cfg.run_dir / "checkpoints").latest() is not None)


def _add_ngram_side(cfg: FinetuneConfig, backbone, objective, labeled, summary: dict) -> None:
    """``ngrams: true``: fit the TF-IDF half on every label the classifier learned from (validation ones too, as
    the baseline sees them), before anything is scored; its seconds count in the run's."""
    if cfg.ngrams:
        summary["ngrams"] = backbone.fit_ngrams(objective, labeled, cfg.train.seed)
        summary["seconds"] += summary["ngrams"]["seconds"]


def _check_distributable(cfg: FinetuneConfig) -> None:
    """Under torchrun every process fine-tunes its slice of each batch (``LabeledBatches``), evaluates the whole
    validation set and takes the same decisions; two settings cannot be split that way."""
    if cfg.strategy.solver == "lbfgs":
        raise HeadstartError("strategy.solver lbfgs solves a head in one process; run it without torchrun, or use "
                             "solver: engine")
    if cfg.strategy.name == "gradual_unfreeze":
        raise HeadstartError("strategy gradual_unfreeze changes which parameters train as it goes, which DDP cannot "
                             "follow across processes; run it without torchrun, or use llrd or freeze_bottom")


def _publish(cfg: FinetuneConfig, modality, backbone, objective, summary: dict) -> dict:
    """The first process saves the classifier and results.json; the others wait for it (a self-training student
    reads its teacher's files next).  A student's seconds and cost include its teachers' (every round's)."""
    if "self_training" in summary:
        summary["seconds"] += summary["self_training"]["teacher_seconds"]
        summary["cost"] = _added_costs(summary.get("cost"), summary.pop("teacher_cost", None))
    if world().is_main:
        summary["classifier"] = _save_classifier(cfg, modality, backbone, objective, summary)
        write_json_atomic(cfg.run_dir / "results.json", summary)
    barrier()
    return summary


def _solved_probe(cfg: FinetuneConfig, modality, train, val, test, num_classes: int, device,
                  extra: dict | None = None) -> dict:
    """The head as logistic regression on frozen features (``probe_fit``): cross-validated on every label
    of the budget, so validation labels are not spent on early stopping; an explicit task.val is scored."""
    backbone = modality.backbone(cfg)
    objective = backbone.objective(num_classes)
    apply_strategy(backbone.model, cfg.strategy)
    labeled = budget_labels(train, val) if cfg.task.val is None else train
    run_config = {**cfg.model_dump(mode="json"), "kind": f"finetune_{modality.name}"}
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    log.info("linear probe of %s on %d labels (%d classes)%s", backbone.source, len(labeled), num_classes,
             f", {backbone.describe()}" if backbone.describe() else "")
    checkpoint, fit, seconds, cost = fit_probe_run(cfg, backbone, objective, labeled, cfg.run_dir, run_config)
    score = lambda data: evaluate_classifier(objective, backbone.batches(data, cfg.train.batch_size).in_order(),  # noqa: E731
                                             device, num_classes)
    summary = {"init": backbone.source, "strategy": "linear_probe (lbfgs)", "lr": None, "labels": len(labeled),
               "validation_labels": 0 if cfg.task.val is None else len(val), "validation_counted": cfg.task.val is None,
               "label_names": train.label_names, "best_step": 1, "probe": fit,
               "steps": 1, "seconds": seconds, "cost": cost, "best_checkpoint": str(checkpoint), "interrupted": False,
               **(extra or {})}
    _add_ngram_side(cfg, backbone, objective, labeled, summary)  # an explicit task.val is scored with both halves
    summary["val"] = ({"accuracy": fit["cv_accuracy"], "protocol": f"{fit['folds']}-fold cross-validation"}
                      if cfg.task.val is None else score(val))
    summary["test"] = score(test) if test is not None else None
    if extra:  # self-training: the probe also saw the pseudo-labels; the labels are the budget's
        summary["labels"] = extra["labels"] + (len(val) if cfg.task.val is None else 0)
    return _publish(cfg, modality, backbone, objective, summary)


def _train(cfg: FinetuneConfig, modality, train, val, run_dir: Path, on_eval, num_classes: int, device,
           early_stopping: bool, steps: int | None = None, pool=None, resume_from: Optional[Path] = None,
           stop_at: Optional[int] = None):
    """Build a backbone as ``cfg`` says and train it on ``train``, validating on ``val``; returns
    (backbone, objective, val batches, the engine's result)."""
    backbone = modality.backbone(cfg)
    objective = backbone.objective(num_classes)
    try:
        plan = apply_strategy(backbone.model, cfg.strategy)
    except ValueError as e:
        raise HeadstartError(str(e)) from None
    train_cfg = cfg.schedule(len(train), world().world_size)
    if steps is not None:  # a refit: a fixed number of steps, judged once at the end
        train_cfg = train_cfg.model_copy(update={"steps": steps, "eval_every": steps, "patience": None,
                                                 "warmup_steps": min(train_cfg.warmup_steps, steps // 10)})
    elif not early_stopping:
        train_cfg = train_cfg.model_copy(update={"patience": None})
    train_src = backbone.batches(train, train_cfg.batch_size, train_cfg.seed)
    if pool is not None:  # consistency training: every batch also carries `ratio` times as many unlabeled examples
        objective.consistency = consistency_rule(cfg, backbone)
        unlabeled = backbone.batches(pool, train_cfg.batch_size * cfg.semi_supervised.ratio, train_cfg.seed + 1)
        train_src = WithUnlabeled(train_src, unlabeled)
    val_src = backbone.batches(val, train_cfg.batch_size)
    run_config = {**cfg.model_dump(mode="json"), "kind": f"finetune_{modality.name}"}
    trainer = Trainer(objective, train_src, None, train_cfg, run_dir, run_config=run_config,
                      eval_metric="accuracy", higher_is_better=True,
                      evaluate=lambda obj: evaluate_classifier(obj, val_src.in_order(), device, num_classes),
                      lr_scales=plan.lr_scales, on_step=plan.on_step, on_eval=on_eval,
                      extra_files=backbone.checkpoint_files(run_dir))
    how = backbone.describe()
    log.info("fine-tuning %s on %d labeled examples (%d classes), %s strategy%s; %d steps; val %d",
             backbone.source, len(train), num_classes, cfg.strategy.name, f", {how}" if how else "",
             train_cfg.steps, len(val))
    if world().is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    if resume_from is not None:  # the engine restores weights, optimizer, RNG and data position: as if never stopped
        try:
            trainer.resume(resume_from)
        except RNGStateError as error:  # it names the file; the checkpoint is known here
            raise HeadstartError(f"cannot resume from {resume_from}: {error}") from None
    return backbone, objective, val_src, trainer.fit(stop_at=stop_at)


def _refit(cfg: FinetuneConfig, modality, train, val, best_step: int, num_classes: int, device, pool=None,
           pseudo_labels: int = 0):
    """Train again on every label of the budget for the epochs validation chose (scikit-learn's refit):
    validation labels then teach the model too instead of only choosing it.  ``pseudo_labels``: how many of
    ``train`` are self-training's, for the record (they are not labels)."""
    labels = budget_labels(train, val)
    steps = max(1, round(best_step * len(labels) / len(train)))
    also = f" and {pseudo_labels} pseudo-labels" if pseudo_labels else ""
    log.info("refit: %d steps on all %d labels%s (validation chose step %d of %d training examples); the refit "
             "trains on the validation labels too, so its validation figures are not a score", steps,
             len(labels) - pseudo_labels, also, best_step, len(train))
    seed_everything(cfg.train.seed)
    _, objective, _, result = _train(cfg, modality, labels, val, cfg.run_dir / "refit", None, num_classes, device,
                                     early_stopping=False, steps=steps, pool=pool)
    load_objective_weights(objective, result.last_checkpoint)
    return objective, {"steps": steps, "labels": len(labels) - pseudo_labels, "pseudo_labels": pseudo_labels,
                       "seconds": result.seconds, "cost": result.cost, "checkpoint": str(result.last_checkpoint)}


def _save_classifier(cfg: FinetuneConfig, modality, backbone, objective, summary: dict) -> Optional[str]:
    """The run as a classifier that loads on its own (``headstart predict``, ``load_classifier``): the scored
    weights, labels, and the modality's record of its input pipeline.  None when the modality registers no
    ``classifier_io`` (a plug-in may not): the run's checkpoints still hold the weights."""
    from ..classifier.io import classifier_io  # the classifier package builds on fine-tuning, not the reverse
    from ..classifier.saved import CLASSIFIER_DIR, save_classifier
    from ..modality import find
    if find(lambda m: m.name == modality.name and m.classifier_io is not None) is None:
        log.info("the %s modality registers no classifier_io: no standalone classifier saved (the checkpoints "
                 "under %s hold the weights)", modality.name, cfg.run_dir)
        return None
    record, files = classifier_io(modality.name).record(backbone, cfg)
    trained = {key: summary[key] for key in ("init", "strategy", "labels", "validation_labels", "best_step")}
    return str(save_classifier(cfg.run_dir / CLASSIFIER_DIR, modality=modality.name, objective=objective,
                           labels=summary["label_names"], record=record, files=files,
                           provenance={"trained": {**trained, "strategy_config": cfg.strategy.model_dump(mode="json"),
                                                   "refit": "refit" in summary, "test": summary["test"]}}))


def _semi_record(cfg: FinetuneConfig, pool) -> dict:
    """What results.json says of consistency training: the method, its settings and the pool's size."""
    if pool is None:
        return {}
    semi = cfg.semi_supervised
    threshold, temperature = semi.rule()
    return {"semi_supervised": {"method": semi.method, "pool": len(pool), "threshold": threshold,
                                "temperature": temperature, "ratio": semi.ratio, "weight": semi.weight}}


def _added_costs(first: dict, second: dict) -> dict:
    """One cost record for two runs on the same machine: energy, CO2e, time and parts summed."""
    if not first or not second:
        return first or second
    parts = {}
    for part in first.get("parts", []) + second.get("parts", []):
        key = (part["part"], part["source"])
        parts[key] = parts.get(key, 0.0) + float(part["kwh"])
    return {**first, "energy_kwh": first["energy_kwh"] + second["energy_kwh"], "co2_kg": first["co2_kg"] + second["co2_kg"],
            "wall_s": first.get("wall_s", 0.0) + second.get("wall_s", 0.0),
            "parts": [{"part": name, "source": source, "kwh": kwh} for (name, source), kwh in parts.items()]}
