"""A CLIP-style dual encoder: headstart's own image model and text transformer, each followed by a
linear projection into one shared embedding space, plus the learnable temperature (and, for SigLIP,
bias) that turns cosine similarities into logits.

The towers are the same classes the unimodal objectives train, so either can start from a
``headstart pretrain`` checkpoint (an MAE or SimCLR image model, a masked-LM text model) and either
can leave again: the image tower fine-tunes through ``headstart finetune`` like any image model.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import Linear
from .config import TransformerConfig
from .text_transformer import TextTransformer
from .vision_presets import vision_model_from_record, vision_model_record

KIND = "dual_encoder"


class DualEncoder(nn.Module):
    def __init__(self, image: nn.Module, text: TextTransformer, embed_dim: int = 128, *,
                 init_temperature: float = 0.07, init_bias: Optional[float] = None):
        super().__init__()
        self.image, self.text, self.embed_dim = image, text, embed_dim
        self.image_proj = Linear(image.feature_dim, embed_dim, bias=False)
        self.text_proj = Linear(text.cfg.d_model, embed_dim, bias=False)
        for proj in (self.image_proj, self.text_proj):  # CLIP's init: std = width^-0.5
            nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
        # log(1 / temperature), as CLIP parametrises it: the scale stays positive and moves multiplicatively.
        # Shape (1,), not a scalar: FSDP2 cannot shard a 0-d parameter.
        self.logit_scale = nn.Parameter(torch.tensor([math.log(1 / init_temperature)]))
        self.logit_bias = nn.Parameter(torch.tensor([float(init_bias)])) if init_bias is not None else None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the (1,) shape hold 0-d tensors: the same number.
        for name in ("logit_scale", "logit_bias"):
            value = state_dict.get(prefix + name)
            if value is not None and value.dim() == 0:
                state_dict[prefix + name] = value.reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B, embed_dim), unit length."""
        return F.normalize(self.image_proj(self.image.features(images)), dim=-1)

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids and (B,) real lengths -> (B, embed_dim), unit length.

        The caption is the mean of its real tokens' final hidden states (padding is masked out of
        attention and of the mean): it needs no end-of-text token, so a masked-LM tower trained
        without one pools the same way, and it is how sentence encoders pool a BERT.
        """
        real = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None]
        hidden = self.text.hidden_states(tokens, real)
        pooled = (hidden * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp(min=1)
        return F.normalize(self.text_proj(pooled), dim=-1)

    @property
    def feature_dim(self) -> int:
        return self.embed_dim

    def record(self) -> dict:
        """What a checkpoint stores to rebuild this model: both towers' configs, JSON-ready."""
        return {"kind": KIND, "image": vision_model_record(self.image.cfg), "text": self.text.cfg.model_dump(mode="json"),
                "embed_dim": self.embed_dim, "sigmoid": self.logit_bias is not None}


def dual_encoder_from_record(record: dict) -> DualEncoder:
    """The model ``DualEncoder.record`` describes, with fresh weights (load a checkpoint's next).
    Raises KeyError, TypeError or pydantic's ValidationError for a bad record."""
    image = vision_model_from_record(record["image"])
    text = TextTransformer(TransformerConfig(**record["text"]))
    return DualEncoder(image, text, int(record["embed_dim"]), init_bias=0.0 if record.get("sigmoid") else None)
