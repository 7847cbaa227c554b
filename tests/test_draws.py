"""Per-example draws (``headstart.engine.draws``): a batch's masks and noise depend on the batch index and the
example, never on what ran before or on how wide the padded batch is (2-process runs: test_distributed_objectives)."""
from __future__ import annotations

import torch

from headstart.engine import draws


def test_the_same_batch_index_draws_the_same_values_whatever_ran_before():
    with draws.batch_draws(seed=3, stream=draws.TRAIN, index=7):
        first = draws.rand(4, 5)
    torch.rand(100)  # the global RNG moves on; the batch's draws do not depend on it
    with draws.batch_draws(seed=3, stream=draws.TRAIN, index=7):
        again = draws.rand(4, 5)
    with draws.batch_draws(seed=3, stream=draws.TRAIN, index=8):
        next_batch = draws.rand(4, 5)
    with draws.batch_draws(seed=3, stream=draws.EVAL, index=7):
        evaluation = draws.rand(4, 5)
    assert torch.equal(first, again)
    assert not torch.equal(first, next_batch) and not torch.equal(first, evaluation)


def test_a_padded_row_draws_the_same_values_in_a_wider_batch():
    lengths = torch.tensor([3, 5])
    with draws.batch_draws(seed=0, stream=draws.TRAIN, index=0):
        narrow = draws.randn_rows(lengths, 5, 2)
        mask = draws.rand_rows(lengths, 5)
    with draws.batch_draws(seed=0, stream=draws.TRAIN, index=0):
        wide = draws.randn_rows(lengths, 9, 2)
    assert torch.equal(wide[:, :5], narrow) and not wide[:, 5:].any()
    assert not narrow[0, 3:].any() and (mask[0, 3:] == 1.0).all()  # past a row's length: the fill values


def test_outside_training_draws_come_from_the_global_rng():
    torch.manual_seed(0)
    drawn = draws.rand(2, 3)
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.rand(2, 3))


def test_two_per_row_draws_of_one_batch_are_independent():
    lengths = torch.tensor([50, 50])
    with draws.batch_draws(seed=0, stream=draws.TRAIN, index=0):
        first, second = draws.rand_rows(lengths, 50), draws.rand_rows(lengths, 50)
    assert not torch.equal(first, second)
    assert abs(torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1]) < 0.3
