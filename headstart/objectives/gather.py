"""The one place an objective touches torch.distributed: gathering a loss's negatives across ranks.

A contrastive loss computed per rank sees only that rank's batch as negatives, which silently makes
it a different, easier loss than the single-device one (lightly PR #1177).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def gather_across_ranks(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``x`` from every rank along dim 0; return it and where this rank's rows start.

    ``torch.distributed.nn.functional.all_gather`` sends gradients back to the rank that made each
    row, so every rank's embeddings are trained by every rank's loss.  Without a process group,
    or with one rank, ``x`` comes back as it is.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0), dist.get_rank() * x.shape[0]
