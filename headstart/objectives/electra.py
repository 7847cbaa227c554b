"""ELECTRA replaced-token detection (Clark et al. 2020).

A small generator, trained as a masked LM, fills the masked positions with tokens sampled from its
softmax; the discriminator tells, at every position, whether the token is the original or a
replacement.  Every ordinary position trains the discriminator, not only the 15% that were masked.
The discriminator is ``self.model``: the backbone that is saved, fine-tuned and exported.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import draws
from ..kernels import Linear
from ..models.blocks import TransformerStack, init_weights
from ..models.config import TransformerConfig
from .base import ObjectiveOutput
from .masked_lm import IGNORE, mask_tokens, ordinary_ids


def generator_config(cfg: TransformerConfig, size: float) -> TransformerConfig:
    """The discriminator's architecture at ``size`` of its width, counted in whole heads of its head width
    (at least one), at full depth: the official code's generator_hidden_size (0.25 of BERT-Base's 12
    heads is 3 heads of 64, ELECTRA-Base's 1/3 generator 4)."""
    n_head = max(1, round(size * cfg.n_head))
    width = n_head * cfg.head_dim
    d_ff = None if cfg.d_ff is None else max(1, round(cfg.d_ff * width / cfg.d_model))
    # It reads the discriminator's embeddings (normalised there) and scores through its LM head.
    return TransformerConfig(**{**cfg.model_dump(), "n_head": n_head, "d_model": width, "d_ff": d_ff,
                                "causal": False, "embedding_norm": False, "mlm_transform": False})


class Generator(nn.Module):
    """A narrower transformer with no embedding table of its own.

    Its input is the discriminator's embeddings of the masked tokens, projected down to its width; its
    output is projected back up, for the discriminator's LM head (tied to those embeddings) to score.
    That is ELECTRA's sharing of embeddings between a generator and a wider discriminator.
    """

    def __init__(self, cfg: TransformerConfig, embedding_width: int):
        super().__init__()
        self.cfg = cfg
        narrower = cfg.d_model != embedding_width
        self.drop = nn.Dropout(cfg.dropout)
        self.project_in = Linear(embedding_width, cfg.d_model, bias=cfg.bias) if narrower else nn.Identity()
        self.stack = TransformerStack(cfg)
        self.project_out = Linear(cfg.d_model, embedding_width, bias=cfg.bias) if narrower else nn.Identity()
        init_weights(self, cfg.n_layer)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, T, embedding width) -> (B, T, embedding width)."""
        return self.project_out(self.stack(self.project_in(self.drop(embeddings))))


def sample_replacements(logits: torch.Tensor, candidates: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """One token per row of ``logits`` (N, vocab), drawn from the softmax over ``candidates`` only, so a
    special token (separator, padding, [mask]) is never written into the discriminator's input.

    Inverse-CDF sampling with one uniform draw per row (N,), not ``torch.multinomial``: the draw for a
    position is then the engine's per-example draw, the same however the batch is split over processes."""
    cdf = torch.softmax(logits[:, candidates].float(), dim=-1).cumsum(-1)
    picked = torch.searchsorted(cdf, (uniform.float() * cdf[:, -1]).unsqueeze(1)).squeeze(1)
    return candidates[picked.clamp(max=len(candidates) - 1)]


class Electra(nn.Module):
    """Batch ``{"tokens": (B, T)}``, as MaskedLM's; masks and samples with the global torch RNG (saved
    and restored on resume).

    Loss = generator MLM loss + ``disc_weight`` x discriminator binary cross-entropy over every position
    that holds no special token.  No gradient flows from the discriminator through the sampling.
    """

    sequence_offset = 0

    def __init__(self, model: nn.Module, *, mask_id: int, special_ids: Iterable[int], mask_prob: float = 0.15,
                 generator_size: float = 0.25, disc_weight: float = 50.0):
        super().__init__()
        if model.cfg.causal:
            raise ValueError("ELECTRA's discriminator reads the whole sequence: give a bidirectional model")
        self.model = model
        self.mask_id, self.mask_prob, self.disc_weight = mask_id, mask_prob, disc_weight
        width = model.cfg.d_model
        self.generator = Generator(generator_config(model.cfg, generator_size), width)
        # ELECTRA's discriminator head: dense + GELU + one logit per token.  PyTorch's fan-in init, not
        # N(0, 0.02): the two agree at BERT-Base's width, and at CPU widths (d_model 32-128) 0.02 left
        # the head so quiet that detection started hundreds of steps later in our tiny runs.
        self.disc_head = nn.Sequential(Linear(width, width), nn.GELU(), Linear(width, 1))
        self.register_buffer("replacement_ids", ordinary_ids(model.cfg.vocab_size, special_ids), persistent=False)
        self.register_buffer("special_id_tensor", torch.tensor(sorted(set(special_ids))), persistent=False)

    def forward(self, batch: dict) -> ObjectiveOutput:
        tokens = batch["tokens"]
        masked, targets = mask_tokens(tokens, mask_id=self.mask_id, special_ids=self.special_id_tensor,
                                      replacement_ids=self.replacement_ids, prob=self.mask_prob)
        chosen = targets != IGNORE
        # Counts clamped at 1, not branched on: a batch with nothing chosen gives 0, not NaN, with no sync.
        # Global counts (``draws.global_count``): the processes' losses average to the one-process loss.
        n_chosen = draws.global_count(chosen.sum()).clamp(min=1)
        # As MaskedLM, only the chosen positions are projected to the vocabulary.
        gen_logits = self.model.logits(self.generator(self.model.embed(masked))[chosen]).float()
        gen_loss = F.cross_entropy(gen_logits, targets[chosen], reduction="sum") / n_chosen
        gen_correct = (gen_logits.argmax(-1) == targets[chosen]).sum()

        corrupted = tokens.clone()
        corrupted[chosen] = sample_replacements(gen_logits.detach(), self.replacement_ids,
                                                draws.rand(*tokens.shape, device=tokens.device)[chosen])
        # Compared with the original, not with "was chosen": a sample that equals the original is
        # original (the paper's labelling), so the discriminator is never asked to guess the impossible.
        replaced = corrupted != tokens
        scored = ~torch.isin(tokens, self.special_id_tensor)
        n_scored = draws.global_count(scored.sum()).clamp(min=1)
        disc_logits = self.disc_head(self.model.hidden_states(corrupted)).squeeze(-1)[scored].float()
        labels = replaced[scored].float()
        disc_loss = F.binary_cross_entropy_with_logits(disc_logits, labels, reduction="sum") / n_scored
        disc_correct = ((disc_logits > 0).float() == labels).sum()

        loss = gen_loss + self.disc_weight * disc_loss
        metrics = {"loss": loss, "generator_loss": gen_loss, "generator_accuracy": gen_correct / n_chosen,
                   "discriminator_loss": disc_loss, "discriminator_accuracy": disc_correct / n_scored,
                   "replaced_share": labels.sum() / n_scored}
        return ObjectiveOutput(loss, {k: v.detach() for k, v in metrics.items()})

    def train_flops_per_token(self, seq_len: int) -> float:
        """Forward + backward FLOPs per token of both networks (6N + attention, as TextTransformer's).

        The discriminator's vocabulary projection scores only the masked share (for the generator); the
        generator and the discriminator head run at every position.
        """
        own = sum(p.numel() for name, p in self.named_parameters() if not name.startswith("model."))
        g = self.generator.cfg
        return (self.model.train_flops_per_token(seq_len, head_fraction=self.mask_prob)
                + 6 * own + 12 * g.n_layer * g.n_head * g.head_dim * seq_len)
