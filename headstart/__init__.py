"""headstart: pre-train on unlabeled data, fine-tune on few labels, and prove the head start.

The Python API mirrors the CLI::

    import headstart
    headstart.prepare_text(["corpus/"], "data/corpus", tokenizer="bpe", vocab_size=8192)
    result = headstart.pretrain("config.yaml", overrides=["train.steps=500"])
    print(headstart.generate(result.run_dir, "Once upon a time"))
"""
from importlib import import_module

__version__ = "0.1.0"

# Imported on first use, so `headstart --help` does not wait for torch.
_API = {
    "prepare_text": "headstart.text.prepare",
    "pretrain": "headstart.pretrain",
    "generate": "headstart.text.generate",
    "finetune": "headstart.finetune",
    "compare": "headstart.compare",
    "run_demo": "headstart.demo",
    "load_text_model": "headstart.text.pretrained",
    "load_image_model": "headstart.vision.pretrained",
    "load_pretrain_config": "headstart.config",
    "PretrainConfig": "headstart.config",
    "TrainConfig": "headstart.engine.config",
    "HeadstartError": "headstart.errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'headstart' has no attribute {name!r}")
