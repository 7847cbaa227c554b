"""BatchNorm over the global batch under torchrun, on any device.

With plain BatchNorm, each process normalises its own B examples: N processes then train another
function than one process with N x B examples, and a contrastive loss can tell a positive (same process,
same statistics) from a gathered negative by the statistics alone, the shortcut SimCLR's global BN and
MoCo's shuffled BN exist to close.  ``nn.SyncBatchNorm`` fixes this on GPUs but refuses CPU tensors, so on
CPU (gloo) ``GlobalBatchNorm`` below does the same with one differentiable all-reduce of the sums.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class GlobalBatchNorm(_BatchNorm):
    """A BatchNorm (1d, 2d or 3d) whose training statistics are those of every process's batch together."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # differentiable: gradients reach every process

        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        # Sums in float64: E[x^2] - E[x]^2 in float32 loses the digits that make N processes equal one.
        wide = x.double()
        local = torch.cat([wide.sum(dims), (wide * wide).sum(dims), wide.new_tensor([x.numel() / c])])
        total = all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = (1, c) + (1,) * (x.dim() - 2)
        scale = torch.rsqrt(var + self.eps).to(x.dtype)
        out = (x - mean.to(x.dtype).view(shape)) * scale.view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def synchronize_batch_norms(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm normalising over the global batch: ``nn.SyncBatchNorm`` on CUDA,
    ``GlobalBatchNorm`` elsewhere.  Parameters and buffers are the same tensors (an optimizer built on
    them stays valid), and the state-dict keys are unchanged, so checkpoints load either way."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, (GlobalBatchNorm, nn.SyncBatchNorm)):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats, device=None)
            if child.affine:
                replacement.weight, replacement.bias = child.weight, child.bias
            if child.track_running_stats:
                replacement.running_mean, replacement.running_var = child.running_mean, child.running_var
                replacement.num_batches_tracked = child.num_batches_tracked
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            synchronize_batch_norms(child, device)
    return module
