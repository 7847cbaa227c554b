"""The ``headstart`` command line.  Every command has ``--help``; user errors print one line, exit 2."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .errors import HeadstartError


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("torch", "tensorboard", "PIL", "gensim", "smart_open"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="headstart")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """Pre-train models on unlabeled data, fine-tune them on few labels, and prove the head start.

    \b
    Typical flow:
      headstart prepare text corpus/ --out data/corpus
      headstart pretrain config.yaml
      headstart generate runs/my-run --prompt "Once upon"
    Or try it all on built-in data:  headstart demo
    """
    _setup_logging(verbose)


@cli.group()
def prepare() -> None:
    """Turn raw data into memory-mapped training shards."""


def _register_prepare_commands() -> None:
    """Each modality's `prepare NAME` and its own commands (text: generate, recipe, select), as it registered
    them (``headstart.modality``)."""
    from .modality import modalities
    for modality in modalities():
        prepare.add_command(modality.prepare_command(), name=modality.name)
        for name, command in modality.commands.items():
            cli.add_command(command(), name=name)


def config_command(set_example: str):
    """A command that takes a YAML CONFIG and repeatable ``--set KEY=VALUE`` overrides of it."""
    def decorate(function):
        function = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                                help=f"Override a config value, e.g. {set_example}.")(function)
        function = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))(function)
        return cli.command()(function)
    return decorate


@config_command("--set train.lr=3e-4 (repeatable)")
@click.option("--resume", is_flag=True, help="Continue the run from its latest checkpoint.")
@click.option("--resume-from", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Continue from this checkpoint directory.")
def pretrain(config: Path, overrides: tuple[str, ...], resume: bool, resume_from: Path | None) -> None:
    """Pre-train a model as CONFIG (YAML) describes, on a folder from `headstart prepare text` (causal_lm,
    masked_lm, electra), `headstart prepare images` (simclr, mae, supervised), `headstart prepare audio` (best_rq)
    or `headstart prepare pairs` (clip, siglip).

    Outputs go to the config's run_dir: checkpoints/ (safetensors), metrics.jsonl, tensorboard/, config.yaml.
    SIGTERM or Ctrl-C saves a checkpoint and stops; --resume continues exactly where it stopped.
    Several processes: torchrun --nproc_per_node N -m headstart pretrain CONFIG (train.batch_size is per process).
    """
    from .engine.distributed import shutdown, world
    from .pretrain import pretrain as run_pretrain
    try:
        result = run_pretrain(config, list(overrides), resume=resume_from or resume)
        if world().is_main:
            _print_result(result)
    finally:
        shutdown()


def _print_result(result) -> None:
    click.echo(f"{'stopped' if result.interrupted else 'finished'} at step {result.step} "
               f"in {result.seconds:.0f} s")
    if result.final_eval:
        click.echo("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in result.final_eval.items()))
    click.echo(f"run directory:   {result.run_dir}")
    click.echo(f"last checkpoint: {result.last_checkpoint}")
    click.echo(f"best checkpoint: {result.best_checkpoint}")
    click.echo(f"metrics:         {result.run_dir / 'metrics.jsonl'} (TensorBoard: {result.run_dir / 'tensorboard'})")
    from .engine.energy import format_cost
    click.echo(format_cost(result.cost))


@config_command("--set task.budget=500 --set strategy.name=lora")
@click.option("--resume", is_flag=True, help="Continue the run from its latest checkpoint (after a stop, "
              "Ctrl-C or SIGTERM).")
def finetune(config: Path, overrides: tuple[str, ...], resume: bool) -> None:
    """Fine-tune a pre-trained checkpoint (or a random init) on a labeled task, as CONFIG (YAML) says.

    \b
    Strategies (strategy.name): full, linear_probe, freeze_bottom, llrd, gradual_unfreeze, lora.
    Writes checkpoints/, metrics.jsonl and results.json (val and test accuracy, macro-F1) to run_dir.
    Several processes: torchrun --nproc_per_node N -m headstart finetune CONFIG (train.batch_size is per process).
    """
    from .engine.distributed import shutdown, world
    from .finetune import finetune as run_finetune
    try:
        summary = run_finetune(config, list(overrides), resume=resume)
        if world().is_main:
            _print_finetune(summary)
    finally:
        shutdown()


def _print_finetune(summary: dict) -> None:
    for split in ("val", "test"):
        m = summary[split]
        if m is None:  # only test is optional; val is of the model it chose, optimistic, never a test score
            click.echo("test: none (no task.test), so no held-out score; val chose the model and overstates it")
            continue
        figures = ", ".join(f"{name} {m[key]:.4f}" for key, name in
                            (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("loss", "loss")) if key in m)
        if split == "val" and "protocol" in m:  # the lbfgs probe: cross-validated inside the budget
            figures += f" ({m['protocol']}, which chose the probe's regularisation)"
        elif split == "val" and "probe" not in summary:
            figures += " (validation, which chose the checkpoint)"
        click.echo(f"{split}: {figures}")
    click.echo(f"{summary['labels']} labels, {summary['strategy']} strategy, from {summary['init']}")
    click.echo(f"best checkpoint: {summary['best_checkpoint']}")
    from .engine.energy import format_cost
    click.echo(format_cost(summary.get("cost")))


@config_command("--set seeds=[0,1] --set budgets=[100,all]")
def compare(config: Path, overrides: tuple[str, ...]) -> None:
    """Prove the head start: pre-trained vs from scratch (and a TF-IDF baseline) on a labeled task,
    over label budgets and seeds, with probes, LogME and a self-contained report.

    Finished runs are kept in run_dir/runs/ and not redone, so an interrupted sweep resumes.
    """
    from .compare import compare as run_compare
    out = run_compare(config, list(overrides), command="headstart compare " + " ".join(sys.argv[2:]))
    arms = out["results"]["arms"]
    for budget in out["results"]["budgets"]:
        click.echo(f"{budget:>7} labels: " + "  ".join(
            f"{arm} {100 * sum(v[budget]) / len(v[budget]):.1f}%" for arm, v in arms.items()))
    click.echo(f"report: {out['report']['html']}  (also {out['report']['md'].name}, {out['report']['json'].name})")


@config_command("--set trials=20 --set fixed.train.steps=200")
def sweep(config: Path, overrides: tuple[str, ...]) -> None:
    """Search hyper-parameters (learning rate, batch size, any config key) of a finetune or pretrain
    config with Optuna, pruning trials that fall behind; CONFIG (YAML) names the base config and params.

    Writes to run_dir: trials/ (one run each), trials.json, trials.csv, report.html, report.md and
    best.yaml, the best config, which `headstart finetune` / `headstart pretrain` run as it is.
    Run it again to resume: finished trials are kept, an interrupted one runs again.
    """
    from .sweep import run_sweep
    from .sweep.report import table_lines
    out = run_sweep(config, list(overrides), command="headstart sweep " + " ".join(sys.argv[2:]))
    sweep_cfg = out["sweep"]
    for line in table_lines(sweep_cfg, out["rows"], out["best"]):
        click.echo(line)
    best, default = out["best"], out["default"]
    if best is None:
        click.echo("no trial completed")
    else:
        against = (f" (default, trial {default['number']}: {default['value']:.4f})"
                   if default and default["value"] is not None else "")
        click.echo(f"best: trial {best['number']}, {sweep_cfg.metric} {best['value']:.4f}{against}")
        click.echo(f"best config: {out['paths']['best']}  (headstart {sweep_cfg.kind} {out['paths']['best']})")
    click.echo(f"report: {out['paths']['html']}  (also {out['paths']['md'].name}, {out['paths']['csv'].name}, "
               f"{out['paths']['json'].name})")


@cli.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--train", "train_file", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labeled training file (TSV/CSV/JSONL or `<label> <text>` lines), or a labeled folder "
                   "from `headstart prepare images` (its train split).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "tsv", "csv", "jsonl", "label-first"]))
@click.option("--text-field", default="text", show_default=True)
@click.option("--label-field", default="label", show_default=True)
@click.option("--encoding", default="utf-8", show_default=True)
@click.option("--max-examples", default=2000, show_default=True, type=click.IntRange(min=2),
              help="Stratified subset of the training file to score on.")
def rank(checkpoints, train_file, fmt, text_field, label_field, encoding, max_examples) -> None:
    """Rank CHECKPOINTS for a labeled task by LogME on their frozen features (higher is better),
    before any fine-tuning."""
    from .rank import rank_checkpoints
    ranked = rank_checkpoints(list(checkpoints), train_file, fmt=fmt, text_field=text_field,
                              label_field=label_field, encoding=encoding, max_examples=max_examples)
    for place, (name, score) in enumerate(ranked, 1):
        click.echo(f"{place:>3}. LogME {score:+.4f}  {name}")


@cli.command()
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new directory for the exported model.")
@click.option("--format", "fmt", type=click.Choice(["hf", "onnx"]), default="hf", show_default=True,
              help="hf: a transformers directory; onnx: model.onnx with classifier.json (fine-tuned classifiers).")
def export(checkpoint: Path, out: Path, fmt: str) -> None:
    """Export CHECKPOINT (a pre-training run or checkpoints/step_*, or a fine-tuning run or its
    classifier/ folder) as a Hugging Face model directory, or a classifier as ONNX.

    \b
    causal LM -> GPT2LMHeadModel (modern-* rotary layout: LlamaForCausalLM, with qk_norm
    Qwen3ForCausalLM), masked LM (bert-classic-* layout) -> BertForMaskedLM,
    ViT -> ViTModel; classifiers -> GPT2/Llama/Qwen3ForSequenceClassification (pooling: last),
    BertForSequenceClassification (bert-classic-*, pooling: first), ViTForImageClassification
    (pool: cls); load them with transformers' Auto classes.  --format onnx: any classifier.
    """
    from .hf.export import export as export_model
    click.echo(f"exported to {export_model(checkpoint, out, fmt)}")


@cli.command(name="import")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new headstart run directory.")
def import_command(source: Path, out: Path) -> None:
    """Import a Hugging Face GPT-2, BERT, Llama, Qwen2 or Qwen3 model directory (safetensors) as a run.

    \b
    Then:  headstart finetune  with  init: OUT
           headstart prepare text corpus/ --tokenizer OUT/tokenizer.json --out data/c
           headstart pretrain  with  init: OUT   (continued pre-training)
    """
    from .hf import import_checkpoint
    click.echo(f"imported as {import_checkpoint(source, out)}")


@cli.command()
@click.option("--out", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where the demo writes its data and runs  [default: headstart-demo, headstart-demo-gpt, headstart-demo-images "
                   "or headstart-demo-audio]")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Pre-training steps (default: the demo's).")
@click.option("--images", is_flag=True, help="The image demo: SimCLR on scikit-learn's bundled digits.")
@click.option("--audio", is_flag=True, help="The audio demo: BEST-RQ on synthetic spoken words.")
@click.option("--gpt", is_flag=True, help="The text demo with a small GPT instead of word vectors.")
def demo(out: Path | None, steps: int | None, images: bool, audio: bool, gpt: bool) -> None:
    """The whole flow on built-in data: prepare, pre-train, evaluate, prove the head start.

    Text (default): Python's own documentation, skip-gram word vectors and a linear probe on them.
    --gpt: the same text with a small GPT.  --images: scikit-learn's digits, SimCLR on a small ResNet.
    --audio: synthetic spoken words, BEST-RQ on a small speech encoder.  Needs no network and no
    downloads; a few minutes on a 2-core laptop.
    """
    if images + audio + gpt > 1:
        raise HeadstartError("give one of --images, --audio or --gpt")
    from .modality import modality
    if audio or images:  # each modality's own demo, as it registered it
        name = "images" if images else "audio"
        modality(name).demo(out or Path(f"headstart-demo-{name}"), steps=steps)
    else:
        modality("text").demo(out, steps=steps, gpt=gpt)


def _register_audit_command() -> None:
    from .audit.cli import audit_command
    cli.add_command(audit_command, name="audit")


def _register_classifier_commands() -> None:
    from .classifier.cli import evaluate, predict
    cli.add_command(predict, name="predict")
    cli.add_command(evaluate, name="evaluate")


def main(argv=None) -> None:
    _register_prepare_commands()
    _register_audit_command()
    _register_classifier_commands()
    try:
        cli.main(args=argv, prog_name="headstart", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except HeadstartError as e:
        # One line, always: a file name or value with a newline in it is shown escaped.
        click.echo("error: " + str(e).replace("\r", "\\r").replace("\n", "\\n"), err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
