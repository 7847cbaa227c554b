"""Objectives: what masked-LM masking does to a batch."""
from __future__ import annotations

import torch

from headstart.objectives.masked_lm import IGNORE, mask_tokens, ordinary_ids


def test_masking_chooses_15_percent_never_specials_and_replaces_80_10_10():
    specials = [0, 1, 2, 3]  # eos, pad, mask, unk
    tokens = torch.randint(4, 100, (64, 256), generator=torch.Generator().manual_seed(0))
    tokens[:, ::16] = 0  # document separators must never be chosen
    inputs, targets = mask_tokens(tokens, mask_id=2, special_ids=specials, replacement_ids=ordinary_ids(100, specials),
                                  generator=torch.Generator().manual_seed(1))
    chosen = targets != IGNORE
    assert abs(chosen.float().mean().item() - 0.15 * 15 / 16) < 0.01
    assert not chosen[:, ::16].any() and torch.equal(targets[chosen], tokens[chosen])
    masked = (inputs == 2) & chosen
    kept = (inputs == tokens) & chosen
    randomised = chosen & ~masked & ~kept
    n = chosen.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.02
    assert abs((kept.sum().item()) / n - 0.1) < 0.02  # 10% kept (+ ~1% random picks of the same token)
    assert not torch.isin(inputs[randomised], torch.tensor(specials)).any()
    assert torch.equal(inputs[~chosen], tokens[~chosen])


def test_masked_lm_flops_count_only_the_projected_positions_of_the_head():
    from headstart.models import TextTransformer
    from headstart.models.config import TransformerConfig

    model = TextTransformer(TransformerConfig(vocab_size=1000, n_layer=2, n_head=2, d_model=64, context_length=32,
                                              causal=False))
    head_flops = 6 * 1000 * 64  # the tied vocabulary projection, forward + backward, per position
    full, masked = model.train_flops_per_token(32), model.train_flops_per_token(32, head_fraction=0.15)
    assert full - masked == head_flops * 0.85
