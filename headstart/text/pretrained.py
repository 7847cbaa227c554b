"""Load a text model that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..engine.checkpoint import load_model_weights, read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..models import TextTransformer, TransformerConfig
from ..models.word_vectors import WordVectorModel, WordVectorsConfig
from ..modality import Pretrained
from .plugin import TRANSFORMER_KIND, WORD_VECTORS_KIND
from .tokenizer import load_tokenizer


def text_model_kind(path, prefer: str = "best") -> str:
    """"transformer" or "word_vectors": which text model a run or checkpoint holds."""
    state = read_state(resolve_checkpoint(path, prefer))
    kind = (state.get("config", {}).get("model") or {}).get("kind")
    return WORD_VECTORS_KIND if kind == WORD_VECTORS_KIND else TRANSFORMER_KIND


def load_pretrained(checkpoint: Path, kind: str) -> Pretrained:
    """The registry's loader of text checkpoints (``headstart.modality.load_pretrained``)."""
    load = load_word_vectors if kind == WORD_VECTORS_KIND else load_text_model
    model, tokenizer, found, state = load(checkpoint)
    return Pretrained(model, found, state, kind, tokenizer)


def load_word_vectors(path, prefer: str = "best"):
    """Return ``(model, tokenizer, checkpoint_dir, state)`` of a skip-gram / CBOW run or checkpoint."""
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    try:
        arch = WordVectorsConfig(**state["config"]["model"])
    except (KeyError, TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid word-vector config ({str(e).splitlines()[0]})") from None
    model = WordVectorModel(arch)
    load_model_weights(model, checkpoint)
    return model.eval(), _tokenizer_of(checkpoint, arch.vocab_size), checkpoint, state


def _tokenizer_of(checkpoint: Path, vocab_size: int):
    tokenizer_file = Path(checkpoint) / "tokenizer.json"
    if not tokenizer_file.exists():
        raise HeadstartError(f"{checkpoint}: no tokenizer.json beside the weights")
    tokenizer = load_tokenizer(tokenizer_file)
    if tokenizer.get_vocab_size() != vocab_size:
        raise HeadstartError(f"{checkpoint}: tokenizer has {tokenizer.get_vocab_size()} tokens but the model "
                             f"expects {vocab_size}")
    return tokenizer


def load_text_model(path, prefer: str = "best"):
    """Return ``(model, tokenizer, checkpoint_dir, state)`` for a run directory or checkpoint."""
    checkpoint = resolve_checkpoint(path, prefer)
    state = read_state(checkpoint)
    record = dict(state.get("config", {}).get("model") or {})
    kind = record.pop("kind", None)  # none in checkpoints from before text recorded its kind
    if kind == WORD_VECTORS_KIND:
        raise HeadstartError(f"{checkpoint}: word vectors, not a transformer (fine-tune, compare and rank take "
                             f"it as it is; a transformer starts from it with model.embeddings_from)")
    if kind not in (None, TRANSFORMER_KIND):
        raise HeadstartError(f"{checkpoint}: not a text model (its state.json names a {kind} model; "
                             f"for an image model use load_image_model, or a prepared image folder as the task)")
    try:
        arch = TransformerConfig(**record)
    except (KeyError, TypeError, ValidationError) as e:
        raise HeadstartError(f"{checkpoint}/state.json: no valid model config ({str(e).splitlines()[0]})") from None
    model = TextTransformer(arch)
    load_model_weights(model, checkpoint)
    tokenizer = _tokenizer_of(checkpoint, arch.vocab_size)
    model.eval()
    return model, tokenizer, checkpoint, state
