"""Muon for transformer matrices, AdamW for the rest: one optimizer the engine saves and resumes."""
from __future__ import annotations

import torch

from headstart.engine import Checkpointer
from headstart.engine.muon import MuonAdamW, orthogonalize
from test_engine import make_trainer, params, train_losses
from test_vision_pretrain import text  # noqa: F401 - the prepared character corpus fixture


def test_orthogonalize_flattens_the_singular_values_of_any_shape():
    torch.manual_seed(0)
    for shape in [(32, 32), (64, 16), (16, 64)]:
        update = torch.randn(shape) @ torch.diag(torch.logspace(-1, 1, shape[1]))
        before = torch.linalg.svdvals(update)
        singular = torch.linalg.svdvals(orthogonalize(update))
        # Five iterations pull every singular value within 20x of the largest into about [0.6, 1.2].
        kept = before > before.max() / 20
        assert singular[kept].min() > 0.6 and singular.max() < 1.25, (shape, singular)


def test_muon_runs_in_the_engine_on_block_matrices_only_and_resumes_bitwise(tmp_path):
    trainer = make_trainer(tmp_path / "straight", steps=8, optimizer="muon", muon_lr=0.02)
    assert isinstance(trainer.optimizer, MuonAdamW)
    muon_groups = [g for g in trainer.optimizer.param_groups if g["muon"]]
    blocks = {id(p) for block in trainer.model.stack.blocks for p in block.parameters() if p.dim() == 2}
    assert {id(p) for g in muon_groups for p in g["params"]} == blocks  # not embeddings, head or norms
    assert all(g["weight_decay"] == 0 and g["lr_scale"] == 0.02 / 3e-3 for g in muon_groups)
    trainer.fit()
    losses = [loss for _, loss in train_losses(tmp_path / "straight")]
    assert losses[-1] < losses[0]

    first = make_trainer(tmp_path / "split", steps=8, optimizer="muon", muon_lr=0.02)
    first.fit(stop_at=4)
    second = make_trainer(tmp_path / "split", steps=8, optimizer="muon", muon_lr=0.02)
    second.resume(Checkpointer(tmp_path / "split" / "checkpoints").latest())
    second.fit()
    a, b = params(trainer), params(second)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_speedrun_config_runs_on_prepared_characters(tmp_path, text):
    from pathlib import Path

    from test_pretrain_cli import run_cli

    config = Path(__file__).resolve().parents[1] / "configs" / "shakespeare-speedrun.yaml"
    code, out = run_cli("pretrain", config, "--set", f"data.path={text}", "--set", f"run_dir={tmp_path / 'run'}",
                        "--set", "train.steps=3", "--set", "train.warmup_steps=1", "--set", "train.batch_size=4",
                        "--set", "train.eval_every=3", "--set", "train.eval_batches=1", "--set", "model.context_length=16")
    assert code == 0, out
    assert (tmp_path / "run" / "checkpoints" / "step_000003" / "model.safetensors").exists()
