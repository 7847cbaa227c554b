"""Self-supervised objectives.  Each is a small ``nn.Module``: ``objective(batch) -> ObjectiveOutput``.

An objective owns the model it trains as ``self.model`` (saved on its own as ``model.safetensors``);
any other parameters it holds (projection heads, say) are saved beside it.
"""
from .base import ObjectiveOutput
from .causal_lm import CausalLM
from .classification import Classification, pool
from .electra import Electra
from .masked_lm import MaskedLM, mask_tokens

__all__ = ["ObjectiveOutput", "CausalLM", "Classification", "pool", "Electra", "MaskedLM", "mask_tokens"]
