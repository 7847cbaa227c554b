"""Each fine-tuning strategy trains what it should and leaves the rest bitwise unchanged."""
from __future__ import annotations

import pytest
import torch

from headstart.engine import Trainer, TrainConfig
from headstart.finetune.lora import LoRALinear, merge_lora
from headstart.finetune.strategies import StrategyConfig, apply_strategy
from headstart.models import TextTransformer, TransformerConfig
from headstart.objectives import Classification


class LabeledTokens:
    """Random token sequences whose label is whether token 7 occurs: learnable, deterministic per index."""

    unit = "samples"

    def batch(self, index: int) -> dict:
        g = torch.Generator().manual_seed(index)
        inputs = torch.randint(0, 30, (8, 12), generator=g)
        return {"inputs": inputs, "labels": (inputs == 7).any(1).long()}

    def units(self, batch: dict) -> int:
        return len(batch["labels"])


def fine_tune(tmp_path, steps: int, **strategy):
    torch.manual_seed(0)
    model = TextTransformer(TransformerConfig(vocab_size=32, context_length=16, n_layer=3, n_head=2, d_model=16,
                                              causal=False))
    objective = Classification(model, num_classes=2, pooling="mean")
    plan = apply_strategy(model, StrategyConfig(**strategy))
    before = {k: v.detach().clone() for k, v in objective.named_parameters()}
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, eval_every=steps, eval_batches=1, progress=False)
    trainer = Trainer(objective, LabeledTokens(), LabeledTokens(), cfg, tmp_path, run_config={},
                      lr_scales=plan.lr_scales, on_step=plan.on_step)
    trainer.fit()
    after = dict(objective.named_parameters())
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k].detach())}
    return objective, trainer, changed, set(after)


def test_full_fine_tuning_trains_every_parameter(tmp_path):
    _, _, changed, names = fine_tune(tmp_path, 3, name="full")
    assert changed == names


def test_linear_probe_trains_the_head_only(tmp_path):
    _, _, changed, _ = fine_tune(tmp_path, 3, name="linear_probe")
    assert changed == {"head.weight", "head.bias"}


def test_freeze_bottom_keeps_embeddings_and_the_lowest_blocks(tmp_path):
    _, _, changed, names = fine_tune(tmp_path, 3, name="freeze_bottom", freeze_layers=2)
    frozen = {n for n in names if n.startswith(("model.tok_emb", "model.pos_emb", "model.stack.blocks.0.",
                                                "model.stack.blocks.1."))}
    assert frozen and not (changed & frozen)
    assert {n for n in names if n.startswith("model.stack.blocks.2.")} <= changed and "head.weight" in changed


def test_layer_wise_lr_decay_gives_lower_layers_smaller_learning_rates(tmp_path):
    objective, trainer, changed, names = fine_tune(tmp_path, 3, name="llrd", lr_decay=0.5)
    assert "model.tok_emb.weight" in changed and "model.stack.blocks.0.attn.qkv.weight" in changed
    scale = {id(p): g["lr_scale"] for g in trainer.optimizer.param_groups for p in g["params"]}
    model = objective.model
    assert scale[id(model.tok_emb.weight)] == 0.5 ** 4  # embeddings: 4 layers below the final norm
    assert scale[id(model.stack.blocks[0].attn.qkv.weight)] == 0.5 ** 3
    assert scale[id(model.stack.blocks[2].attn.qkv.weight)] == 0.5
    assert scale[id(model.stack.norm.weight)] == scale[id(objective.head.weight)] == 1.0


def test_gradual_unfreezing_opens_layers_from_the_top(tmp_path):
    _, _, changed, names = fine_tune(tmp_path, 2, name="gradual_unfreeze", unfreeze_every=4)
    assert changed == {"head.weight", "head.bias"}  # steps 0-1: head only
    _, _, changed, names = fine_tune(tmp_path / "longer", 9, name="gradual_unfreeze", unfreeze_every=4)
    # steps 4-7: the final norm; step 8: also the top block.  Lower blocks and embeddings stay put.
    assert "model.stack.norm.weight" in changed and "model.stack.blocks.2.mlp.fc.weight" in changed
    lower = {n for n in names if n.startswith(("model.tok_emb", "model.stack.blocks.0.", "model.stack.blocks.1."))}
    assert not (changed & lower)


def test_lora_trains_adapters_and_leaves_every_base_weight_unchanged(tmp_path):
    objective, _, changed, names = fine_tune(tmp_path, 3, name="lora", lora_rank=4)
    adapters = {n for n in names if ".lora_" in n}
    assert len(adapters) == 3 * 4 * 2  # 3 blocks x (qkv, proj, fc, proj) x (A, B)
    assert changed == adapters | {"head.weight", "head.bias"}
    # Merging folds the update into plain linear layers that compute the same function.
    batch = LabeledTokens().batch(0)
    objective.eval()
    with torch.no_grad():
        wrapped = objective.logits(batch)
        merge_lora(objective.model)
        assert not any(isinstance(m, LoRALinear) for m in objective.modules())
        assert torch.allclose(objective.logits(batch), wrapped, atol=1e-5)


def test_freezing_more_blocks_than_exist_is_a_clear_error():
    model = TextTransformer(TransformerConfig(vocab_size=8, context_length=4, n_layer=2, n_head=1, d_model=8))
    with pytest.raises(ValueError, match=r"freeze_layers \(5\) exceeds the model's 2 blocks"):
        apply_strategy(model, StrategyConfig(name="freeze_bottom", freeze_layers=5))
