"""``headstart finetune``: a task head on a pre-trained (or random) backbone, trained by the engine."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

import yaml

from ..config import apply_overrides, read_yaml, resolve_model, validate
from ..engine import Checkpointer, Trainer
from ..engine.checkpoint import load_objective_weights, write_json_atomic
from ..engine.device import resolve_device
from ..engine.rng import seed_everything
from ..errors import HeadstartError
from ..models import TextTransformer
from ..objectives import Classification
from ..text.labeled import LabeledTexts, align_labels, read_labeled, stratified_subset
from ..text.pretrained import load_text_model
from ..text.task_batches import TextClassificationBatches, encode_texts
from ..text.tokenizer import load_tokenizer, special_token_ids
from .config import FinetuneConfig
from .evaluate import evaluate_classifier
from .strategies import apply_strategy

log = logging.getLogger("headstart")


def load_finetune_config(path, overrides=()) -> FinetuneConfig:
    return validate(FinetuneConfig, apply_overrides(read_yaml(path), list(overrides)), str(path))


def build_backbone(cfg: FinetuneConfig):
    """(model, tokenizer, where the weights came from), with ``cfg.dropout`` applied."""
    model, tokenizer, source = _backbone(cfg)
    if cfg.dropout is not None and cfg.dropout != model.cfg.dropout:
        # Pre-training often runs without dropout; fine-tuning on few labels wants some (BERT: 0.1).
        # Dropout lives in the architecture config, so rebuild with the new rate and keep the weights.
        rebuilt = TextTransformer(model.cfg.model_copy(update={"dropout": cfg.dropout}))
        rebuilt.load_state_dict(model.state_dict())
        model = rebuilt
    return model, tokenizer, source


def _backbone(cfg: FinetuneConfig):
    if cfg.init is not None:
        model, tokenizer, checkpoint, _ = load_text_model(cfg.init)
        if cfg.scratch:
            model = TextTransformer(model.cfg)  # same architecture and tokenizer, fresh weights
            return model, tokenizer, f"random init (architecture of {checkpoint})"
        return model, tokenizer, str(checkpoint)
    tokenizer = load_tokenizer(cfg.tokenizer)
    try:
        arch = resolve_model(cfg.model, vocab_size=tokenizer.get_vocab_size())
    except ValueError as e:
        raise HeadstartError(str(e)) from None
    return TextTransformer(arch), tokenizer, "random init"


def split_task(cfg: FinetuneConfig):
    """(training pool after the label budget, validation, test or None) as ``cfg.task`` says."""
    t = cfg.task
    read = lambda p: read_labeled(p, fmt=t.format, text_field=t.text_field, label_field=t.label_field,  # noqa: E731
                                  encoding=t.encoding)
    train = read(t.train)
    if t.val is not None:
        val = align_labels(train, read(t.val))
        train_idx = list(range(len(train)))
    else:  # hold out a stratified share of train for early stopping
        n_val = max(len(train.label_names), int(round(t.val_fraction * len(train))))
        val_idx = set(stratified_subset(train.labels, n_val, cfg.train.seed).tolist())
        train_idx = [i for i in range(len(train)) if i not in val_idx]
        val = train.subset(sorted(val_idx))
    test = align_labels(train, read(t.test)) if t.test is not None else None
    pool = train.subset(train_idx)
    if t.budget is not None:
        pool = pool.subset(stratified_subset(pool.labels, t.budget, cfg.train.seed).tolist())
    return pool, val, test


def text_batches(tokenizer, data: LabeledTexts, max_length: int, batch_size: int, seed: int = 0):
    special = special_token_ids(tokenizer)
    return TextClassificationBatches(encode_texts(tokenizer, data.texts, max_length), data.labels,
                                     batch_size=batch_size, pad_id=special["pad"], fallback_id=special["eos"],
                                     seed=seed)


def finetune(config: Union[FinetuneConfig, str, Path], overrides=()) -> dict:
    """Fine-tune as ``config`` says; returns (and writes to run_dir/results.json) val and test metrics."""
    cfg = config if isinstance(config, FinetuneConfig) else load_finetune_config(config, overrides)
    if Checkpointer(cfg.run_dir / "checkpoints").latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; choose a new run_dir")
    seed_everything(cfg.train.seed)
    train, val, test = split_task(cfg)
    model, tokenizer, source = build_backbone(cfg)
    max_length = min(cfg.task.max_length or model.cfg.context_length, model.cfg.context_length)
    pooling = cfg.pooling if cfg.pooling != "auto" else ("last" if model.cfg.causal else "mean")
    objective = Classification(model, len(train.label_names), pooling)
    plan = apply_strategy(model, cfg.strategy)

    def batches(data, seed):
        return text_batches(tokenizer, data, max_length, cfg.train.batch_size, seed)
    train_src, val_src = batches(train, cfg.train.seed), batches(val, 0)
    test_src = batches(test, 0) if test is not None else None
    device = resolve_device(cfg.train.device)
    num_classes = len(train.label_names)
    run_config = {**cfg.model_dump(mode="json"), "kind": "finetune_text"}
    trainer = Trainer(objective, train_src, None, cfg.train, cfg.run_dir, run_config=run_config,
                      eval_metric="accuracy", higher_is_better=True,
                      evaluate=lambda obj: evaluate_classifier(obj, val_src.in_order(), device, num_classes),
                      lr_scales=plan.lr_scales, on_step=plan.on_step,
                      extra_files={"tokenizer.json": _tokenizer_file(tokenizer, cfg)})
    log.info("fine-tuning %s on %d labeled examples (%d classes), %s strategy, %s pooling; val %d%s",
             source, len(train), num_classes, cfg.strategy.name, pooling, len(val),
             f", test {len(test)}" if test is not None else "")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    result = trainer.fit()

    best = result.best_checkpoint or result.last_checkpoint
    load_objective_weights(objective, best)  # the best step's backbone and head
    summary = {"init": source, "strategy": cfg.strategy.name, "lr": cfg.train.lr, "labels": len(train),
               "label_names": train.label_names, "best_step": result.best_eval and result.best_eval["step"],
               "val": evaluate_classifier(objective, val_src.in_order(), device, num_classes),
               "test": (evaluate_classifier(objective, test_src.in_order(), device, num_classes)
                        if test_src is not None else None),
               "steps": result.step, "seconds": result.seconds, "best_checkpoint": str(best)}
    write_json_atomic(cfg.run_dir / "results.json", summary)
    return summary


def _tokenizer_file(tokenizer, cfg: FinetuneConfig) -> Path:
    path = cfg.run_dir / "tokenizer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return path
