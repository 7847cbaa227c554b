"""Load a text model that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..models import TextTransformer, TransformerConfig
from .tokenizer import load_tokenizer


def load_text_model(path, prefer: str = "best"):
    """Return ``(model, tokenizer, checkpoint_dir, state)`` for a run directory or checkpoint."""
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    kind = (state.get("config", {}).get("model") or {}).get("kind")
    if kind is not None:
        raise HeadstartError(f"{checkpoint}: not a text model (its state.json names a {kind} model; "
                             f"for an image model use load_image_model, or a prepared image folder as the task)")
    try:
        arch = TransformerConfig(**state["config"]["model"])
    except (KeyError, TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid model config ({str(e).splitlines()[0]})") from None
    model = TextTransformer(arch)
    load_model_weights(model, checkpoint)
    tokenizer_file = Path(checkpoint) / "tokenizer.json"
    if not tokenizer_file.exists():
        raise HeadstartError(f"{checkpoint}: no tokenizer.json beside the weights")
    tokenizer = load_tokenizer(tokenizer_file)
    if tokenizer.get_vocab_size() != arch.vocab_size:
        raise HeadstartError(f"{checkpoint}: tokenizer has {tokenizer.get_vocab_size()} tokens but the model "
                             f"expects {arch.vocab_size}")
    model.eval()
    return model, tokenizer, checkpoint, state
