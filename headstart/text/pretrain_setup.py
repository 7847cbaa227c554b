"""Text pre-training: the model, objective and token windows a config describes, for ``headstart pretrain``."""
from __future__ import annotations

import logging
from pathlib import Path

from ..config import PretrainConfig, resolve_model
from ..engine.distributed import world
from ..errors import HeadstartError
from ..models import TextTransformer
from ..objectives import CausalLM, Electra, MaskedLM
from ..modality import PretrainSetup
from .plugin import TRANSFORMER_KIND
from .pretrained import load_text_model
from .shards import TokenShards
from ..tokenizer import load_tokenizer
from .windows import TokenWindows

log = logging.getLogger("headstart")


def text_setup(cfg: PretrainConfig) -> PretrainSetup:
    train_shards = TokenShards(cfg.data.path, "train")
    val_shards = TokenShards(cfg.data.path, "val")
    model, objective = build_text_objective(cfg, train_shards.vocab_size, train_shards.special_tokens,
                                            train_shards.tokenizer_path)
    seq_len = cfg.data.seq_len or model.cfg.context_length
    window = seq_len + objective.sequence_offset
    here = world()  # under torchrun each process trains and validates on its slice of every global batch
    train_src = TokenWindows(train_shards, batch_size=cfg.train.batch_size, length=window, seed=cfg.train.seed,
                             tokens_per_window=seq_len, rank=here.rank, world_size=here.world_size, split="train")
    # A different seed for validation, and the same val batches at every evaluation.
    val_src = TokenWindows(val_shards, batch_size=cfg.train.batch_size, length=window, seed=cfg.train.seed + 1,
                           tokens_per_window=seq_len, rank=here.rank, world_size=here.world_size, split="val")

    run_config = cfg.record()
    run_config["model"] = {"kind": TRANSFORMER_KIND, **model.cfg.model_dump(mode="json")}
    run_config["data"]["tokenizer_sha256"] = train_shards.manifest["tokenizer"]["sha256"]
    run_config["task"] = "pretrain_text"
    fresh_start = None
    if cfg.embeddings_from is not None:
        # Recorded as given, beside the architecture (run_config["model"] stays a TransformerConfig and its kind, which
        # checkpoints are rebuilt from); a resume must name the same source, so the record stays true.
        run_config["embeddings_from"] = str(cfg.embeddings_from)

        def fresh_start() -> str:
            from .embeddings_from import seed_token_embeddings
            return seed_token_embeddings(model, cfg.embeddings_from, train_shards.tokenizer_path)
    arch = model.cfg
    summary = (f"{arch.n_layer} layers, {arch.n_head} heads, d_model {arch.d_model}, "
               f"{model.num_params() / 1e6:.2f} M parameters")
    if isinstance(objective, Electra):
        flops = objective.train_flops_per_token(seq_len)
        summary += f" (discriminator; generator d_model {objective.generator.cfg.d_model})"
    else:
        head_fraction = cfg.objective.mask_prob if cfg.objective.name == "masked_lm" else 1.0
        flops = model.train_flops_per_token(seq_len, head_fraction)
    return PretrainSetup(
        objective, train_src, val_src, run_config, flops_per_unit=flops,
        extra_files={"tokenizer.json": train_shards.tokenizer_path}, summary=summary,
        per_step=f"{cfg.train.batch_size * cfg.train.grad_accum * seq_len} tokens", fresh_start=fresh_start)


def build_text_objective(cfg: PretrainConfig, vocab_size: int, special: dict, tokenizer_path=None):
    """The model (new, or continued from ``cfg.init``) and objective a text pre-training config describes."""
    causal = cfg.objective.name == "causal_lm"
    if cfg.init is not None:
        model = _continued_model(cfg, tokenizer_path, causal)
    else:
        given = cfg.architecture.get("vocab_size")
        if given is not None and given != vocab_size:
            raise HeadstartError(f"model.vocab_size is {given} but the tokenizer of {cfg.data.path} has "
                                 f"{vocab_size} tokens; remove model.vocab_size to take it from the data")
        try:
            arch = resolve_model(cfg.architecture, vocab_size=vocab_size, causal=causal)
        except ValueError as e:
            raise HeadstartError(str(e)) from None
        model = TextTransformer(arch)
    if causal:
        return model, CausalLM(model)
    specials = [i for i in special.values() if i is not None]
    knobs = cfg.objective
    if knobs.name == "electra":
        # Continued from init, the loaded model becomes the discriminator; a fresh generator joins it.
        return model, Electra(model, mask_id=special["mask"], special_ids=specials, mask_prob=knobs.mask_prob,
                              generator_size=knobs.generator_size, disc_weight=knobs.disc_weight)
    return model, MaskedLM(model, mask_id=special["mask"], special_ids=specials, mask_prob=knobs.mask_prob)


def _continued_model(cfg: PretrainConfig, tokenizer_path, causal: bool) -> TextTransformer:
    """``cfg.init``'s model, after checking that the new data and objective fit it."""
    model, tokenizer, checkpoint, _ = load_text_model(cfg.init, prefer="best")
    # Compared as loaded (canonical JSON), not by file hash: prepare re-saves a reused tokenizer.json.
    if load_tokenizer(tokenizer_path).to_str() != tokenizer.to_str():
        raise HeadstartError(f"init {checkpoint} was trained with another tokenizer than {cfg.data.path}'s; "
                             f"prepare the data with --tokenizer {Path(checkpoint) / 'tokenizer.json'}")
    if model.cfg.causal != causal:
        raise HeadstartError(f"init {checkpoint} is a {'causal' if model.cfg.causal else 'bidirectional'} "
                             f"model; objective {cfg.objective.name} needs a "
                             f"{'causal' if causal else 'bidirectional'} one")
    log.info("continuing pre-training from %s", checkpoint)
    return model.train()
