"""Fine-tuning: a task head on a pre-trained backbone, with the strategies practitioners use."""
# Loaded on first use (PEP 562): the modules that need only fine-tuning's config (a classifier rebuilding
# its backbone, say) must not import the fine-tuning run, which imports them back.
from importlib import import_module

_API = {"FinetuneConfig": ".config", "StrategyConfig": ".strategies", "apply_strategy": ".strategies",
        "finetune": ".run", "load_finetune_config": ".run"}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_API[name], __name__), name)
