"""Load a text model that ``headstart pretrain`` saved: config from state.json, weights from safetensors."""
from __future__ import annotations

from pathlib import Path

from ..engine.checkpoint import read_state, resolve_checkpoint
from ..errors import HeadstartError
from ..models import TextTransformer, TransformerConfig
from ..models.word_vectors import WordVectorModel, WordVectorsConfig
from ..modality import Pretrained
from ..modality.checkpoints import rebuild_model, without_kind
from .plugin import TRANSFORMER_KIND, WORD_VECTORS_KIND
from ..tokenizer import load_tokenizer


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
    model, checkpoint, state = rebuild_model(
        path, prefer, kinds=(WORD_VECTORS_KIND,), config_name="word-vector",
        build=lambda record: WordVectorModel(WordVectorsConfig(**record)),
        refusal=lambda kind: f"not word vectors (its state.json names a {kind or TRANSFORMER_KIND} model)")
    return model, _tokenizer_of(checkpoint, model.cfg.vocab_size), checkpoint, state


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
    def refusal(kind):
        if kind == WORD_VECTORS_KIND:
            return ("word vectors, not a transformer (fine-tune, compare and rank take it as it is; a transformer "
                    "starts from it with model.embeddings_from)")
        return (f"not a text model (its state.json names a {kind} model; for an image model use load_image_model, "
                f"or a prepared image folder as the task)")

    # No kind: a checkpoint from before text recorded its kind.
    model, checkpoint, state = rebuild_model(
        path, prefer, kinds=(None, TRANSFORMER_KIND), refusal=refusal,
        build=lambda record: TextTransformer(TransformerConfig(**without_kind(record))))
    return model, _tokenizer_of(checkpoint, model.cfg.vocab_size), checkpoint, state
