"""``headstart sweep``: hyper-parameter search (Optuna) over a finetune or pretrain config."""
from .run import run_sweep

__all__ = ["run_sweep"]
