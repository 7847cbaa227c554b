"""Turn a Hugging Face GPT-2, BERT, Llama, Qwen2 or Qwen3 directory into a headstart run directory.

The result (``OUT/checkpoints/step_000000``) is an ordinary headstart checkpoint: ``finetune`` and
``compare`` take it as ``init``, and ``pretrain`` continues pre-training from it (``init:``) on text
prepared with its tokenizer (``prepare text --tokenizer OUT/tokenizer.json``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors.torch import save_file
from tokenizers import Tokenizer

from ..engine.checkpoint import load_tensors, model_tensors, write_json_atomic
from ..errors import HeadstartError
from ..models import TextTransformer
from ..tokenizer import load_tokenizer, with_special_tokens
from . import bert, gpt2, llama

log = logging.getLogger(__name__)
# Qwen2 is Llama with query/key/value biases; Qwen3 is Llama with QK-norm (see llama.py).
MAPPINGS = {"gpt2": gpt2, "bert": bert, "llama": llama, "qwen2": llama, "qwen3": llama}
PICKLE_WEIGHTS = ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt.index")


def import_checkpoint(source, out) -> Path:
    """Import the Hugging Face model directory ``source`` as headstart run ``out``; returns the checkpoint."""
    source, out = Path(source), Path(out)
    config = _read_config(source)
    model_type = config.get("model_type")
    if model_type not in MAPPINGS:
        raise HeadstartError(f"{source / 'config.json'}: model_type {model_type!r} cannot be imported "
                             f"(supported: {', '.join(MAPPINGS)})")
    mapping = MAPPINGS[model_type]
    try:
        cfg = mapping.config_from_hf(config)
    except (KeyError, ValueError, ValidationError) as e:
        reason = f"missing key {e}" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise HeadstartError(f"{source / 'config.json'}: {reason}") from None
    hf_tensors = _read_weights(source)
    try:
        tensors = mapping.from_hf(hf_tensors, cfg)
    except KeyError as e:
        raise HeadstartError(f"{source}: the weights lack {e.args[0]!r}, which a {model_type} model has") from None
    tokenizer = _read_tokenizer(source)
    model = TextTransformer(cfg)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected:
        raise HeadstartError(f"{source}: weights do not fit the architecture of its config.json ({unexpected[:3]})")
    fresh = sorted(k for k in missing if k != "lm_head.weight" or not cfg.tie_embeddings)
    if fresh:  # a BertModel (encoder only) has no masked-LM head: it starts from fresh weights
        log.warning("%s has no %s; %s start from fresh weights", source, "masked-LM head" if model_type == "bert"
                    else "weights for some layers", ", ".join(fresh))
    model, tokenizer = _fit_vocabulary(model, tokenizer)
    return _write_run(out, model, tokenizer, source, model_type)


def _read_config(source: Path) -> dict:
    path = source / "config.json"
    if not path.is_file():
        raise HeadstartError(f"{source}: not a Hugging Face model directory (no config.json)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HeadstartError(f"{path}: not valid JSON ({e})") from None


def _read_weights(source: Path) -> dict[str, torch.Tensor]:
    single, index = source / "model.safetensors", source / "model.safetensors.index.json"
    if single.is_file():
        return load_tensors(single)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
            raise HeadstartError(f"{index}: not a safetensors index (needs a JSON weight_map; {e})") from None
        escaping = [s for s in shards if not isinstance(s, str) or Path(s).name != s]
        if escaping:  # shards live beside the index; a path elsewhere is refused, not followed
            raise HeadstartError(f"{index}: weight_map names {escaping[0]!r}, not a file in {source}")
        return {k: v for shard in shards for k, v in load_tensors(source / shard).items()}
    pickled = [name for name in PICKLE_WEIGHTS if (source / name).exists()]
    if pickled:
        raise HeadstartError(f"{source}: the weights are only in {pickled[0]}, a format that can run code when "
                             f"loaded, and headstart loads no pickle; convert them to model.safetensors first")
    raise HeadstartError(f"{source}: no model.safetensors (or model.safetensors.index.json)")


def _read_tokenizer(source: Path) -> Tokenizer:
    """tokenizer.json; else BERT's vocab.txt or GPT-2's vocab.json + merges.txt, built with tokenizers."""
    if (source / "tokenizer.json").is_file():
        return load_tokenizer(source / "tokenizer.json")
    from tokenizers.implementations import BertWordPieceTokenizer, ByteLevelBPETokenizer

    if (source / "vocab.txt").is_file():
        settings = _read_json_if_present(source / "tokenizer_config.json")
        built = BertWordPieceTokenizer(str(source / "vocab.txt"), lowercase=settings.get("do_lower_case", True))
    elif (source / "vocab.json").is_file() and (source / "merges.txt").is_file():
        built = ByteLevelBPETokenizer(str(source / "vocab.json"), str(source / "merges.txt"))
    else:
        raise HeadstartError(f"{source}: no tokenizer (tokenizer.json, vocab.txt, or vocab.json + merges.txt)")
    return with_special_tokens(Tokenizer.from_str(built.to_str()))


def _read_json_if_present(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HeadstartError(f"{path}: not valid JSON ({e})") from None


def _fit_vocabulary(model: TextTransformer, tokenizer: Tokenizer) -> tuple[TextTransformer, Tokenizer]:
    """Make the tokenizer and the embedding table the same size.

    headstart's objectives need a pad and a mask token; a GPT-2 tokenizer has neither, so they were
    added and get embedding rows set to the mean of the trained ones (as transformers'
    ``resize_token_embeddings`` does).  A table padded past the tokenizer (GPT-2's 50304 trick) gets
    placeholder tokens instead, so every id stays decodable.
    """
    have, need = model.cfg.vocab_size, tokenizer.get_vocab_size()
    if need < have:
        tokenizer.add_special_tokens([f"<|unused_{i}|>" for i in range(have - need)])
        return model, tokenizer
    if need == have:
        return model, tokenizer
    log.info("the tokenizer has %d tokens and the model %d: %d new embedding rows start at the mean row",
             need, have, need - have)
    old = {k: v for k, v in model.state_dict().items()}
    bigger = TextTransformer(model.cfg.model_copy(update={"vocab_size": need}))
    mean = old["tok_emb.weight"].mean(0, keepdim=True)
    old["tok_emb.weight"] = torch.cat([old["tok_emb.weight"], mean.expand(need - have, -1)])
    if not model.cfg.tie_embeddings:
        old["lm_head.weight"] = torch.cat([old["lm_head.weight"], old["lm_head.weight"].mean(0, keepdim=True)
                                           .expand(need - have, -1)])
    else:
        old["lm_head.weight"] = old["tok_emb.weight"]
    if "lm_head.bias" in old:
        old["lm_head.bias"] = torch.cat([old["lm_head.bias"], old["lm_head.bias"].mean().expand(need - have)])
    bigger.load_state_dict(old)
    return bigger, tokenizer


def _write_run(out: Path, model: TextTransformer, tokenizer: Tokenizer, source: Path, model_type: str) -> Path:
    checkpoint = out / "checkpoints" / "step_000000"
    if checkpoint.exists():
        raise HeadstartError(f"{out}: already holds an imported checkpoint; choose a new --out directory")
    checkpoint.mkdir(parents=True)
    save_file(model_tensors(model), str(checkpoint / "model.safetensors"))
    tokenizer.save(str(checkpoint / "tokenizer.json"))
    tokenizer.save(str(out / "tokenizer.json"))  # what `prepare text --tokenizer` reuses
    # state.json last, listing the files before it: what makes a step directory a complete checkpoint
    files = {name: (checkpoint / name).stat().st_size for name in ("model.safetensors", "tokenizer.json")}
    state = {"step": 0, "files": files, "config": {"model": model.cfg.model_dump(mode="json"),
                                   "imported": {"from": str(source.resolve()), "model_type": model_type}}}
    write_json_atomic(checkpoint / "state.json", state)
    log.info("imported %s (%s, %.1f M parameters) as %s", source, model_type, model.num_params() / 1e6, checkpoint)
    return checkpoint
