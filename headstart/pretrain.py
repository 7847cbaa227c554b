"""``headstart pretrain``: read the config, let the data's modality assemble model, objective and
batches, and hand them to the engine."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import yaml
from torch import nn

from .audio.arrays import MANIFEST_FORMAT as AUDIO_FORMAT
from .config import (AUDIO_OBJECTIVES, IMAGE_OBJECTIVES, PAIR_OBJECTIVES, TEXT_OBJECTIVES, WORD_VECTOR_OBJECTIVES,
                     PretrainConfig, load_pretrain_config)
from .engine import Checkpointer, Trainer, TrainResult
from .engine.data import BatchSource
from .engine.distributed import barrier, init_from_env
from .engine.rng import RNGStateError, seed_everything
from .errors import HeadstartError
from .output_folder import MANIFEST_NAME
from .pairs.arrays import MANIFEST_FORMAT as PAIRS_FORMAT
from .text.shards import MANIFEST_FORMAT as TEXT_FORMAT
from .vision.arrays import MANIFEST_FORMAT as IMAGE_FORMAT

log = logging.getLogger("headstart")

MODALITY_OF_FORMAT = {TEXT_FORMAT: "text", IMAGE_FORMAT: "images", AUDIO_FORMAT: "audio", PAIRS_FORMAT: "pairs"}
OBJECTIVES_OF = {"text": TEXT_OBJECTIVES, "images": IMAGE_OBJECTIVES, "audio": AUDIO_OBJECTIVES,
                 "pairs": PAIR_OBJECTIVES}
# Run-config keys a resume may change: moving the data, or watching the run differently.
# Where things live may change between a stop and a resume (a moved run or data folder); what is
# computed may not.
RESUMABLE_CONFIG_KEYS = frozenset({"run_dir", "data.path", "monitor.knn_train_images", "monitor.knn_val_images"})


@dataclass
class PretrainSetup:
    """What a modality's builder hands to the engine."""

    objective: nn.Module  # holds the model as .model
    train_data: BatchSource
    val_data: BatchSource
    run_config: dict  # the config's record plus what the data settled: the model's full config, ...
    flops_per_unit: float = 0.0  # training FLOPs per train_data unit, for MFU; 0 when not counted
    extra_files: dict[str, Path] = field(default_factory=dict)  # copied into every checkpoint
    monitor: Optional[Callable[[nn.Module, dict], dict]] = None  # more validation metrics
    summary: str = ""  # for the log: the model's size
    per_step: str = ""  # for the log: what one optimizer step trains on, e.g. "1536 tokens"
    # What a new run (not a resumed one, whose checkpoint holds the weights) does to the model before the
    # first step, e.g. seed token embeddings from word vectors; returns a line for the log.
    fresh_start: Optional[Callable[[], str]] = None


def prepared_modality(path: Path) -> Optional[str]:
    """"text", "images", "audio" or "pairs", as the prepared folder's manifest says; None when it cannot tell (the
    modality's own reader then says what is wrong with the folder)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return MODALITY_OF_FORMAT.get(manifest.get("format")) if isinstance(manifest, dict) else None


def build_setup(cfg: PretrainConfig) -> PretrainSetup:
    modality = prepared_modality(cfg.data.path) or cfg.modality
    if modality != cfg.modality:
        names = OBJECTIVES_OF[modality]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise HeadstartError(f"objective.name: {cfg.objective.name} trains on {cfg.modality}, but data.path "
                             f"{cfg.data.path} holds {modality} (`headstart prepare {modality}`); use {listed}")
    # Imported here: a text run never loads the image code, nor an image run the tokenizer.
    if modality == "text":
        from .text.pretrain_setup import text_setup
        return text_setup(cfg)
    if modality == "audio":
        from .audio.pretrain_setup import audio_setup
        return audio_setup(cfg)
    if modality == "pairs":
        from .pairs.pretrain_setup import pairs_setup
        return pairs_setup(cfg)
    from .vision.pretrain_setup import image_setup
    return image_setup(cfg)


def pretrain(config: Union[PretrainConfig, str, Path], overrides: list[str] = (),
             resume: Union[bool, str, Path] = False, on_eval=None) -> TrainResult:
    """Pre-train as ``config`` says.  ``resume=True`` continues from the run's latest checkpoint,
    ``resume=PATH`` from that checkpoint.  ``on_eval(step, val_metrics) -> stop?`` is the engine's hook
    after each evaluation (``Trainer``)."""
    cfg = config if isinstance(config, PretrainConfig) else load_pretrain_config(config, overrides)
    if cfg.objective.name in WORD_VECTOR_OBJECTIVES:
        return _pretrain_word_vectors(cfg, resume)
    here = init_from_env()  # under torchrun: join the process group; otherwise one process
    seed_everything(cfg.train.seed)  # before building the model: initial weights depend on the seed
    setup = build_setup(cfg)

    checkpointer = Checkpointer(cfg.run_dir / "checkpoints")
    start_from = None
    if resume:
        start_from = Path(resume) if not isinstance(resume, bool) else checkpointer.latest()
        if start_from is None:
            raise HeadstartError(f"--resume: no checkpoint in {checkpointer.dir} yet; run without --resume")
    elif checkpointer.latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; pass --resume to continue that run "
                             f"or set run_dir to a new directory")
    if start_from is None and setup.fresh_start is not None:
        log.info("%s", setup.fresh_start())  # before the trainer wraps the model and builds its optimizer
    barrier()  # every rank has looked before rank 0 writes anything

    trainer = Trainer(setup.objective, setup.train_data, setup.val_data, cfg.train, cfg.run_dir,
                      run_config=setup.run_config, flops_per_unit=setup.flops_per_unit,
                      extra_files=setup.extra_files, monitor=no_scores_without_a_loss(setup.monitor),
                      resumable_changes=RESUMABLE_CONFIG_KEYS,
                      on_eval=on_eval)
    if start_from is not None:
        try:
            trainer.resume(start_from)
        except RNGStateError as error:  # it names the file; the checkpoint is known here
            raise HeadstartError(f"cannot resume from {start_from}: {error}") from None
    if here.is_main:
        write_run_config(cfg.run_dir, setup.run_config)
    global_batch = f" x {here.world_size} processes" if here.distributed else ""
    log.info("model: %s; objective %s; %s per step%s", setup.summary, cfg.objective.name, setup.per_step, global_batch)
    return trainer.fit()


def write_run_config(run_dir: Path, run_config: dict) -> None:
    """``run_dir/config.yaml``: the run's full config, written before the first step (a full disk is
    one line here, not a traceback)."""
    path = run_dir / "config.yaml"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(run_config, sort_keys=False))
    except OSError as error:
        raise HeadstartError(f"could not write {path}: {error.strerror or error}") from None


Monitor = Callable[[nn.Module, dict], dict]
SCORE_NAMES = ("accuracy", "R@", "f1")  # validation metrics that rank predictions: meaningless on NaN outputs


def no_scores_without_a_loss(monitor: Optional[Monitor]) -> Monitor:
    """``monitor`` (or none), and NaN for every validation score when the validation loss is not finite.

    The engine calls the monitor with the objective's validation metrics and logs what it returns over
    them: the one place to catch every objective's scores.  NaN outputs still have an argmax (NaN counts as
    the largest), so a NaN model "predicts" the same code as a NaN target: BEST-RQ's masked accuracy was
    1.0 with a NaN loss.  Scores (accuracies, retrieval recall@K) mean nothing then; what describes the
    data (the masked fraction) is kept, and anything computed from the outputs is NaN already."""
    def checked(objective: nn.Module, metrics: dict) -> dict:
        extra = monitor(objective, metrics) if monitor is not None else {}
        loss = metrics.get("loss")
        if loss is None or math.isfinite(loss):
            return extra
        scores = [name for name in {**metrics, **extra} if any(part in name for part in SCORE_NAMES)]
        log.warning("validation loss is %s: the model's outputs are not finite numbers; %s reported as NaN",
                    loss, ", ".join(scores) or "no score")
        return {**extra, **{name: math.nan for name in scores}}
    return checked


def _pretrain_word_vectors(cfg: PretrainConfig, resume) -> TrainResult:
    """Skip-gram / CBOW: gensim trains them (see ``text/word_vectors.py`` for why), in one process."""
    from .text.word_vectors import train_word_vectors
    if prepared_modality(cfg.data.path) not in (None, "text"):
        raise HeadstartError(f"objective.name: {cfg.objective.name} trains on text, but data.path {cfg.data.path} "
                             f"holds {prepared_modality(cfg.data.path)}")
    if init_from_env().distributed:
        raise HeadstartError(f"{cfg.objective.name} runs in one process (gensim uses every core of it); "
                             f"start it without torchrun")
    if resume:
        raise HeadstartError(f"--resume: {cfg.objective.name} runs do not resume; start a new run_dir (each pass "
                             f"left a checkpoint you can fine-tune)")
    if Checkpointer(cfg.run_dir / "checkpoints").latest() is not None:
        raise HeadstartError(f"{cfg.run_dir} already holds checkpoints; set run_dir to a new directory")
    seed_everything(cfg.train.seed)
    return train_word_vectors(cfg, {**cfg.record(), "task": "pretrain_text"})
