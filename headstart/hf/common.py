"""What the architecture mappings share: reading tensors, splitting attention, listing what a target
architecture cannot represent."""
from __future__ import annotations

import torch

# headstart activation -> transformers' name (ACT2FN): the activations GPT-2, BERT and ViT can take.
ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu2": "relu2"}


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


def unsupported(cfg, wanted: dict, activations=ACTIVATIONS) -> list[str]:
    """The settings of ``cfg`` that differ from ``wanted`` (or an activation the target lacks), as
    ``model.key=value`` strings for the refusal message."""
    found = [f"model.{k}={getattr(cfg, k)}" for k, v in wanted.items() if getattr(cfg, k) != v]
    if cfg.activation not in activations:
        found.append(f"model.activation={cfg.activation}")
    return found


def separate_qkv(get: StateReader, ours: str, width: int, theirs: str) -> dict[str, torch.Tensor]:
    """headstart's fused (3D, D) query/key/value projection at ``ours`` as transformers' separate
    ``{theirs}query``, ``key`` and ``value`` layers (BERT and ViT)."""
    weights = get(ours + ".weight").chunk(3, dim=0)
    biases = get.bias(ours + ".bias", 3 * width).chunk(3, dim=0)
    out = {}
    for name, w, b in zip(("query", "key", "value"), weights, biases):
        out[f"{theirs}{name}.weight"], out[f"{theirs}{name}.bias"] = w.contiguous(), b.contiguous()
    return out


def renamed(get: StateReader, pairs, parts=("weight", "bias")) -> dict[str, torch.Tensor]:
    """``{target.part: get(source.part)}`` for each (source, target) name pair."""
    return {f"{target}.{part}": get(f"{source}.{part}") for source, target in pairs for part in parts}
