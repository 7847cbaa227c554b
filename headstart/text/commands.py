"""The text modality's own commands, ``headstart generate`` and ``headstart recipe`` (registered in plugin.py)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("generate")
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--prompt", default="", help="Text to continue; empty starts a new document.")
@click.option("--max-new-tokens", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.8, show_default=True, type=float, help="0 = greedy; a finite number >= 0.")
@click.option("--top-k", default=200, show_default=True, type=click.IntRange(min=0), help="0 = no limit.")
@click.option("--num-samples", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--unknown-chars", type=click.Choice(["error", "replace"]), default="error", show_default=True,
              help="A prompt character the tokenizer does not know: an error, or replaced by <unk> (with a warning).")
def generate_command(checkpoint: Path, prompt: str, max_new_tokens: int, temperature: float, top_k: int,
             num_samples: int, seed: int, unknown_chars: str) -> None:
    """Sample text from a causal-LM CHECKPOINT (a run directory or a checkpoints/step_* directory)."""
    from .generate import generate as run_generate
    for i, text in enumerate(run_generate(checkpoint, prompt, max_new_tokens=max_new_tokens,
                                          temperature=temperature, top_k=top_k or None,
                                          num_samples=num_samples, seed=seed, unknown_chars=unknown_chars)):
        if num_samples > 1:
            click.echo(f"--- sample {i + 1} ---")
        click.echo(text)


@click.command("recipe")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--time-budget", required=True, metavar="DURATION",
              help="Wall time you can give pre-training: 20m, 1.5h, or seconds.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("pretrain.yaml"),
              show_default=True, help="Where to write the pre-training config.")
def recipe_command(data: Path, time_budget: str, device: str, out: Path) -> None:
    """Write the pre-training config that transfers best for DATA (a `prepare text` folder) in the time you
    have, chosen from headstart's equal-wall-time measurements; prints why."""
    import yaml

    from .recipes import text_recipe
    config, reasons = text_recipe(data, time_budget, device)
    out.write_text("".join(f"# {line}\n" for line in reasons) + yaml.safe_dump(config, sort_keys=False))
    click.echo("\n".join(reasons) + f"\nwrote {out}; run it with: headstart pretrain {out}")
