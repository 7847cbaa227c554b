"""Architecture settings of headstart's transformer, validated when a config is read.

One class for every size: named presets fill in the fields a user leaves out (see ``presets.py``).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


KIND = "transformer"  # the kind a text checkpoint's model record names


class TransformerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(gt=0)
    context_length: int = Field(gt=0, description="longest sequence the model accepts")
    n_layer: int = Field(gt=0)
    n_head: int = Field(gt=0)
    d_model: int = Field(gt=0)
    d_ff: Optional[int] = Field(default=None, gt=0, description="MLP width; default 4 x d_model")
    causal: bool = True
    positions: Literal["learned", "rope"] = "learned"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    # "gelu_tanh" is GPT-2's tanh approximation ("gelu_new" in transformers), kept for imported GPT-2s.
    activation: Literal["gelu", "gelu_tanh", "relu2", "swiglu"] = "gelu"
    qk_norm: bool = False
    # BERT's original layout (what transformers' BertModel implements): the norm after each residual
    # sum instead of before each sub-layer, a norm over the embeddings, and a dense + activation + norm
    # transform (with a vocabulary bias) before the masked-LM projection.  Pre-norm trains more stably
    # and is the default; the BERT layout exists so masked LMs round-trip through Hugging Face BERT.
    norm_position: Literal["pre", "post"] = "pre"
    embedding_norm: bool = False
    mlm_transform: bool = False
    norm_eps: Optional[float] = Field(default=None, gt=0, description="default 1e-5 (LayerNorm), 1e-6 (RMSNorm)")
    bias: bool = False
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    tie_embeddings: bool = True
    rope_base: float = Field(default=10000.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _record_kind(cls, data):
        """A checkpoint's model record names its kind beside these fields: such a record loads as it is."""
        if isinstance(data, dict) and data.get("kind") == KIND:
            data = {key: value for key, value in data.items() if key != "kind"}
        return data

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "TransformerConfig":
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.positions == "rope" and (self.d_model // self.n_head) % 2:
            raise ValueError("rotary positions need an even head dimension (d_model / n_head)")
        if self.mlm_transform and self.activation == "swiglu":
            raise ValueError("mlm_transform (BERT's head transform) takes gelu, gelu_tanh or relu2, not swiglu")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ff_width(self) -> int:
        return self.d_ff or 4 * self.d_model
