"""LoRA (Hu et al. 2021): a frozen linear layer plus a trainable low-rank update, W x + (alpha/r) B A x.

Our own 40 lines rather than peft: headstart's modules are plain ``nn.Linear`` layers, and owning the
wrapper keeps checkpoint keys predictable and lets ``merge_lora`` fold the update back for export.
"""
from __future__ import annotations

import math

import torch
from torch import nn

# Attention and MLP projections of headstart's transformer blocks.
DEFAULT_TARGETS = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))  # zero: starts as the base layer
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def add_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, targets=DEFAULT_TARGETS) -> list[nn.Parameter]:
    """Freeze ``model`` and wrap the target linear layers; returns the new trainable parameters."""
    model.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and any(full.endswith(t) for t in targets):
                lora = LoRALinear(child, rank, alpha)
                setattr(module, child_name, lora)
                wrapped += [lora.lora_a, lora.lora_b]
    if not wrapped:
        raise ValueError(f"no linear layer matched the LoRA targets {targets}")
    return wrapped


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base weight and unwrap it (for export or plain inference)."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                child.base.weight += (child.lora_b @ child.lora_a) * child.scale
                setattr(module, child_name, child.base)
    return model
