"""headstart: pre-train on unlabeled data, fine-tune on few labels, and prove the head start.

The Python API mirrors the CLI::

    import headstart
    headstart.prepare_text(["corpus/"], "data/corpus", tokenizer="bpe", vocab_size=8192)
    result = headstart.pretrain("config.yaml", overrides=["train.steps=500"])
    print(headstart.generate(result.run_dir, "Once upon a time"))

In groups, as the data flows:

- prepare: ``prepare_text``, ``prepare_images``, ``prepare_audio``, ``prepare_pairs``, ``select_text``
- audit a corpus: ``audit_text``, ``audit_images``, ``audit_audio``, ``write_audit_report``
- pre-train: ``pretrain``, ``load_pretrain_config``, ``PretrainConfig``, ``TrainConfig``, ``run_sweep``
- fine-tune and compare: ``finetune``, ``load_finetune_config``, ``FinetuneConfig``, ``compare``,
  ``load_compare_config``, ``CompareConfig``, ``rank_checkpoints``
- use a model: ``generate``, ``load_text_model``, ``load_image_model``, ``load_audio_model``
- use a fine-tuned classifier: ``load_classifier`` (``.predict``, ``.predict_proba``), ``predict_files``,
  ``evaluate_run``, ``export`` (Hugging Face or ONNX)
- Hugging Face: ``export_checkpoint``, ``import_checkpoint``
- ``run_demo``; ``HeadstartError``, the one-line error every user mistake raises
"""
import sys
from importlib import import_module
from types import ModuleType

__version__ = "0.1.0"

# Imported on first use, so `headstart --help` does not wait for torch.
_API = {
    "prepare_text": "headstart.text.prepare",
    "prepare_images": "headstart.vision.prepare",
    "prepare_audio": "headstart.audio.prepare",
    "prepare_pairs": "headstart.pairs.prepare",
    "select_text": "headstart.text.select",
    "audit_text": "headstart.text.audit",
    "audit_images": "headstart.vision.audit",
    "audit_audio": "headstart.audio.audit",
    "write_audit_report": "headstart.audit.report",
    "pretrain": "headstart.pretrain",
    "load_pretrain_config": "headstart.config",
    "PretrainConfig": "headstart.config",
    "TrainConfig": "headstart.engine.config",
    "run_sweep": "headstart.sweep",
    "finetune": "headstart.finetune",
    "load_finetune_config": "headstart.finetune",
    "FinetuneConfig": "headstart.finetune.config",
    "compare": "headstart.compare",
    "load_compare_config": "headstart.compare",
    "CompareConfig": "headstart.compare_config",
    "rank_checkpoints": "headstart.rank",
    "generate": "headstart.text.generate",
    "load_text_model": "headstart.text.pretrained",
    "load_image_model": "headstart.vision.pretrained",
    "load_audio_model": "headstart.audio.pretrained",
    "load_classifier": "headstart.classifier",
    "predict_files": "headstart.classifier.predict",
    "evaluate_run": "headstart.classifier.predict",
    "export": "headstart.hf.export",
    "export_checkpoint": "headstart.hf",
    "import_checkpoint": "headstart.hf",
    "run_demo": "headstart.text.demo",
    "HeadstartError": "headstart.errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'headstart' has no attribute {name!r}")


class _Package(ModuleType):
    """``pretrain``, ``finetune`` and ``compare`` are functions and submodules both.  Python binds a submodule
    to its package's attribute when the submodule is first imported, which would turn ``headstart.compare``
    into the module from then on ("'module' object is not callable" on the second call).  The API's function
    keeps the name: the submodule is always ``sys.modules["headstart.compare"]``."""

    def __setattr__(self, name, value):
        if name in _API and isinstance(value, ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
