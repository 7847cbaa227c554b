"""The training engine.  It never imports a modality (text, vision, audio): they plug in through
``BatchSource`` and objectives."""
from .checkpoint import Checkpointer
from .config import TrainConfig
from .data import BatchSource
from .trainer import Trainer, TrainResult

__all__ = ["BatchSource", "Checkpointer", "TrainConfig", "Trainer", "TrainResult"]
