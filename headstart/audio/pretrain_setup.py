"""Audio pre-training: the encoder, BEST-RQ objective and batches a config describes, for
``headstart pretrain`` on a folder written by ``headstart prepare audio``."""
from __future__ import annotations

import logging

from ..config import PretrainConfig, resolve_audio_model
from ..engine.distributed import world
from ..errors import HeadstartError
from ..models.audio_encoder import AudioEncoder
from ..objectives.best_rq import BestRQ
from ..modality import PretrainSetup
from .arrays import AudioArrays
from .batches import AudioBatches
from .pretrained import audio_model_record, load_audio_model

log = logging.getLogger("headstart.audio")


def audio_setup(cfg: PretrainConfig) -> PretrainSetup:
    train, val = AudioArrays(cfg.data.path, "train"), AudioArrays(cfg.data.path, "val")
    model = _encoder(cfg, train.n_mels)
    knobs = cfg.objective
    objective = BestRQ(model, codebook_size=knobs.codebook_size, codebook_dim=knobs.codebook_dim,
                       num_codebooks=knobs.num_codebooks, mask_prob=knobs.mask_prob, mask_span=knobs.mask_span,
                       noise_std=knobs.noise_std, seed=cfg.train.seed)
    max_frames = model.cfg.max_frames
    here = world()  # under torchrun each process trains and validates on its slice of every global batch
    train_src = AudioBatches(train, batch_size=cfg.train.batch_size, seed=cfg.train.seed, max_frames=max_frames,
                             rank=here.rank, world_size=here.world_size)
    val_src = AudioBatches(val, batch_size=cfg.train.batch_size, seed=cfg.train.seed + 1, max_frames=max_frames,
                           rank=here.rank, world_size=here.world_size)
    # FLOPs per clip at the mean clip length (padding in a batch is not counted: it is waste, not work).
    mean_frames = max(1, min(int(round(float(train.lengths.mean()))), max_frames))
    flops_per_clip = model.train_flops_per_frame(mean_frames) * mean_frames

    run_config = cfg.record()
    run_config["model"] = audio_model_record(model.cfg)  # with kind and n_mels: enough to rebuild
    del run_config["data"]["seq_len"]  # a text setting
    run_config["data"].update(n_mels=train.n_mels, frame_rate=train.frame_rate, class_names=train.class_names)
    run_config["task"] = "pretrain_audio"
    seconds = float(train.lengths.sum()) / train.frame_rate
    return PretrainSetup(
        objective, train_src, val_src, run_config, flops_per_unit=flops_per_clip,
        summary=f"AudioEncoder, {sum(p.numel() for p in model.parameters()):,} parameters; "
                f"{len(train):,} clips ({seconds / 60:.1f} min of audio) to train on",
        per_step=f"{cfg.train.batch_size * cfg.train.grad_accum} clips of {train.n_mels} mel bins")


def _encoder(cfg: PretrainConfig, n_mels: int) -> AudioEncoder:
    """A new encoder as ``cfg.model`` says, or ``cfg.init``'s to continue pre-training it."""
    if cfg.init is not None:
        model, checkpoint, _ = load_audio_model(cfg.init, prefer="best")
        if model.cfg.n_mels != n_mels:
            raise HeadstartError(f"init {checkpoint} takes {model.cfg.n_mels} mel bins but {cfg.data.path} has "
                                 f"{n_mels}; prepare it with --n-mels {model.cfg.n_mels}")
        log.info("continuing pre-training from %s", checkpoint)
        return model.train()
    try:
        return AudioEncoder(resolve_audio_model(cfg.model, n_mels=n_mels))
    except ValueError as e:
        raise HeadstartError(str(e)) from None
