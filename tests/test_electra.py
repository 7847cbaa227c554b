"""ELECTRA: a small generator fills masked positions, the discriminator (the saved backbone) spots them."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

import headstart.objectives.electra as electra
from headstart.config import PretrainConfig
from headstart.engine import Checkpointer, Trainer, TrainConfig
from headstart.engine.metrics import read_metrics
from headstart.models import TextTransformer, TransformerConfig
from headstart.objectives import Electra
from headstart.objectives.masked_lm import IGNORE, mask_tokens
from headstart.text.pretrained import load_text_model
from helpers import RandomTokens
from test_finetune_cli import write_finetune_config, write_task
from test_pretrain_cli import prepared, run_cli  # noqa: F401  (fixture)

SPECIALS = [60, 61, 62, 63]  # eos, pad, unk, mask
MASK = 63


def tiny_electra(seed: int = 0, dropout: float = 0.0, **knobs) -> Electra:
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=64, context_length=16, n_layer=2, n_head=4, d_model=32, causal=False,
                            dropout=dropout)
    return Electra(TextTransformer(cfg), mask_id=MASK, special_ids=SPECIALS, **knobs)


def test_the_generator_is_a_quarter_as_wide_and_reads_the_discriminators_embeddings():
    objective = tiny_electra()
    assert objective.generator.cfg.d_model == 8 and objective.generator.cfg.n_head == 1  # 1 of 4 heads
    assert objective.generator.cfg.n_layer == objective.model.cfg.n_layer
    # No embedding table of its own: the only one is the discriminator's, saved in model.safetensors.
    tables = [name for name, p in objective.named_parameters() if p.shape[0] == 64]
    assert tables == ["model.tok_emb.weight"]
    flops = objective.train_flops_per_token(16)
    assert objective.model.train_flops_per_token(16, head_fraction=0.15) < flops


def test_loss_falls_and_the_discriminator_learns_to_spot_replacements():
    objective = tiny_electra()
    corpus = torch.arange(20)[:, None].repeat(1, 16)  # each row one token: a replacement stands out

    def metrics_on_fixed_masks():
        torch.manual_seed(123)
        with torch.no_grad():
            return {k: v.item() for k, v in objective({"tokens": corpus}).metrics.items()}

    before = metrics_on_fixed_masks()
    optimizer = torch.optim.AdamW(objective.parameters(), lr=1e-3)
    for step in range(400):
        out = objective({"tokens": corpus[torch.randint(0, 20, (8,))]})
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = metrics_on_fixed_masks()
    assert after["loss"] < 0.6 * before["loss"] and after["generator_loss"] < before["generator_loss"]
    # Better than knowing only how many tokens are replaced: the entropy of that share.
    share = after["replaced_share"]
    base_rate = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    assert after["discriminator_loss"] < 0.6 * base_rate


def discriminator_input(objective, tokens, sampled_token: int, monkeypatch):
    """The tokens the discriminator reads when the generator always samples ``sampled_token``."""
    monkeypatch.setattr(electra, "sample_replacements",
                        lambda logits, candidates, uniform: torch.full((len(logits),), sampled_token))
    seen = {}
    hidden_states = objective.model.hidden_states

    def watch(tokens, *args):
        seen["tokens"] = tokens
        return hidden_states(tokens, *args)

    monkeypatch.setattr(objective.model, "hidden_states", watch)
    torch.manual_seed(7)
    metrics = objective({"tokens": tokens}).metrics
    return seen["tokens"], metrics


def chosen_positions(tokens):
    """The positions masking chooses under seed 7: the first thing the objective draws."""
    torch.manual_seed(7)
    _, targets = mask_tokens(tokens, mask_id=MASK, special_ids=SPECIALS, replacement_ids=torch.arange(60))
    return targets != IGNORE


def test_replacements_only_where_masked_and_a_sample_equal_to_the_original_is_original(monkeypatch):
    objective = tiny_electra()
    tokens = torch.full((8, 16), 5)
    tokens[:, ::5] = 60  # document separators
    chosen = chosen_positions(tokens)
    assert chosen.any()

    seen, metrics = discriminator_input(objective, tokens, sampled_token=9, monkeypatch=monkeypatch)
    assert torch.equal(seen != tokens, chosen)  # replaced exactly at the masked positions, never [mask]
    ordinary = tokens != 60
    assert metrics["replaced_share"] == pytest.approx((chosen.sum() / ordinary.sum()).item())

    # The generator guessed right everywhere: the input is the original and nothing counts as replaced.
    seen, metrics = discriminator_input(objective, tokens, sampled_token=5, monkeypatch=monkeypatch)
    assert torch.equal(seen, tokens) and metrics["replaced_share"] == 0


def test_the_generator_never_samples_a_special_token():
    logits = torch.zeros(1000, 64)
    logits[:, MASK] = 50.0  # an untrained generator may favour [mask]
    samples = electra.sample_replacements(logits, torch.arange(60), torch.rand(1000))
    assert samples.max() < 60


def test_replacements_follow_the_generators_softmax():
    logits = torch.full((20_000, 6), 9.0)  # the specials 0-2 would win if they were candidates
    logits[:, 3:] = torch.log(torch.tensor([0.1, 0.2, 0.7]))
    uniform = torch.rand(20_000, generator=torch.Generator().manual_seed(0))
    samples = electra.sample_replacements(logits, torch.tensor([3, 4, 5]), uniform)
    share = torch.bincount(samples, minlength=6).float() / 20_000
    assert torch.allclose(share, torch.tensor([0, 0, 0, 0.1, 0.2, 0.7]), atol=0.015)


def test_padding_and_special_positions_are_not_scored(monkeypatch):
    objective = tiny_electra()
    tokens = torch.randint(0, 60, (8, 16), generator=torch.Generator().manual_seed(0))
    tokens[:, 12:] = 61  # padding
    tokens[:, 0] = 60

    def loss(with_wild_special_logits: bool):
        def hook(module, args, logits):
            special = torch.isin(tokens, torch.tensor(SPECIALS))[..., None]
            return logits + 1e4 * special if with_wild_special_logits else logits
        handle = objective.disc_head.register_forward_hook(hook)
        torch.manual_seed(3)
        with torch.no_grad():
            metrics = objective({"tokens": tokens}).metrics
        handle.remove()
        return metrics["discriminator_loss"]

    assert loss(True) == loss(False)  # a logit of 1e4 on a special position would cost ~1e4 if scored
    seen, _ = discriminator_input(objective, tokens, sampled_token=9, monkeypatch=monkeypatch)
    assert torch.equal(seen[:, 12:], tokens[:, 12:]) and torch.equal(seen[:, 0], tokens[:, 0])


def make_trainer(run_dir, steps):
    cfg = TrainConfig(steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, eval_every=3, eval_batches=2,
                      log_every=1, progress=False)
    return Trainer(tiny_electra(dropout=0.1), RandomTokens(1, 16), RandomTokens(2, 16), cfg, run_dir,
                   run_config={"train": cfg.model_dump(mode="json")})


def test_resume_is_bitwise_identical_generator_and_head_included(tmp_path):
    straight = make_trainer(tmp_path / "straight", steps=6)
    straight.fit()
    first = make_trainer(tmp_path / "split", steps=6)
    assert first.fit(stop_at=3).interrupted
    second = make_trainer(tmp_path / "split", steps=6)
    second.resume(Checkpointer(tmp_path / "split" / "checkpoints").latest())
    second.fit()
    a, b = straight.objective.state_dict(), second.objective.state_dict()
    assert any(k.startswith("generator.") for k in a) and all(torch.equal(a[k], b[k]) for k in a)


def write_electra_config(tmp_path, data, steps=6, **knobs):
    config = tmp_path / "electra.yaml"
    objective = ", ".join(f"{k}: {v}" for k, v in {"name": "electra", **knobs}.items())
    config.write_text(f"""
run_dir: {tmp_path / 'run-electra'}
data: {{path: {data}}}
model: {{preset: bert-classic-nano, n_layer: 2, d_model: 32, n_head: 2, context_length: 32}}
objective: {{{objective}}}
train: {{steps: {steps}, batch_size: 4, lr: 1.0e-3, warmup_steps: 2, eval_every: 3, eval_batches: 2, log_every: 1}}
""")
    return config


def test_pretrain_saves_the_discriminator_as_the_backbone_that_finetunes_and_exports(tmp_path, prepared):
    code, out = run_cli("pretrain", write_electra_config(tmp_path, prepared))
    assert code == 0, out
    run = tmp_path / "run-electra"
    val = read_metrics(run, "val")[-1]
    assert {"generator_loss", "discriminator_loss", "discriminator_accuracy", "replaced_share"} <= val.keys()
    last = run / "checkpoints" / "step_000006"
    assert any(k.startswith("generator.") for k in load_file(last / "objective.safetensors"))

    model, tokenizer, _, _ = load_text_model(run)  # the discriminator, as any masked LM's backbone
    assert isinstance(model, TextTransformer) and not model.cfg.causal and model.cfg.d_model == 32

    write_task(tmp_path)
    code, out = run_cli("finetune", write_finetune_config(tmp_path, run))
    assert code == 0 and "test: accuracy" in out, out

    transformers = pytest.importorskip("transformers")
    assert run_cli("export", run, "--out", tmp_path / "hf")[0] == 0
    bert = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    ids = torch.tensor([tokenizer.encode("the lazy dog").ids])
    with torch.no_grad():
        assert (bert(input_ids=ids).last_hidden_state - model.hidden_states(ids)).abs().max() < 1e-4


def test_continued_pretraining_keeps_the_discriminator_and_starts_a_new_generator(tmp_path, prepared):
    assert run_cli("pretrain", write_electra_config(tmp_path, prepared, steps=3))[0] == 0
    first = tmp_path / "run-electra" / "checkpoints" / "step_000003"
    config = tmp_path / "continue.yaml"
    config.write_text(f"""
run_dir: {tmp_path / 'continued'}
init: {first}
data: {{path: {prepared}}}
objective: {{name: electra, generator_size: 0.5}}
train: {{steps: 1, batch_size: 4, lr: 1.0e-9, min_lr: 0, eval_every: 1, eval_batches: 1}}
""")
    code, out = run_cli("pretrain", config)
    assert code == 0, out
    before = load_file(first / "model.safetensors")
    after = load_file(tmp_path / "continued" / "checkpoints" / "step_000001" / "model.safetensors")
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)


@pytest.mark.parametrize("objective, message", [
    ({"name": "masked_lm", "generator_size": 0.5}, "objective.generator_size: a knob of electra, not of masked_lm"),
    ({"name": "masked_lm", "disc_weight": 10}, "objective.disc_weight: a knob of electra, not of masked_lm"),
    ({"name": "electra", "mask_ratio": 0.5}, "objective.mask_ratio: a knob of mae, not of electra (its knobs: "
                                             "mask_prob, generator_size, disc_weight)"),
    ({"name": "electra", "generator_size": 1.5}, "objective.generator_size: input should be less than or equal to 1"),
    ({"name": "electra", "disc_weight": 0}, "objective.disc_weight: input should be greater than 0"),
])
def test_a_knob_of_another_objective_or_out_of_range_is_a_one_line_error(tmp_path, objective, message):
    config = tmp_path / "bad.yaml"
    config.write_text(f"run_dir: {tmp_path}\ndata: {{path: {tmp_path}}}\nobjective: {objective}\n"
                      f"train: {{steps: 1, batch_size: 1, lr: 1.0e-3}}\n")
    code, out = run_cli("pretrain", config)
    assert code == 2 and message in out and "\n" not in out.strip()


def test_electra_defaults_are_the_official_codes():
    cfg = PretrainConfig.model_validate({"run_dir": "r", "data": {"path": "d"}, "objective": {"name": "electra"},
                                         "train": {"steps": 1, "batch_size": 1, "lr": 1.0e-3}})
    knobs = cfg.objective
    assert (knobs.mask_prob, knobs.generator_size, knobs.disc_weight) == (0.15, 0.25, 50.0)
    assert cfg.model == {"preset": "bert-classic-nano"} and cfg.modality == "text"
