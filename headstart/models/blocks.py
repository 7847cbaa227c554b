"""Transformer building blocks shared by every headstart model (text now; vision and audio later).

Pre-norm residual blocks; attention goes through ``F.scaled_dot_product_attention`` so PyTorch picks
the fastest kernel the device has (flash / memory-efficient on CUDA, a fused kernel on CPU).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import Linear
from .config import TransformerConfig


def make_norm(kind: str, dim: int, bias: bool, eps: Optional[float] = None) -> nn.Module:
    if kind == "rmsnorm":
        return nn.RMSNorm(dim, eps=eps or 1e-6)
    return nn.LayerNorm(dim, eps=eps or 1e-5, bias=bias)


def activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "gelu":
        return F.gelu(h)
    if activation == "gelu_tanh":
        return F.gelu(h, approximate="tanh")
    if activation == "relu2":  # ReLU squared (Primer; modded-nanogpt)
        return F.relu(h).square()
    gate, up = h.chunk(2, dim=-1)  # swiglu
    return F.silu(gate) * up


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer), applied to queries and keys inside attention."""

    def __init__(self, head_dim: int, max_len: int, base: float):
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        # Buffers are not saved: they are a pure function of the config.
        self.register_buffer("cos", angles.cos()[None, None], persistent=False)
        self.register_buffer("sin", angles.sin()[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, T, D)
        t = x.shape[-2]
        cos, sin = self.cos[:, :, :t].to(x.dtype), self.sin[:, :, :t].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class SelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_head, self.causal, self.dropout = cfg.n_head, cfg.causal, cfg.dropout
        self.qkv = Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        # QK-norm keeps attention logits bounded, which lets higher learning rates train stably.
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=1e-6) if cfg.qk_norm else None

    def forward(self, x: torch.Tensor, rotary: Optional[RotaryEmbedding] = None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if rotary is not None:
            q, k = rotary(q), rotary(k)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal and attn_mask is None,
        )
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.activation = cfg.activation
        width = cfg.ff_width
        self.fc = Linear(cfg.d_model, 2 * width if cfg.activation == "swiglu" else width, bias=cfg.bias)
        self.proj = Linear(width, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(activate(self.fc(x), self.activation))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1 = make_norm(cfg.norm, cfg.d_model, cfg.bias, cfg.norm_eps)
        self.attn = SelfAttention(cfg)
        self.norm2 = make_norm(cfg.norm, cfg.d_model, cfg.bias, cfg.norm_eps)
        self.mlp = MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.post_norm = cfg.norm_position == "post"

    def forward(self, x, rotary=None, attn_mask=None):
        if self.post_norm:  # BERT: normalise each residual sum
            x = self.norm1(x + self.drop(self.attn(x, rotary, attn_mask)))
            return self.norm2(x + self.drop(self.mlp(x)))
        x = x + self.drop(self.attn(self.norm1(x), rotary, attn_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class TransformerStack(nn.Module):
    """Blocks + final norm over embeddings the caller made (tokens, image patches, audio frames)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        # Post-norm blocks end normalised already: BERT has no final norm.
        self.norm = (nn.Identity() if cfg.norm_position == "post"
                     else make_norm(cfg.norm, cfg.d_model, cfg.bias, cfg.norm_eps))
        self.rotary = (RotaryEmbedding(cfg.head_dim, cfg.context_length, cfg.rope_base)
                       if cfg.positions == "rope" else None)

    def forward(self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``padding_mask``: (B, T) bool, True where a position is real; None when nothing is padded."""
        attn_mask = None
        if padding_mask is not None:
            attn_mask = padding_mask[:, None, None, :]
            if self.cfg.causal:
                t = x.shape[1]
                attn_mask = attn_mask & torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        for block in self.blocks:
            x = block(x, self.rotary, attn_mask)
        return self.norm(x)


def init_weights(module: nn.Module, n_layer: int) -> None:
    """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
            nn.init.normal_(p, mean=0.0, std=std)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
