"""Fine-tuning strategies practitioners use, as settings of one config section.

Each strategy decides which backbone parameters train and at what learning rate; the task head
always trains.  The backbone must expose ``layers()``: bottom-to-top groups (embeddings, blocks, final
norm), which headstart's transformers do.

    full              everything trains (with a lower lr than pre-training: the config's train.lr)
    linear_probe      backbone frozen; only the head trains (``solver: lbfgs``: solved as logistic
                      regression, its L2 strength cross-validated inside the budget: finetune/probe_fit.py)
    freeze_bottom     embeddings and the bottom ``freeze_layers`` blocks frozen
    llrd              layer-wise lr decay: layer i from the top trains at lr * lr_decay**i
    gradual_unfreeze  start with the head only; unfreeze one more layer from the top every
                      ``unfreeze_every`` steps (ULMFiT)
    lora              backbone frozen; low-rank adapters on attention and MLP projections train
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from .lora import add_lora


class StrategyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["full", "linear_probe", "freeze_bottom", "llrd", "gradual_unfreeze", "lora"] = "full"
    freeze_layers: int = Field(default=2, ge=0, description="freeze_bottom: blocks frozen above the embeddings")
    lr_decay: float = Field(default=0.8, gt=0, le=1, description="llrd: lr multiple per layer going down")
    unfreeze_every: int = Field(default=50, gt=0, description="gradual_unfreeze: steps between unfreezings")
    lora_rank: int = Field(default=8, gt=0)
    lora_alpha: float = Field(default=16.0, gt=0)
    solver: Literal["engine", "lbfgs"] = Field(
        default="engine", description="linear_probe: train the head with the engine (engine), or solve it as "
                                      "logistic regression with C cross-validated inside the budget (lbfgs)")

    @model_validator(mode="after")
    def _solver_of_a_probe(self) -> "StrategyConfig":
        if self.solver != "engine" and self.name != "linear_probe":
            raise ValueError(f"strategy.solver: {self.solver} solves a linear probe's head; strategy {self.name} "
                             f"trains the backbone too (use solver: engine)")
        return self


@dataclass
class StrategyPlan:
    lr_scales: list  # [(parameters, lr multiple)] for the engine's optimizer
    on_step: Optional[Callable[[int], None]]  # run before every step (gradual unfreezing)


def apply_strategy(backbone: nn.Module, cfg: StrategyConfig) -> StrategyPlan:
    """Freeze/wrap ``backbone`` in place as ``cfg`` says; returns what the engine needs to know.

    Every strategy but full fine-tuning and the linear probe works on ``backbone.layers()``: the model's layer
    groups from the input up (embeddings, each block, the final norm), which a model of a plug-in modality may
    leave out."""
    if cfg.name == "full":
        return StrategyPlan([], None)
    if cfg.name == "linear_probe":
        backbone.requires_grad_(False)
        return StrategyPlan([], None)
    if not callable(getattr(backbone, "layers", None)):
        raise ValueError(f"strategy {cfg.name}: {type(backbone).__name__} does not list its layers (no layers() "
                         f"method); use strategy full or linear_probe")
    layers = backbone.layers()
    blocks = layers[1:-1]
    if cfg.name == "freeze_bottom":
        if cfg.freeze_layers > len(blocks):
            raise ValueError(f"strategy.freeze_layers ({cfg.freeze_layers}) exceeds the model's {len(blocks)} blocks")
        for layer in layers[: 1 + cfg.freeze_layers]:
            layer.requires_grad_(False)
        return StrategyPlan([], None)
    if cfg.name == "llrd":
        top = len(layers) - 1
        return StrategyPlan([(list(layer.parameters()), cfg.lr_decay ** (top - i)) for i, layer in enumerate(layers)],
                            None)
    if cfg.name == "gradual_unfreeze":
        def unfreeze_for(step: int) -> None:
            n_open = step // cfg.unfreeze_every  # 0 at first: the head alone trains
            for i, layer in enumerate(reversed(layers)):
                layer.requires_grad_(i < n_open)
        unfreeze_for(0)
        return StrategyPlan([], unfreeze_for)
    try:
        add_lora(backbone, cfg.lora_rank, cfg.lora_alpha)
    except ValueError as e:
        raise ValueError(f"strategy.name lora: {e} ({type(backbone).__name__} has no attention or MLP "
                         f"projections; choose another strategy)") from None
    return StrategyPlan([], None)
