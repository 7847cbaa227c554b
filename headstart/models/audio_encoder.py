"""A speech encoder: convolutional subsampling of log-mel frames, then headstart's transformer blocks.

Log-mel frames come every 10 ms; attention over them is wasteful and the phonetic content changes more
slowly.  Two 3x3 convolutions with stride 2 over (time, frequency) give one vector per 40 ms, as in
ESPnet's Conv2dSubsampling, the Conformer and BEST-RQ; the blocks then see a quarter of the positions.
Rotary positions, because clips have any length.  ``utterance_norm`` subtracts each clip's mean log-mel
frame over its real frames first (cepstral mean normalisation): a microphone or room multiplies the
spectrum, which in log-mels is an offset per bin, so this removes it.  On Free Spoken Digits, whose
speakers each used their own microphone, it is the difference between features that carry to an
unseen speaker and features that do not (bench/fsdd_transfer.py).  Padding masks (True = a real
frame) flow through the subsampling so that padded frames are never attended to nor pooled.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from ..kernels import Linear
from .blocks import TransformerStack, init_weights
from .config import TransformerConfig

SUBSAMPLING = 4  # two stride-2 convolutions


class AudioEncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_mels: int = Field(gt=0, description="set by the prepared audio")
    conv_channels: int = Field(default=64, gt=0)
    n_layer: int = Field(gt=0)
    n_head: int = Field(gt=0)
    d_model: int = Field(gt=0)
    d_ff: Optional[int] = Field(default=None, gt=0, description="MLP width; default 4 x d_model")
    max_frames: int = Field(default=3000, gt=0, description="longest input in frames (30 s at 10 ms)")
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    activation: Literal["gelu", "relu2", "swiglu"] = "gelu"
    qk_norm: bool = True
    bias: bool = True
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    utterance_norm: bool = Field(default=True, description="subtract each clip's mean frame (per mel bin) first")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "AudioEncoderConfig":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        return self

    def stack_config(self) -> TransformerConfig:
        return TransformerConfig(
            vocab_size=1,  # unused: frames are embedded by the convolutions, not looked up
            context_length=subsampled_length(self.max_frames), n_layer=self.n_layer, n_head=self.n_head,
            d_model=self.d_model, d_ff=self.d_ff, causal=False, positions="rope", norm=self.norm,
            activation=self.activation, qk_norm=self.qk_norm, bias=self.bias, dropout=self.dropout,
            tie_embeddings=False)


def subsampled_length(frames: int) -> int:
    """Positions after subsampling: each stride-2 convolution (padding 1) keeps ceil(n / 2)."""
    return -(-frames // SUBSAMPLING)


def subsample_mask(padding_mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """(B, T) -> (B, ceil(T / 4)): an output position is real when the frame at its centre is."""
    return None if padding_mask is None else padding_mask[:, ::2][:, ::2]


class ConvSubsampling(nn.Module):
    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        c = cfg.conv_channels
        self.conv1 = nn.Conv2d(1, c, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.out = Linear(c * subsampled_length(cfg.n_mels), cfg.d_model)

    def forward(self, frames: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        # Padding is zeroed before each convolution, so a real position sees exactly the zeros a clip
        # cut at its true length would: the same clip encodes the same alone or padded in a batch.
        x = self._zero_padding(frames.unsqueeze(1), padding_mask)  # (B, 1, T, n_mels)
        half = None if padding_mask is None else padding_mask[:, ::2]
        x = self._zero_padding(F.gelu(self.conv1(x)), half)
        x = F.gelu(self.conv2(x))  # (B, C, T / 4, n_mels / 4)
        b, c, t, f = x.shape
        return self.out(x.permute(0, 2, 1, 3).reshape(b, t, c * f))


    @staticmethod
    def _zero_padding(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return x if mask is None else x * mask[:, None, :, None]


class AudioEncoder(nn.Module):
    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.subsampling = ConvSubsampling(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.stack = TransformerStack(cfg.stack_config())
        init_weights(self.stack, cfg.n_layer)

    @property
    def feature_dim(self) -> int:
        return self.cfg.d_model

    def normalize(self, frames: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The input as the encoder sees it: with ``utterance_norm``, each clip less its mean real frame
        (padding stays zero)."""
        if not self.cfg.utterance_norm:
            return frames
        if padding_mask is None:
            return frames - frames.mean(1, keepdim=True)
        weights = padding_mask.unsqueeze(-1).to(frames.dtype)
        mean = (frames * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)
        return (frames - mean) * weights

    def encode(self, frames: torch.Tensor, padding_mask: Optional[torch.Tensor] = None, *, normalized: bool = False):
        """(B, T, n_mels) log-mel frames -> (hidden (B, ceil(T / 4), d_model), its padding mask or None).
        ``normalized``: ``frames`` already went through ``normalize`` (BEST-RQ masks them after it)."""
        if not normalized:
            frames = self.normalize(frames, padding_mask)
        if frames.shape[1] > self.cfg.max_frames:
            raise ValueError(f"{frames.shape[1]} frames, but the model takes at most max_frames={self.cfg.max_frames}")
        mask = subsample_mask(padding_mask)
        return self.stack(self.drop(self.subsampling(frames, padding_mask)), mask), mask

    def features(self, frames: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, d_model): the mean of the encoded positions that are real."""
        hidden, mask = self.encode(frames, padding_mask)
        if mask is None:
            return hidden.mean(1)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

    def forward(self, frames: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.features(frames, padding_mask)

    def layers(self) -> list[nn.Module]:
        """Bottom-to-top groups for layer-wise fine-tuning: the subsampling, each block, the final norm."""
        return [self.subsampling, *self.stack.blocks, self.stack.norm]

    def train_flops_per_frame(self, frames: int) -> float:
        """Forward + backward FLOPs per input frame for clips of ``frames``: the blocks by PaLM's count
        (6 N per position plus attention), the convolutions as torch's FlopCounterMode counts them."""
        from torch.utils.flop_counter import FlopCounterMode

        c, positions = self.cfg, subsampled_length(frames)
        blocks = sum(p.numel() for p in self.stack.parameters())
        per_position = 6 * blocks + 12 * c.n_layer * c.n_head * (c.d_model // c.n_head) * positions
        probe = torch.zeros(1, frames, c.n_mels, device=next(self.parameters()).device)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            self.subsampling(probe, None)
        return (positions * per_position + 3.0 * counter.get_total_flops()) / frames


# CPU-sized encoders; widths as in BEST-RQ's ablations scaled down.
AUDIO_PRESETS: dict[str, dict] = {
    "audio-tiny": dict(n_layer=4, n_head=4, d_model=128, conv_channels=32),  # ~0.9 M parameters at 40 mels
    "audio-small": dict(n_layer=8, n_head=4, d_model=256, conv_channels=64),
}


def audio_config(preset: str, *, n_mels: int, **overrides) -> AudioEncoderConfig:
    if preset not in AUDIO_PRESETS:
        raise ValueError(f"unknown audio preset {preset!r}; known presets: {', '.join(sorted(AUDIO_PRESETS))}")
    return AudioEncoderConfig(**{**AUDIO_PRESETS[preset], "n_mels": n_mels, **overrides})
