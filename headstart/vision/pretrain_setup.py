"""Image pre-training: the backbone, objective, batches and online monitor a config describes, for
``headstart pretrain`` on a folder written by ``headstart prepare images``."""
from __future__ import annotations

import logging

from torch import nn

from ..config import PretrainConfig, resolve_vision_model
from ..engine.distributed import world
from ..errors import HeadstartError
from ..models.vision_presets import vision_model, vision_model_record
from ..models.vit import VisionTransformer
from ..objectives.image_classification import ImageClassification
from ..objectives.mae import MAE
from ..objectives.simclr import SimCLR
from ..modality import PretrainSetup
from .arrays import ImageArrays
from .augment import SimCLRAugment
from .batches import ImageBatches
from .online_knn import OnlineKNN, warn_if_collapsed
from .pretrained import check_image_model_fits, load_image_model

log = logging.getLogger("headstart.vision")


def image_setup(cfg: PretrainConfig) -> PretrainSetup:
    train, val = ImageArrays(cfg.data.path, "train"), ImageArrays(cfg.data.path, "val")
    labeled = train.labels is not None
    if cfg.objective.name == "supervised" and not labeled:
        raise HeadstartError(f"objective.name: supervised needs labels, but data.path {cfg.data.path} was prepared "
                             f"without them (prepare class folders, idx labels or .npz with y; or use simclr or mae)")
    height, width, channels = train.shape
    model = _backbone(cfg, train.shape)
    arch = model.cfg
    objective, flops_per_image = build_image_objective(cfg, model, train)

    # Labels only where the objective uses them; validation has its own seed and the same batches each time.
    with_labels = cfg.objective.name == "supervised"
    here = world()  # under torchrun each process trains and validates on its slice of every global batch
    train_src = ImageBatches(train, batch_size=cfg.train.batch_size, seed=cfg.train.seed, rank=here.rank,
                             world_size=here.world_size, with_labels=with_labels)
    val_src = ImageBatches(val, batch_size=cfg.train.batch_size, seed=cfg.train.seed + 1, rank=here.rank,
                           world_size=here.world_size, with_labels=with_labels)

    knn = None
    if cfg.monitor.knn_train_images and labeled:
        knn = OnlineKNN(train, val, train_images=cfg.monitor.knn_train_images,
                        val_images=cfg.monitor.knn_val_images, seed=cfg.train.seed)
    elif cfg.monitor.knn_train_images:
        log.info("online kNN accuracy off: %s has no labels", cfg.data.path)

    def monitor(objective: nn.Module, metrics: dict) -> dict:
        warn_if_collapsed(metrics)
        return knn(objective.model) if knn is not None else {}

    run_config = cfg.record()
    run_config["model"] = vision_model_record(arch)  # with kind, image size and channels: enough to rebuild
    del run_config["data"]["seq_len"]  # a text setting
    run_config["data"].update(image_shape=list(train.shape), mode=train.manifest.get("mode"),
                              class_names=train.class_names)
    run_config["task"] = "pretrain_images"
    return PretrainSetup(
        objective, train_src, val_src, run_config, flops_per_unit=flops_per_image, monitor=monitor,
        summary=f"{type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters",
        per_step=f"{cfg.train.batch_size * cfg.train.grad_accum} images of {height}x{width}x{channels}")


def _backbone(cfg: PretrainConfig, shape: tuple[int, int, int]) -> nn.Module:
    """A new backbone as ``cfg.model`` says, or ``cfg.init``'s to continue pre-training it (e.g.
    supervised or MAE on top of SimCLR, or SimCLR on a new domain's images)."""
    height, width, channels = shape
    if cfg.init is not None:
        model, checkpoint, _ = load_image_model(cfg.init, prefer="best")
        check_image_model_fits(model, shape, checkpoint)
        if cfg.objective.name == "mae" and not isinstance(model, VisionTransformer):
            raise HeadstartError(f"init {checkpoint} is a {type(model).__name__}; objective mae needs a ViT")
        log.info("continuing pre-training from %s", checkpoint)
        return model.train()
    try:
        arch = resolve_vision_model(cfg.model, image_size=(height, width), channels=channels)
    except ValueError as e:
        raise HeadstartError(f"{e} (data.path {cfg.data.path} holds {height}x{width} images)") from None
    return vision_model(arch)


def build_image_objective(cfg: PretrainConfig, model: nn.Module, train: ImageArrays) -> tuple[nn.Module, float]:
    """The objective around ``model``, and its training FLOPs per image (for MFU)."""
    knobs = cfg.objective
    vit = isinstance(model, VisionTransformer)
    # A ViT's FLOPs are worked out from its shape; a ResNet's are counted by torch for this image size.
    per_image = model.train_flops_per_image() if vit else model.train_flops_per_image(train.shape[:2])
    if knobs.name == "simclr":
        s = knobs.jitter_strength  # SimCLR's colour strength s (appendix A): 0.8 s for three, 0.2 s for hue
        augment = SimCLRAugment(size=train.shape[:2], crop_scale=knobs.crop_scale, flip_p=knobs.flip_p,
                                blur_p=knobs.blur_p, jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s))
        objective = SimCLR(model, augment, projection_dim=knobs.projection_dim,
                           hidden_dim=knobs.projection_hidden_dim, temperature=knobs.temperature)
        return objective, 2 * per_image  # two views of each image
    if knobs.name == "mae":
        try:
            objective = MAE(model, mask_ratio=knobs.mask_ratio, decoder_dim=knobs.decoder_dim,
                            decoder_layers=knobs.decoder_layers, decoder_heads=knobs.decoder_heads,
                            norm_pix_loss=knobs.norm_pix_loss)
        except ValueError as e:
            raise HeadstartError(f"objective.mask_ratio: {e}") from None
        visible = int(model.cfg.num_patches * (1 - knobs.mask_ratio))
        return objective, model.train_flops_per_image(visible)  # the encoder's; the light decoder is left out
    objective = ImageClassification(model, num_classes=train.num_classes)
    return objective, per_image
