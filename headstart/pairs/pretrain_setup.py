"""Image–text pre-training: the dual encoder, objective, batches and retrieval monitor a config
describes, for ``headstart pretrain`` on a folder written by ``headstart prepare pairs``."""
from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from ..config import PretrainConfig, resolve_model, resolve_vision_model
from ..engine.distributed import world
from ..errors import HeadstartError
from ..models import TextTransformer
from ..models.dual_encoder import DualEncoder
from ..models.vision_presets import vision_model
from ..models.vit import VisionTransformer
from ..objectives.image_text import ImageTextContrastive
from ..modality import PretrainSetup
from ..text.pretrained import load_text_model
from ..tokenizer import load_tokenizer
from ..vision.pretrained import check_image_model_fits, load_image_model
from .arrays import PairArrays
from .batches import PairBatches
from .evaluate import embed_pairs, retrieval_recall
from .pretrained import load_dual_encoder

log = logging.getLogger("headstart.pairs")
RETRIEVAL_PAIRS = 1000  # held-out pairs the retrieval monitor scores at each evaluation


def pairs_setup(cfg: PretrainConfig) -> PretrainSetup:
    train = PairArrays(cfg.data.path, "train")
    val = PairArrays(cfg.data.path, "val")
    if len(val) == 0:  # e.g. a 32-pair sample shard prepared with --val-fraction 0
        log.warning("%s has no val pairs: validation loss and retrieval are measured on the training pairs",
                    cfg.data.path)
        val = train
    model = _model(cfg, train)
    objective = ImageTextContrastive(model, loss=cfg.objective.name)
    here = world()  # under torchrun each process trains and validates on its slice of every global batch
    train_src = PairBatches(train, batch_size=cfg.train.batch_size, seed=cfg.train.seed, rank=here.rank,
                            world_size=here.world_size)
    val_src = PairBatches(val, batch_size=cfg.train.batch_size, seed=cfg.train.seed + 1, rank=here.rank,
                          world_size=here.world_size)

    def monitor(objective: nn.Module, metrics: dict) -> dict:
        return retrieval_recall(*embed_pairs(objective.model, val, limit=RETRIEVAL_PAIRS))

    run_config = cfg.record()
    run_config["model"] = {**model.record(), "initialised_from": {
        "image": cfg.model and cfg.model.get("image_init"), "text": cfg.model and cfg.model.get("text_init")}}
    del run_config["data"]["seq_len"]  # a text setting
    run_config["data"].update(image_shape=list(train.shape), caption_len=train.caption_len,
                              tokenizer_sha256=train.manifest["tokenizer_sha256"])
    run_config["task"] = "pretrain_pairs"
    image_flops = (model.image.train_flops_per_image() if isinstance(model.image, VisionTransformer)
                   else model.image.train_flops_per_image(train.shape[:2]))
    text_flops = model.text.train_flops_per_token(train.caption_len, head_fraction=0.0) * train.caption_len
    params = sum(p.numel() for p in model.parameters())
    return PretrainSetup(
        objective, train_src, val_src, run_config, flops_per_unit=image_flops + text_flops, monitor=monitor,
        extra_files={"tokenizer.json": train.tokenizer_file},
        summary=f"{type(model.image).__name__} + {model.text.cfg.n_layer}-layer text transformer -> "
                f"{model.embed_dim}-d, {params:,} parameters",
        per_step=f"{cfg.train.batch_size * cfg.train.grad_accum} image-caption pairs")


def _model(cfg: PretrainConfig, train: PairArrays) -> DualEncoder:
    knobs = cfg.objective
    bias = knobs.init_bias if cfg.objective.name == "siglip" else None
    if cfg.init is not None:
        model, tokenizer, checkpoint, _ = load_dual_encoder(cfg.init)
        _check_tokenizer(tokenizer, train, checkpoint)
        check_image_model_fits(model.image, train.shape, checkpoint)
        if (bias is not None) != (model.logit_bias is not None):
            raise HeadstartError(f"init {checkpoint} was trained with the other loss; objective {knobs.name} "
                                 f"needs a model {'with' if bias is not None else 'without'} a logit bias")
        log.info("continuing image-text pre-training from %s", checkpoint)
        return model.train()
    towers = cfg.model
    return DualEncoder(_image_tower(towers, train), _text_tower(towers, train), towers["embed_dim"],
                       init_temperature=knobs.init_temperature, init_bias=bias)


def _image_tower(towers: dict, train: PairArrays) -> nn.Module:
    height, width, channels = train.shape
    if towers["image_init"]:
        model, checkpoint, _ = load_image_model(towers["image_init"], prefer="best")
        check_image_model_fits(model, train.shape, checkpoint)
        log.info("image tower from %s", checkpoint)
        return model.train()
    try:
        return vision_model(resolve_vision_model(towers["image"], image_size=(height, width), channels=channels))
    except ValueError as e:
        raise HeadstartError(f"{e} (the pairs hold {height}x{width} images)") from None


def _text_tower(towers: dict, train: PairArrays) -> TextTransformer:
    if towers["text_init"]:
        model, tokenizer, checkpoint, _ = load_text_model(towers["text_init"], prefer="best")
        _check_tokenizer(tokenizer, train, checkpoint)
        if model.cfg.context_length < train.caption_len:
            raise HeadstartError(f"model.text_init {checkpoint} reads {model.cfg.context_length} tokens but the "
                                 f"captions hold up to {train.caption_len}; prepare them with --caption-len "
                                 f"{model.cfg.context_length}")
        log.info("text tower from %s", checkpoint)
        return model.train()
    spec = dict(towers["text"])
    if spec.get("context_length", train.caption_len) < train.caption_len:
        raise HeadstartError(f"model.text.context_length ({spec['context_length']}) is shorter than the captions "
                             f"of {train.prepared_dir} ({train.caption_len} tokens)")
    spec.setdefault("context_length", train.caption_len)  # position embeddings for the caption length only
    try:
        return TextTransformer(resolve_model(spec, vocab_size=train.manifest["vocab_size"]))
    except ValueError as e:
        raise HeadstartError(str(e).replace("model.", "model.text.", 1)) from None


def _check_tokenizer(tokenizer, train: PairArrays, checkpoint: Path) -> None:
    # Compared as loaded (canonical JSON), as text pre-training compares them.
    if load_tokenizer(train.tokenizer_file).to_str() != tokenizer.to_str():
        raise HeadstartError(f"{checkpoint} was trained with another tokenizer than {train.prepared_dir}'s "
                             f"captions; prepare the pairs with --tokenizer {Path(checkpoint) / 'tokenizer.json'}")
