"""Use what you fine-tuned, on real data: fine-tune, then predict on the raw test files, evaluate, and export
to Hugging Face and ONNX — every route must give the run's own test accuracy and the same logits.

    python bench/classifier_round_trip.py [--work /tmp/hs-round-trip] [--only text,images,audio]

* text:   SST-2 (../shared/data/sst2). A gpt-nano pre-trained on SST-2's training sentences (no labels),
          fine-tuned on 1,000 labels with last-token pooling (GPT2ForSequenceClassification's); predict on
          stsa.binary.test (1,821 sentences).
* images: MNIST's 10,000 test digits (../shared/data/mnist), 80% / 20% split; a ViT (cls pooling) trained
          from scratch on 2,000 labels; predict on the 20% written out as PNG files in class folders.
* audio:  Free Spoken Digits (../shared/data/fsdd), 80% / 20% split by file; a small speech encoder
          trained from scratch on 1,000 labels; predict on the 20% as the original WAV files.

Prints per modality: results.json's test accuracy, predict's accuracy on the raw files, evaluate's accuracy
and ECE, and for each export the largest logit difference and the argmax agreement with headstart.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BATCH = 64


def run_headstart(*args) -> str:
    done = subprocess.run([sys.executable, "-m", "headstart", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"headstart {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done.stdout + done.stderr


def finetune(config: dict, run_dir: Path) -> dict:
    from headstart.finetune.config import FinetuneConfig
    from headstart.finetune.run import finetune as run_finetune
    if (run_dir / "results.json").exists():
        return json.loads((run_dir / "results.json").read_text())
    return run_finetune(FinetuneConfig.model_validate({"run_dir": str(run_dir), **config}))


def text_run(work: Path) -> tuple[Path, list[str], list[str]]:
    from headstart.pretrain import pretrain
    from headstart.text.prepare import prepare_text
    sst2 = SHARED / "sst2"
    corpus = work / "sst2-sentences.txt"
    corpus.write_text("".join(line.split(maxsplit=1)[1] + "\n" for line in
                              (sst2 / "stsa.binary.train").read_text().splitlines() if line.strip()))
    if not (work / "sst2-data" / "manifest.json").exists():
        prepare_text([corpus], work / "sst2-data", tokenizer="bpe", vocab_size=4096, doc_unit="line",
                     overwrite=True, progress=False)
    if not (work / "gpt" / "checkpoints").exists():
        config = work / "gpt.yaml"
        config.write_text(yaml.safe_dump(
            {"run_dir": str(work / "gpt"), "data": {"path": str(work / "sst2-data")},
             "model": {"preset": "gpt-nano", "context_length": 64}, "objective": {"name": "causal_lm"},
             "train": {"steps": 400, "batch_size": 32, "lr": 1e-3, "eval_every": 200, "progress": False}}))
        pretrain(config)
    finetune({"init": str(work / "gpt"), "pooling": "last", "epochs": 4,
              "task": {"train": str(sst2 / "stsa.binary.train"), "test": str(sst2 / "stsa.binary.test"),
                       "budget": 1000},
              "train": {"batch_size": 32, "lr": 3e-4, "progress": False}}, work / "sst2-ft")
    test = [line.split(maxsplit=1) for line in (sst2 / "stsa.binary.test").read_text().splitlines() if line.strip()]
    return work / "sst2-ft", [str(sst2 / "stsa.binary.test")], [text for _, text in test]


def image_run(work: Path) -> tuple[Path, list[str], list]:
    from PIL import Image
    from headstart.vision.arrays import ImageArrays
    from headstart.vision.prepare import prepare_images
    data = work / "mnist-data"
    if not (data / "manifest.json").exists():
        prepare_images([SHARED / "mnist" / "t10k-images-idx3-ubyte.gz"], data, mode="L", val_fraction=0.2,
                       overwrite=True, progress=False)
    finetune({"model": {"preset": "vit-nano", "patch_size": 4, "pool": "cls"}, "epochs": 15,
              "task": {"train": str(data), "test": {"path": str(data), "split": "val"}, "budget": 2000},
              "train": {"batch_size": 64, "lr": 1e-3, "progress": False}}, work / "mnist-ft")
    val = ImageArrays(data, "val")
    pixels, labels = val.read(np.arange(len(val)))
    files = []
    for i, (image, label) in enumerate(zip(pixels, labels)):
        path = work / "mnist-val-png" / str(label) / f"{i:05d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[..., 0]).save(path)
        files.append(path)
    return work / "mnist-ft", [str(work / "mnist-val-png")], files


def audio_run(work: Path) -> tuple[Path, list[str], list]:
    from headstart.audio.prepare import find_audio_files, prepare_audio
    from headstart.modality.splits import is_val
    data, recordings = work / "fsdd-data", SHARED / "fsdd" / "recordings"
    if not (data / "manifest.json").exists():
        prepare_audio([recordings], data, sample_rate=8000, n_mels=40, val_fraction=0.2,
                      label_from_name="{label}_{speaker}_{take}", overwrite=True, progress=False)
    finetune({"model": {"preset": "audio-tiny", "max_frames": 1000}, "epochs": 15,
              "task": {"train": str(data), "test": {"path": str(data), "split": "val"}, "budget": 1000},
              "train": {"batch_size": 32, "lr": 1e-3, "progress": False}}, work / "fsdd-ft")
    files = [f.path for f in find_audio_files([recordings]) if is_val(f.relative, 0.2)]
    return work / "fsdd-ft", [str(f) for f in files], files


def check(name: str, run: Path, sources: list[str], examples: list, work: Path) -> dict:
    import headstart.classifier as hc
    from headstart.classifier.predict import evaluate_run, predict_files
    results = json.loads((run / "results.json").read_text())
    classifier = hc.load_classifier(run)
    started = time.perf_counter()
    counts = predict_files(classifier, sources, str(work / f"{name}-preds.jsonl"), batch_size=BATCH)
    predict_s = time.perf_counter() - started
    test_ref = results.get("test")
    test, split = _test_of(run)
    evaluation = evaluate_run(classifier, test, split=split, out=work / f"{name}-evaluation")["metrics"]
    logits = np.concatenate([classifier.logits([item.example for item in _items(classifier, examples[s:s + BATCH])])
                             for s in range(0, len(examples), BATCH)])
    accuracy = counts.get("accuracy")
    if accuracy is None and name == "audio":  # plain files: the true label is FSDD's file name, {label}_{speaker}_{take}
        rows = [json.loads(line) for line in (work / f"{name}-preds.jsonl").read_text().splitlines()]
        accuracy = float(np.mean([row["label"] == Path(row["input"]).name.split("_")[0] for row in rows]))
    row = {"modality": name, "results_test_accuracy": test_ref["accuracy"], "predict_accuracy": accuracy,
           "predicted": counts["predicted"], "skipped": counts["skipped"], "predict_s": round(predict_s, 1),
           "evaluate_accuracy": evaluation["accuracy"], "evaluate_ece": evaluation["ece"]}
    row.update(_exports(name, run, classifier, examples, logits, work))
    return row


def _items(classifier, inputs):
    items = list(classifier.io.from_python(classifier.meta, inputs))
    assert not any(item.problem for item in items), [item for item in items if item.problem][:1]
    return items


def _test_of(run: Path) -> tuple[Path, str | None]:
    """The run's task.test, as its config.yaml recorded it."""
    test = yaml.safe_load((run / "config.yaml").read_text())["task"]["test"]
    return Path(test["path"]), test.get("split")


def _exports(name: str, run: Path, classifier, examples: list, logits: np.ndarray, work: Path) -> dict:
    """Largest |logit difference| and argmax agreement of the Hugging Face and ONNX exports."""
    out = {}
    for kind, fn in (("hf", hf_logits), ("onnx", onnx_logits)):
        try:
            theirs = fn(run, classifier, examples, work / f"{name}-{kind}")
        except SystemExit as e:
            out[kind] = f"not exported: {str(e).strip().splitlines()[-1][:160]}"
            continue
        out[kind] = {"max_abs_diff": float(np.abs(theirs - logits).max()),
                     "argmax_agree": float(np.mean(theirs.argmax(1) == logits.argmax(1))), "n": len(theirs)}
    return out


def export(run: Path, out: Path, fmt: str) -> None:
    if not out.exists():
        run_headstart("export", run, "--out", out, "--format", fmt)


def hf_logits(run: Path, classifier, examples: list, out: Path) -> np.ndarray:
    """The transformers export's logits through transformers' own preprocessing: its tokenizer (padded
    batches) or its image processor (the PNG files)."""
    import torch
    from transformers import (AutoImageProcessor, AutoModelForImageClassification,
                              AutoModelForSequenceClassification, AutoTokenizer)
    export(run, out, "hf")
    logits = []
    with torch.inference_mode():
        if classifier.modality == "text":
            model, tokenizer = AutoModelForSequenceClassification.from_pretrained(out), AutoTokenizer.from_pretrained(out)
            for s in range(0, len(examples), BATCH):
                batch = tokenizer(examples[s:s + BATCH], padding=True, truncation=True, return_tensors="pt")
                logits.append(model(**batch).logits.numpy())
        else:
            from PIL import Image
            model, processor = AutoModelForImageClassification.from_pretrained(out), AutoImageProcessor.from_pretrained(out)
            for s in range(0, len(examples), BATCH):
                images = [Image.open(f) for f in examples[s:s + BATCH]]
                logits.append(model(**processor(images=images, return_tensors="pt")).logits.numpy())
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert labels == classifier.labels, (labels, classifier.labels)
    return np.concatenate(logits)


def onnx_logits(run: Path, classifier, examples: list, out: Path) -> np.ndarray:
    """The ONNX export's logits in onnxruntime, fed headstart's own padded batches."""
    import onnxruntime
    export(run, out, "onnx")
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    logits = []
    for s in range(0, len(examples), BATCH):
        items = _items(classifier, examples[s:s + BATCH])
        data = classifier.io.data([item.example for item in items], [0] * len(items))
        for batch in classifier.backbone.batches(data, len(items)).in_order():
            logits.append(session.run(["logits"], {k: v.numpy() for k, v in batch.items() if k in names})[0])
    return np.concatenate(logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hs-round-trip"))
    parser.add_argument("--only", default="text,images,audio")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs {SHARED} (SST-2, MNIST, FSDD)")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).parent))
    rows = []
    for name, build in (("text", text_run), ("images", image_run), ("audio", audio_run)):
        if name in args.only.split(","):
            run, sources, examples = build(args.work)
            rows.append(check(name, run, sources, examples, args.work))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nreproduce: python bench/classifier_round_trip.py --work {args.work} --only {args.only}")


if __name__ == "__main__":
    main()
