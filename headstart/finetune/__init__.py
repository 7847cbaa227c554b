"""Fine-tuning: a task head on a pre-trained backbone, with the strategies practitioners use."""
# Loaded on first use (PEP 562): the modules that need only fine-tuning's config (a classifier rebuilding
# its backbone, say) must not import the fine-tuning run, which imports them back.
from ..lazy_api import lazy_getattr

_API = {"FinetuneConfig": ".config", "StrategyConfig": ".strategies", "apply_strategy": ".strategies",
        "finetune": ".run", "load_finetune_config": ".run"}
__all__ = sorted(_API)

__getattr__ = lazy_getattr(__name__, _API)
