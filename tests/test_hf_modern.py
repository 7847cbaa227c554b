"""Hugging Face interop for rotary decoders: headstart's modern layout (rope, RMSNorm, SwiGLU) exports to
LlamaForCausalLM, with QK-norm to Qwen3ForCausalLM, with transformers' logits; transformers' Llama, Qwen2
and Qwen3 directories import as headstart runs; what has no exact class is refused in one line."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from headstart.engine.checkpoint import model_tensors
from headstart.models.presets import preset_fields
from headstart.text.generate import sample
from headstart.text.pretrained import load_text_model
from test_hf_interop import TEXTS, continue_pretraining, padded_batch, perturbed, text_run
from test_pretrain_cli import run_cli

transformers = pytest.importorskip("transformers", reason="the round trip is checked with transformers itself")

TOLERANCE = 1e-4
MODERN = {k: v for k, v in preset_fields("modern-nano").items()
          if k not in ("n_layer", "n_head", "d_model", "context_length", "d_ff")}
PADDED = ["the fox", "the lazy dog jumps over the quick brown fox", "over the dog"]


def same_logits_on_a_padded_batch(hf, model, tokenizer) -> float:
    """The largest gap between transformers' and headstart's logits at the real (unpadded) positions."""
    tokens, mask = padded_batch(tokenizer, PADDED)
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).logits
        ours = model(tokens, padding_mask=mask.bool())
    real = mask.bool()
    return float((theirs[real] - ours[real][..., :theirs.shape[-1]]).abs().max())


VARIANTS = {  # id: (fields, the class transformers loads)
    "modern": ({}, "LlamaForCausalLM"),
    "bias-untied-theta": ({"bias": True, "tie_embeddings": False, "rope_base": 500.0, "d_ff": 48},
                          "LlamaForCausalLM"),
    "qk_norm": ({"qk_norm": True}, "Qwen3ForCausalLM"),
    "qk_norm-untied": ({"qk_norm": True, "tie_embeddings": False}, "Qwen3ForCausalLM"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_rotary_decoder_exports_with_transformers_logits_and_imports_back_identical(tmp_path, variant):
    fields, architecture = VARIANTS[variant]
    run, model = text_run(tmp_path, **{**MODERN, **fields})
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 0, out

    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == architecture
    _, tokenizer, _, _ = load_text_model(run)
    assert same_logits_on_a_padded_batch(hf, model, tokenizer) < TOLERANCE

    assert run_cli("import", tmp_path / "hf", "--out", tmp_path / "back")[0] == 0
    back, _, _, _ = load_text_model(tmp_path / "back")
    # the same architecture, with the defaults headstart left implicit written out
    assert back.cfg == model.cfg.model_copy(update={"d_ff": model.cfg.ff_width, "norm_eps": model.cfg.norm_eps or 1e-6})
    theirs, ours = model_tensors(back), model_tensors(model)
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)


@pytest.mark.parametrize("fields, named, nearest", [
    # the speedrun recipe's layout: QK-norm goes to Qwen3, which has neither ReLU² nor LayerNorm
    ({"positions": "rope", "qk_norm": True, "activation": "relu2"}, "model.activation=relu2", "activation: swiglu"),
    ({**MODERN, "qk_norm": True, "norm_eps": 1e-5}, "model.norm_eps=1e-05", "norm_eps: 1e-06"),
    ({**MODERN, "causal": False}, "model.positions=rope", "ModernBERT"),
])
def test_what_no_class_represents_exactly_is_refused_with_the_nearest_setting(tmp_path, fields, named, nearest):
    run, _ = text_run(tmp_path, **fields)
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2 and named in out and nearest in out and "\n" not in out.strip()
    assert not (tmp_path / "hf").exists()


def test_the_modern_twin_of_the_speedrun_generates_the_same_greedy_text_in_transformers(tmp_path):
    # untied: a random model with tied embeddings mostly repeats its input token, which would hide little
    run, model = text_run(tmp_path, **MODERN, qk_norm=True, tie_embeddings=False)
    assert run_cli("export", run, "--out", tmp_path / "hf")[0] == 0
    prompt, new = "the lazy dog", 12  # prompt and continuation fit the context: headstart would crop past it
    code, ours = run_cli("generate", run, "--prompt", prompt, "--temperature", "0", "--max-new-tokens", new)
    assert code == 0, ours

    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    theirs = hf.generate(ids, max_new_tokens=new, do_sample=False, eos_token_id=None, min_new_tokens=new)
    # The same token ids (a random model's text is mostly partial UTF-8, which decodes to the same "�"s)...
    assert torch.equal(theirs, sample(model, ids, new, temperature=0))
    assert len(set(theirs[0, ids.shape[1]:].tolist())) > 1  # ...and not one token repeated, which any model gives
    assert ours.strip() == prompt + tokenizer.decode(theirs[0, ids.shape[1]:])


# ---- import --------------------------------------------------------------------------------------
def hf_decoder(tmp_path, kind: str = "llama", **settings):
    """A small random decoder saved by transformers (grouped-query attention: 2 key/value heads for 4),
    with a byte-level BPE tokenizer of its own."""
    from tokenizers.implementations import ByteLevelBPETokenizer
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(TEXTS, vocab_size=300, special_tokens=["<|endoftext|>"])
    config_class, model_class = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
                                 "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
                                 "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM)}[kind]
    config = config_class(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=48,
                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                          max_position_embeddings=32, **settings)
    torch.manual_seed(0)
    model = perturbed(model_class(config))
    model.save_pretrained(tmp_path / f"hf-{kind}")
    tokenizer.save(str(tmp_path / f"hf-{kind}" / "tokenizer.json"))
    return tmp_path / f"hf-{kind}", model


IMPORTED = [("llama", {"rope_theta": 500.0}), ("llama", {"mlp_bias": True}), ("qwen2", {}),
            ("qwen3", {"tie_word_embeddings": True})]


@pytest.mark.parametrize("kind, settings", IMPORTED)
def test_a_transformers_decoder_imports_with_the_same_logits(tmp_path, kind, settings):
    source, hf = hf_decoder(tmp_path, kind, **settings)
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 0, out
    model, tokenizer, _, _ = load_text_model(tmp_path / "run")
    assert model.cfg.qk_norm == (kind == "qwen3")
    assert same_logits_on_a_padded_batch(hf.eval(), model, tokenizer) < TOLERANCE


def test_sharded_bfloat16_weights_import_as_transformers_wrote_them(tmp_path):
    source, hf = hf_decoder(tmp_path)
    for name in source.glob("*.safetensors"):
        name.unlink()
    hf.to(torch.bfloat16).save_pretrained(source, max_shard_size="40KB")  # as the Hub's checkpoints come
    assert len(list(source.glob("model-*.safetensors"))) > 1 and (source / "model.safetensors.index.json").exists()
    assert run_cli("import", source, "--out", tmp_path / "run")[0] == 0
    model, _, _, _ = load_text_model(tmp_path / "run")
    ours = model.stack.blocks[1].mlp.proj.weight
    assert torch.equal(ours, hf.model.layers[1].mlp.down_proj.weight.float())


def test_an_imported_llama_continues_pretraining_and_exports_again(tmp_path):
    source, _ = hf_decoder(tmp_path)
    assert run_cli("import", source, "--out", tmp_path / "run")[0] == 0
    continue_pretraining(tmp_path, tmp_path / "run", "causal_lm")

    assert run_cli("export", tmp_path / "more", "--out", tmp_path / "again")[0] == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "again").eval()
    model, tokenizer, _, _ = load_text_model(tmp_path / "more")
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert same_logits_on_a_padded_batch(hf, model, tokenizer) < TOLERANCE


def edit_config(source, **changes):
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize("kind, changes, named", [
    ("llama", {"model_type": "gemma"}, "model_type 'gemma' cannot be imported"),
    ("qwen3", {"use_sliding_window": True}, "use_sliding_window=true"),
    ("llama", {"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}}, "rope_type='llama3'"),
    ("llama", {"head_dim": 16}, "head_dim=16"),
    ("llama", {"hidden_act": "gelu"}, "hidden_act='gelu'"),
])
def test_a_config_headstart_cannot_honour_is_a_one_line_error(tmp_path, kind, changes, named):
    source, _ = hf_decoder(tmp_path, kind)
    edit_config(source, **changes)
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 2 and named in out and "\n" not in out.strip()
    assert not (tmp_path / "run").exists()


def test_an_index_naming_a_missing_shard_is_a_one_line_error(tmp_path):
    source, _ = hf_decoder(tmp_path)
    names = list(load_file(str(source / "model.safetensors")))
    (source / "model.safetensors").rename(source / "model-00001-of-00002.safetensors")
    weight_map = {name: f"model-0000{1 + i % 2}-of-00002.safetensors" for i, name in enumerate(names)}
    (source / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 2 and "model-00002-of-00002.safetensors" in out and "\n" not in out.strip()
