"""Muon for the hidden weight matrices, AdamW for everything else, as one optimizer.

Muon (Jordan et al. 2024, the optimizer of the modded-nanogpt speedruns) takes SGD-momentum's update
of a weight matrix and replaces it by the nearest semi-orthogonal matrix (five Newton–Schulz
iterations), so every direction of the update moves at the same rate.  It suits the matrices inside
transformer blocks; embeddings, the output head, norms and biases keep AdamW, as in the speedruns.

Why our own class: torch >= 2.9 ships ``torch.optim.Muon``, but headstart supports torch >= 2.4, and
the engine checkpoints one optimizer's state dict; this class is one ``Optimizer`` whose groups say
which rule applies (``muon: True``), so saving, resuming and the LR schedule (``lr_scale``) work
unchanged.
"""
from __future__ import annotations

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic, tuned to converge in 5 steps


def orthogonalize(update: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Newton–Schulz iterations towards U V^T of ``update``'s SVD (its nearest semi-orthogonal matrix)."""
    a, b, c = NS_COEFFICIENTS
    x = update.to(torch.bfloat16 if update.is_cuda else torch.float32)  # bf16 is safe here; CPUs lack bf16 units
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.mT if tall else x).to(update.dtype)


class MuonAdamW(torch.optim.Optimizer):
    """Groups with ``muon=True`` take Muon (``momentum``, Nesterov); the others take AdamW (``betas``, ``eps``).
    ``weight_decay`` is decoupled in both, as AdamW's."""

    def __init__(self, groups, lr: float, betas=(0.9, 0.95), eps: float = 1e-8, momentum: float = 0.95):
        super().__init__(groups, dict(lr=lr, betas=betas, eps=eps, momentum=momentum, weight_decay=0.0, muon=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if group["weight_decay"]:
                for p in params:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
            if group["muon"]:
                self._muon(params, group)
            else:
                for p in params:
                    self._adamw(p, group)
        return loss

    def _muon(self, params: list[torch.Tensor], group: dict) -> None:
        by_shape: dict[tuple, list] = {}
        for p in params:
            buffer = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
            buffer.lerp_(p.grad, 1 - group["momentum"])
            by_shape.setdefault(tuple(p.shape), []).append((p, p.grad.lerp(buffer, group["momentum"])))  # Nesterov
        for (rows, cols), pairs in by_shape.items():
            # Matrices of one shape (the same layer in every block) go through Newton-Schulz as one batch:
            # 5 batched iterations instead of 5 per matrix, which is most of Muon's cost on a CPU.
            updates = orthogonalize(torch.stack([update for _, update in pairs]))
            scale = max(1.0, rows / cols) ** 0.5  # a tall matrix's update gets a square one's RMS per element
            for (p, _), update in zip(pairs, updates):
                p.add_(update, alpha=-group["lr"] * scale)

    def _adamw(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = float(state["step"])
        state["exp_avg"].lerp_(p.grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        denominator = (state["exp_avg_sq"] / (1 - beta2 ** step)).sqrt_().add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denominator, value=-group["lr"] / (1 - beta1 ** step))


def muon_matrices(module: torch.nn.Module) -> set[int]:
    """ids of the parameters Muon trains: the 2-D weights inside transformer blocks."""
    from ..models.blocks import Block

    return {id(p) for m in module.modules() if isinstance(m, Block) for p in m.parameters() if p.dim() == 2}

