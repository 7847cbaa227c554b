"""The low layer every modality plugs into: the contracts (what a modality hands to pre-training and to
fine-tuning) and the registry the core looks modalities up in.  It imports no modality."""
from .checkpoints import Pretrained, load_pretrained
from .objective import Objective, ObjectiveSettings
from .registry import (Modality, checkpoint_kind, find, lazy, lazy_object, modalities, modality, objective,
                       objective_names, of_checkpoint_kind, of_format, of_objective, prepared_format,
                       prepared_modality, register, task_of_files)
from .setup import PretrainSetup
from .task import LabeledBatches, TaskBackbone, TaskData, TaskModality, with_dropout

__all__ = ["LabeledBatches", "Modality", "Objective", "ObjectiveSettings", "Pretrained", "PretrainSetup",
           "TaskBackbone", "TaskData", "TaskModality", "checkpoint_kind", "find", "lazy", "lazy_object",
           "load_pretrained", "modalities", "modality", "objective", "objective_names", "of_checkpoint_kind",
           "of_format", "of_objective", "prepared_format", "prepared_modality", "register", "task_of_files",
           "with_dropout"]
