"""Fine-tuning: a task head on a pre-trained backbone, with the strategies practitioners use."""
from .config import FinetuneConfig
from .run import finetune, load_finetune_config
from .strategies import StrategyConfig, apply_strategy

__all__ = ["FinetuneConfig", "StrategyConfig", "apply_strategy", "finetune", "load_finetune_config"]
