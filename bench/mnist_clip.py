"""CLIP on real MNIST digits: zero-shot accuracy from class names alone, retrieval, and what starting the
towers from headstart's own unimodal checkpoints is worth.

The data is MNIST's 10,000-image test set (the only images in ../shared/data/mnist), split once with a
fixed seed into 8,000 pairs for pre-training and 2,000 held-out images for evaluation.  Each of the
8,000 images gets a caption naming its digit in one of several phrasings ("a handwritten 7", "the
digit seven", ...), drawn at random; the pairs are written as WebDataset tar shards (PNG + txt).

1. data      shards -> `headstart prepare pairs` (5% of pairs are its validation split, where retrieval
             is scored); the captions alone -> `headstart prepare text`, whose tokenizer the pairs reuse;
2. unimodal  SimCLR on the 8,000 images (image tower, no labels) and masked LM on the captions (text
             tower);
3. clip      `headstart pretrain` with objective clip twice per seed, same steps and settings: random
             towers, and towers initialised from step 2;
4. measure   zero-shot accuracy on the 2,000 held-out images, with prompt templates and the class
             names "0".."9" only (headstart's generic default prompts, and prompts for digits); retrieval R@1/5/10 on the validation pairs; steps each run needs to
             reach 90% of the random-tower run's improvement in validation loss;
5. report    `headstart compare` of the first seed's initialised CLIP: its image tower vs the same
             ResNet from random weights, linear probes (CLIP's protocol) with 10 and 100 labels, tested on
             the held-out digits, with zero-shot, retrieval and both pre-training curves in the report.

    python bench/mnist_clip.py [--work /tmp/headstart-mnist-clip] [--steps 400]
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POOL, HELD_OUT = 8000, 2000
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# {d}: the numeral, {w}: the word.  Zero-shot prompts use the class names "0".."9" and generic templates.
PHRASINGS = ["a handwritten {d}", "the digit {w}", "a photo of the number {d}", "an image of a {w}",
             "{w}, written by hand", "a scanned {d}", "the number {w} in black and white",
             "a picture of the digit {d}", "someone wrote a {w}", "{d}"]
# A ResNet image tower: vit-nano learns MNIST far more slowly from scratch on 2 cores (supervised, 60 steps of
# 128 digits: 20% accuracy), and CLIP with it stayed at chance (loss = log batch) for 100 steps.
# Zero-shot prompts: headstart's generic default ("a photo of a {}." ...) and prompts written for digits, as
# CLIP wrote prompts per data set (its MNIST one: 'a photo of the number: "{}".').  Only class names fill them;
# "a handwritten {}" and "the digit {}" are also caption phrasings, which is what such prompts aim at.
DIGIT_TEMPLATES = ["the digit {}", "a handwritten {}", "the number {}"]
TOWERS = {"image": {"preset": "resnet-tiny", "widths": [16, 32, 64]}, "text": {"preset": "bert-nano"}}
CLIP_TRAIN = {"batch_size": 256, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 30, "weight_decay": 0.1,
              "eval_batches": 2, "log_every": 25, "keep_last": 1, "progress": False}


def write_data(work: Path) -> dict[str, Path]:
    """WebDataset shards of the 8,000 captioned pairs, the captions as text, and labeled image folders."""
    from PIL import Image

    from headstart.vision.idx import read_idx
    from headstart.vision.prepare import prepare_images

    out = {"shards": work / "shards", "captions": work / "captions.txt", "pool": work / "pool-images",
           "held-out": work / "held-out-images"}
    if (out["held-out"] / "manifest.json").exists():
        return out
    images = read_idx(SHARED / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    pool, held_out = order[:POOL], order[POOL:POOL + HELD_OUT]
    rng = np.random.default_rng(1)
    captions = [PHRASINGS[rng.integers(len(PHRASINGS))].format(d=labels[i], w=WORDS[labels[i]]) for i in pool]
    out["shards"].mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, POOL, 4000)):
        with tarfile.open(out["shards"] / f"mnist-pairs-{shard:04d}.tar", "w") as tar:
            for n in range(start, min(start + 4000, POOL)):
                png = io.BytesIO()
                Image.fromarray(images[pool[n]]).save(png, format="PNG")
                for ext, data in (("png", png.getvalue()), ("txt", captions[n].encode())):
                    info = tarfile.TarInfo(f"{n:06d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    out["captions"].write_text("\n".join(captions) + "\n")
    arrays = work / "arrays"
    arrays.mkdir(exist_ok=True)
    np.savez(arrays / "pool.npz", x=images[pool], y=labels[pool])
    np.savez(arrays / "held-out.npz", x=images[held_out], y=labels[held_out])
    common = dict(mode="L", overwrite=True, progress=False)
    prepare_images(arrays / "pool.npz", out["pool"], val_fraction=0.05, **common)
    prepare_images(arrays / "held-out.npz", out["held-out"], val_fraction=0.0, **common)
    return out


def prepare(work: Path, data: dict[str, Path]) -> dict[str, Path]:
    from headstart.pairs.prepare import prepare_pairs
    from headstart.text.prepare import prepare_text

    text, pairs = work / "captions-text", work / "pairs"
    if not (text / "manifest.json").exists():
        prepare_text([data["captions"]], text, vocab_size=512, doc_unit="line", val_fraction=0.05, overwrite=True,
                     workers=0, progress=False)
    if not (pairs / "manifest.json").exists():
        prepare_pairs([data["shards"]], pairs, size=28, mode="L", caption_len=16, tokenizer=str(text),
                      val_fraction=0.05, overwrite=True, progress=False)
    return {"text": text, "pairs": pairs}


def run(name: str, work: Path, config: dict) -> dict:
    """``headstart pretrain`` once, timed; a finished run is read back."""
    from headstart.config import PretrainConfig
    from headstart.pretrain import pretrain

    run_dir = work / name
    done = run_dir / "bench.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.perf_counter()
    result = pretrain(PretrainConfig.model_validate({**config, "run_dir": str(run_dir)}))
    summary = {"seconds": time.perf_counter() - t0, "final_eval": result.final_eval,
               "checkpoint": str(result.last_checkpoint), "run_dir": str(run_dir)}
    done.write_text(json.dumps(summary, indent=1))
    return summary


def unimodal(work: Path, data: dict[str, Path], folders: dict[str, Path], steps: dict[str, int]) -> dict:
    image = run("image-simclr", work, {
        "data": {"path": str(data["pool"])}, "model": TOWERS["image"],
        "objective": {"name": "simclr", "temperature": 0.2, "projection_dim": 64, "projection_hidden_dim": 256,
                      "crop_scale": [0.5, 1.0], "flip_p": 0.0, "blur_p": 0.5, "jitter_strength": 0.5},
        "monitor": {"knn_train_images": 2000, "knn_val_images": 400},
        "train": {**CLIP_TRAIN, "steps": steps["image"], "eval_every": max(1, steps["image"] // 4)}})
    text = run("text-mlm", work, {
        "data": {"path": str(folders["text"]), "seq_len": 16}, "model": {**TOWERS["text"], "context_length": 16},
        "objective": {"name": "masked_lm"},
        "train": {**CLIP_TRAIN, "batch_size": 64, "steps": steps["text"], "eval_every": max(1, steps["text"] // 4)}})
    return {"image": image, "text": text}


def clip_config(folders: dict[str, Path], steps: int, towers: dict, seed: int) -> dict:
    return {"data": {"path": str(folders["pairs"])}, "objective": {"name": "clip"}, "model": towers,
            "train": {**CLIP_TRAIN, "steps": steps, "eval_every": max(1, steps // 20), "seed": seed}}


def zero_shot(checkpoint: str, held_out: Path, templates=None) -> float:
    from headstart.pairs.evaluate import zero_shot_accuracy
    from headstart.pairs.pretrained import load_dual_encoder
    from headstart.vision.arrays import ImageArrays

    model, tokenizer, _, _ = load_dual_encoder(checkpoint, prefer="last")
    images = ImageArrays(held_out, "train")
    pixels, labels = images.read(np.arange(len(images)))
    from headstart.pairs.evaluate import DEFAULT_TEMPLATES

    return zero_shot_accuracy(model, tokenizer, pixels, labels, images.class_names, templates or DEFAULT_TEMPLATES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headstart-mnist-clip"))
    ap.add_argument("--steps", type=int, default=400, help="CLIP steps of 256 pairs, for both runs")
    ap.add_argument("--image-steps", type=int, default=300, help="SimCLR steps for the image tower")
    ap.add_argument("--text-steps", type=int, default=200, help="masked-LM steps for the text tower")
    ap.add_argument("--clip-seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="seeds of the CLIP pairs of runs (the first one's go into the report)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="compare's fine-tuning seeds")
    ap.add_argument("--no-compare", action="store_true", help="skip the fine-tuning report")
    args = ap.parse_args()
    if not (SHARED / "mnist").is_dir():
        sys.exit(f"needs the shared data sets at {SHARED}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    data = write_data(args.work)
    folders = prepare(args.work, data)
    towers = unimodal(args.work, data, folders, {"image": args.image_steps, "text": args.text_steps})
    from headstart.compare import pretraining_curves

    summary, runs = {"seeds": {}}, {}
    print(f"\nCLIP, {args.steps} steps of 256 pairs; zero-shot on the {HELD_OUT:,} held-out digits "
          f"(class names only); retrieval on the validation pairs:")
    for seed in args.clip_seeds:
        runs[seed] = {
            "random": run(f"clip-random-s{seed}", args.work, clip_config(folders, args.steps, TOWERS, seed)),
            "initialised": run(f"clip-initialised-s{seed}", args.work, clip_config(folders, args.steps, {
                "image_init": towers["image"]["run_dir"], "text_init": towers["text"]["run_dir"]}, seed))}
        curves = pretraining_curves(runs[seed]["initialised"]["run_dir"], runs[seed]["random"]["run_dir"])
        reach = dict(zip(("initialised", "random"), curves["steps_to_target"].values()))
        row = summary["seeds"][seed] = {"target_loss": curves["target_loss"], "steps_to_target": reach}
        for name, r in runs[seed].items():
            accuracy = zero_shot(r["checkpoint"], data["held-out"])
            digits = zero_shot(r["checkpoint"], data["held-out"], DIGIT_TEMPLATES)
            final = r["final_eval"]
            row[name] = {"zero_shot": accuracy, "zero_shot_digit_prompts": digits, "seconds": r["seconds"], **final}
            print(f"  seed {seed} {name:12} zero-shot {100 * accuracy:5.1f}% (digit prompts {100 * digits:5.1f}%)  "
                  f"i2t R@1 {100 * final['i2t_R@1']:5.1f}  "
                  f"R@5 {100 * final['i2t_R@5']:5.1f}  R@10 {100 * final['i2t_R@10']:5.1f}  "
                  f"t2i R@1 {100 * final['t2i_R@1']:5.1f}  val loss {final['loss']:.3f}  "
                  f"({r['seconds'] / 60:.1f} min)")
        print(f"  seed {seed} steps to validation loss {curves['target_loss']:.3f} (90% of the random towers' "
              f"improvement): random {reach['random']}, initialised {reach['initialised']}"
              + (f" ({reach['random'] / reach['initialised']:.1f}x fewer)" if reach["random"] and reach["initialised"]
                 else ""))
    for name in ("random", "initialised"):
        steps = [summary["seeds"][s]["steps_to_target"][name] for s in args.clip_seeds]
        for key, prompts in (("zero_shot", "default prompts"), ("zero_shot_digit_prompts", "digit prompts")):
            shots = [summary["seeds"][s][name][key] for s in args.clip_seeds]
            print(f"{name:12} zero-shot, {prompts}: mean {100 * np.mean(shots):.1f}% "
                  f"(seeds {', '.join(f'{100 * z:.1f}' for z in shots)})")
        print(f"{name:12} steps to target {steps}")
    print(f"unimodal pre-training: SimCLR {towers['image']['seconds'] / 60:.1f} min, "
          f"masked LM {towers['text']['seconds'] / 60:.1f} min")

    if not args.no_compare:
        from headstart.compare import CompareConfig, compare

        first = args.clip_seeds[0]
        cfg = CompareConfig.model_validate({
            "run_dir": str(args.work / "compare"), "pretrained": runs[first]["initialised"]["checkpoint"],
            "task": {"train": str(data["pool"]), "test": str(data["held-out"])},
            "budgets": [10, 100], "seeds": args.seeds, "probe_examples": 1000, "zero_shot_templates": DIGIT_TEMPLATES,
            "pretraining_reference": runs[first]["random"]["run_dir"],
            # CLIP's own protocol for an image tower: a linear probe on frozen features, both arms alike.
            "strategy": {"name": "linear_probe"},
            "train": {"steps": 200, "batch_size": 32, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 20,
                      "eval_every": 25, "patience": 4, "log_every": 25}})
        report = compare(cfg, command=" ".join(sys.argv))
        summary["report"] = str(report["report"]["html"])
        print(f"report: {report['report']['html']}")
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1))
    print("reproduce: python bench/mnist_clip.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
