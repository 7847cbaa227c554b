"""Small tensor helpers shared by the architecture mappings."""
from __future__ import annotations

import torch


class StateReader:
    """Named tensors of one model, where a missing bias reads as zeros (headstart's ``bias: false``
    layers are the same function as a zero bias, which every Hugging Face architecture here has)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def __call__(self, key: str) -> torch.Tensor:
        return self.tensors[key].detach().contiguous()

    def bias(self, key: str, size: int) -> torch.Tensor:
        found = self.tensors.get(key)
        return torch.zeros(size) if found is None else found.detach().contiguous()


def split_qkv(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """headstart's fused (3D, ...) query/key/value projection -> three (D, ...) tensors."""
    return tuple(part.contiguous() for part in weight.chunk(3, dim=0))
