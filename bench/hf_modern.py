"""Hugging Face interop for rotary decoders, on tinyshakespeare (issue #26).

``continue``: a tiny random LlamaForCausalLM saved by transformers (with a byte-level BPE trained on
tinyshakespeare) is imported with ``headstart import``, pre-trained 20 more steps with ``init:`` on
tinyshakespeare, and exported again; prints the losses and the largest logit gap between the exported
model in transformers and headstart's checkpoint on a padded batch.

``exactness``: the largest logit gap between headstart and transformers on a padded batch for every
mapping the tests check (tests/test_hf_modern.py's models and helpers), and whether export -> import
gives the same weights bit for bit.

``step-time``: the speedrun recipe's layout (configs/shakespeare-speedrun.yaml: rope, QK-norm, ReLU²,
LayerNorm) against its exportable twin (rope, QK-norm, SwiGLU at 8/3 width, RMSNorm: Qwen3's layout),
both through the engine's real training step with the recipe's settings (Muon, batch 48, context 64),
in one process, in alternating rounds; prints median ms per step and the ratio.  A step-time ratio,
not time to loss 1.89: whether the twin reaches 1.89 as fast needs bench/speedrun.py on a quiet machine.

    python bench/hf_modern.py continue [--steps 20]
    python bench/hf_modern.py exactness
    python bench/hf_modern.py step-time [--rounds 7 --steps 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
SPEEDRUN = ROOT / "configs" / "shakespeare-speedrun.yaml"


def cli(*args) -> str:
    from click.testing import CliRunner
    from headstart import cli as headstart_cli
    headstart_cli._register_prepare_commands()
    result = CliRunner().invoke(headstart_cli.cli, [str(a) for a in args], catch_exceptions=False)
    if result.exit_code:
        sys.exit(f"headstart {' '.join(map(str, args))} failed: {result.output}")
    return result.output


def tiny_llama(out: Path, text: str) -> None:
    """What a user downloads, made here: config.json + model.safetensors + tokenizer.json."""
    import transformers
    from tokenizers.implementations import ByteLevelBPETokenizer
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator([text], vocab_size=512, special_tokens=["<|endoftext|>"])
    config = transformers.LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=128, intermediate_size=352,
                                      num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=128, tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save(str(out / "tokenizer.json"))


def continue_pretraining(args) -> None:
    import transformers
    from headstart.engine.metrics import read_metrics
    from headstart.text.pretrained import load_text_model

    if not SHAKESPEARE.exists():
        sys.exit(f"skipped: {SHAKESPEARE} is absent (tinyshakespeare, see /work/shared/data/SOURCES.md)")
    work = Path(tempfile.mkdtemp(prefix="hf-modern-"))
    tiny_llama(work / "hf-llama", SHAKESPEARE.read_text())
    print(cli("import", work / "hf-llama", "--out", work / "imported").strip())
    cli("prepare", "text", SHAKESPEARE, "--out", work / "data", "--tokenizer", work / "imported" / "tokenizer.json")
    config = {"run_dir": str(work / "continued"), "init": str(work / "imported"),
              "data": {"path": str(work / "data"), "seq_len": 128}, "objective": {"name": "causal_lm"},
              "train": {"steps": args.steps, "batch_size": 16, "lr": 3e-3, "warmup_steps": 2, "log_every": 1,
                        "eval_every": args.steps, "eval_batches": 20, "progress": False}}
    (work / "continue.yaml").write_text(yaml.safe_dump(config))
    cli("pretrain", work / "continue.yaml")
    losses = [round(r["loss"], 3) for r in read_metrics(work / "continued", "train")]
    val = [round(r["loss"], 3) for r in read_metrics(work / "continued", "val")]
    print(f"train loss by step (1..{args.steps}): {losses}\nval loss at step {args.steps}: {val}")
    print(cli("export", work / "continued", "--out", work / "exported").strip())

    hf = transformers.AutoModelForCausalLM.from_pretrained(work / "exported").eval()
    model, tokenizer, _, _ = load_text_model(work / "continued")
    texts = ["ROMEO:\nWhat light", "First Citizen:\nBefore we proceed any further, hear me speak."]
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    width = max(map(len, ids))
    tokens = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids]).bool()
    with torch.no_grad():
        gap = (hf(input_ids=tokens, attention_mask=mask.long()).logits[mask] - model(tokens, mask)[mask]).abs().max()
    print(f"{type(hf).__name__}: largest logit gap to headstart on a padded batch {float(gap):.2e}; files in {work}")


def exactness(args) -> None:
    import logging
    import transformers
    sys.path.insert(0, str(ROOT / "tests"))
    logging.disable(logging.WARNING)  # the import's notes (GQA expanded, rows added) are not figures
    import test_hf_modern as t
    from headstart.engine.checkpoint import model_tensors
    from headstart.text.pretrained import load_text_model

    for name, (fields, _) in t.VARIANTS.items():
        tmp = Path(tempfile.mkdtemp())
        run, model = t.text_run(tmp, **{**t.MODERN, **fields})
        cli("export", run, "--out", tmp / "hf")
        hf = transformers.AutoModelForCausalLM.from_pretrained(tmp / "hf").eval()
        gap = t.same_logits_on_a_padded_batch(hf, model, load_text_model(run)[1])
        cli("import", tmp / "hf", "--out", tmp / "back")
        back, ours = model_tensors(load_text_model(tmp / "back")[0]), model_tensors(model)
        same = back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
        print(f"export {name} -> {type(hf).__name__}: max |logit gap| {gap:.1e}; import back: "
              f"{'identical weights' if same else 'DIFFERENT weights'}")
    for kind, settings in t.IMPORTED:
        tmp = Path(tempfile.mkdtemp())
        source, hf = t.hf_decoder(tmp, kind, **settings)
        cli("import", source, "--out", tmp / "run")
        model, tokenizer, _, _ = load_text_model(tmp / "run")
        print(f"import {kind} {settings}: max |logit gap| {t.same_logits_on_a_padded_batch(hf.eval(), model, tokenizer):.1e}")


def speedrun_models() -> dict[str, dict]:
    model = yaml.safe_load(SPEEDRUN.read_text())["model"]
    twin = {**model, "activation": "swiglu", "norm": "rmsnorm", "d_ff": 352}  # modern-nano's SwiGLU width
    return {"speedrun (relu2, layernorm)": model, "twin (swiglu, rmsnorm)": twin}


def step_time(args) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from gpt_step_throughput import InMemoryTokens, engine_step
    from headstart.engine import TrainConfig, Trainer
    from headstart.models import TextTransformer, TransformerConfig
    from headstart.models.presets import preset_fields
    from headstart.objectives import CausalLM

    recipe = yaml.safe_load(SPEEDRUN.read_text())
    train = {k: v for k, v in recipe["train"].items() if k not in ("eval_every", "eval_batches", "log_every")}
    batch, context = train["batch_size"], recipe["model"]["context_length"]
    steps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, fields) in enumerate(speedrun_models().items()):
            fields = {**preset_fields(fields.pop("preset")), **fields}
            torch.manual_seed(0)
            cfg = TransformerConfig(vocab_size=65, **fields)
            trainer = Trainer(CausalLM(TextTransformer(cfg)), InMemoryTokens(8, batch, context), None,
                              TrainConfig(**{**train, "steps": 10**6, "progress": False}), f"{tmp}/{i}",
                              run_config={})
            for _ in range(3):  # warm-up
                engine_step(trainer)
            steps[name] = (trainer, [], cfg)
        for _ in range(args.rounds):
            for trainer, times, _ in steps.values():
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    engine_step(trainer)
                times.append((time.perf_counter() - t0) / args.steps * 1000)
    medians = {name: statistics.median(times) for name, (_, times, _) in steps.items()}
    for name, (trainer, times, cfg) in steps.items():
        params = sum(p.numel() for p in trainer.objective.parameters()) / 1e6
        print(f"{name}: {params:.3f} M parameters, median {medians[name]:.1f} ms/step "
              f"(rounds: {', '.join(f'{t:.0f}' for t in times)})")
    first, second = medians.values()
    print(f"twin / speedrun step time: {second / first:.3f} ({torch.get_num_threads()} threads, torch "
          f"{torch.__version__}; {args.rounds} alternating rounds of {args.steps} steps)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("continue").add_argument("--steps", type=int, default=20)
    sub.add_parser("exactness")
    timing = sub.add_parser("step-time")
    timing.add_argument("--rounds", type=int, default=7)
    timing.add_argument("--steps", type=int, default=10, help="steps per round")
    args = ap.parse_args()
    {"continue": continue_pretraining, "exactness": exactness, "step-time": step_time}[args.command](args)
    print(f"reproduce: python bench/hf_modern.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
