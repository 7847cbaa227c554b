"""A text transformer: GPT-style when ``causal`` (next-token LM), BERT-style otherwise (masked LM).

The model maps token ids to hidden states and hidden states to vocabulary logits; losses live in
``headstart.objectives`` and task heads in fine-tuning code.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..kernels import Linear
from .blocks import TransformerStack, activate, init_weights, make_norm
from .config import TransformerConfig


class TextTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model) if cfg.positions == "learned" else None
        self.emb_norm = (make_norm(cfg.norm, cfg.d_model, cfg.bias, cfg.norm_eps)
                         if cfg.embedding_norm else None)
        self.drop = nn.Dropout(cfg.dropout)
        self.stack = TransformerStack(cfg)
        self.lm_transform = LMTransform(cfg) if cfg.mlm_transform else None
        self.lm_head = Linear(cfg.d_model, cfg.vocab_size, bias=cfg.mlm_transform)
        init_weights(self, cfg.n_layer)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, d_model) embeddings, before dropout and the blocks.

        Separate so that another network can read through these embeddings (ELECTRA's generator).
        """
        t = tokens.shape[1]
        if t > self.cfg.context_length:
            raise ValueError(f"sequence of {t} tokens exceeds the model's context of {self.cfg.context_length}")
        x = self.tok_emb(tokens)
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[:t]
        if self.emb_norm is not None:
            x = self.emb_norm(x)
        return x

    def hidden_states(self, tokens: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) token ids -> (B, T, d_model) final hidden states."""
        return self.stack(self.drop(self.embed(tokens)), padding_mask)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., d_model) hidden states -> (..., vocab) logits."""
        if self.lm_transform is not None:
            hidden = self.lm_transform(hidden)
        return self.lm_head(hidden)

    def forward(self, tokens: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T) token ids -> (B, T, vocab) logits."""
        return self.logits(self.hidden_states(tokens, padding_mask))

    def layers(self) -> list[nn.Module]:
        """Bottom-to-top groups for layer-wise fine-tuning: embeddings, each block, the final norm."""
        embeddings = nn.ModuleList([m for m in (self.tok_emb, self.pos_emb, self.emb_norm) if m is not None])
        return [embeddings, *self.stack.blocks, self.stack.norm]

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; position embeddings excluded by default (they cost no matmul FLOPs)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.pos_emb is not None:
            n -= self.pos_emb.weight.numel()
        return n

    def train_flops_per_token(self, seq_len: int, head_fraction: float = 1.0) -> float:
        """Forward + backward FLOPs per token (PaLM appendix B, as nanoGPT): 6N + 12 L H Q T.

        ``head_fraction`` is the share of positions projected to the vocabulary: 1 for causal LM, the
        mask rate for masked LM (which projects only the chosen positions).
        """
        c = self.cfg
        head = c.vocab_size * c.d_model
        return (6 * (self.num_params() - head * (1 - head_fraction))
                + 12 * c.n_layer * c.n_head * c.head_dim * seq_len)


class LMTransform(nn.Module):
    """BERT's prediction-head transform: dense, activation, norm, before the vocabulary projection."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.dense = Linear(cfg.d_model, cfg.d_model)
        self.activation = cfg.activation
        self.norm = make_norm(cfg.norm, cfg.d_model, True, cfg.norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(activate(self.dense(hidden), self.activation))
