"""Text classifiers for ``headstart predict`` / ``evaluate`` / ``load_classifier``: the saved tokenizer
and head settings, and texts read from files one line at a time (inputs larger than memory stream)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from ..classifier.io import ClassifierIO, InputItem, inference_config
from ..errors import HeadstartError
from ..models import TextTransformer, TransformerConfig
from ..models.word_vectors import WordVectorModel, WordVectorsConfig
from .finetune_task import TextBackbone
from .input_texts import FORMATS, read_texts
from .labeled import LabeledTexts
from .ngram_features import NGRAMS_FILE, NgramFeatures
from .readers import check_encoding, open_binary
from ..tokenizer import load_tokenizer
from .word_vector_task import WordVectorBackbone


class IO(ClassifierIO):
    def record(self, backbone, cfg) -> tuple[dict, dict[str, Path]]:
        word_vectors = isinstance(backbone, WordVectorBackbone)
        model = backbone.model.cfg.model_dump(mode="json")
        if not word_vectors:
            model = {"kind": "transformer", **model}
        max_length = cfg.task.max_length if word_vectors else backbone.max_length
        head = {"pooling": backbone.pooling, "feature_norm": word_vectors,
                **({"ngrams": NGRAMS_FILE} if backbone.ngrams is not None else {})}
        return ({"model": model, "head": head,
                 "inputs": {"tokenizer": "tokenizer.json", "max_length": max_length}},
                backbone.checkpoint_files(cfg.run_dir))

    def backbone(self, meta: dict, folder: Path):
        record = dict(meta["model"])
        tokenizer = load_tokenizer(folder / meta["inputs"]["tokenizer"])
        cfg = inference_config(folder, pooling=meta["head"]["pooling"], max_length=meta["inputs"]["max_length"])
        if record.get("kind") == "word_vectors":
            backbone = WordVectorBackbone(WordVectorModel(WordVectorsConfig(**record)), tokenizer, str(folder), cfg)
        else:
            record.pop("kind", None)
            backbone = TextBackbone(TextTransformer(TransformerConfig(**record)), tokenizer, str(folder), cfg)
        if meta["head"].get("ngrams"):  # the n-gram side's vectorizer; its weights are the sparse head's
            backbone.ngrams = NgramFeatures.load(folder / meta["head"]["ngrams"])
        return backbone

    def from_python(self, meta: dict, inputs: Sequence) -> Iterator[InputItem]:
        for i, text in enumerate(inputs):
            yield (InputItem(f"input {i}", text) if isinstance(text, str)
                   else InputItem(f"input {i}", problem=f"a text classifier takes strings, not {type(text).__name__}"))

    def from_sources(self, meta: dict, sources: Sequence[str], options: dict) -> Iterator[InputItem]:
        fmt, encoding = options.get("format", "auto"), options.get("encoding", "utf-8")
        if fmt not in FORMATS:
            raise HeadstartError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
        check_encoding(encoding)
        for source in sources:
            if source != "-":
                _check_text_file(Path(source))
        for source in sources:
            yield from read_texts(source, fmt, encoding, options.get("field", "text"),
                                  options.get("label_field", "label"), set(meta["labels"]))

    def length(self, example: str) -> int:
        return len(example)

    def data(self, examples: list, labels: Sequence[int]) -> LabeledTexts:
        return LabeledTexts(list(examples), list(labels), [], "inputs")


def _check_text_file(path: Path) -> None:
    """Refuse, before predicting anything, a path that is no file of text: an image or a sound file given
    to a text classifier would otherwise become rows of skipped 'lines'."""
    if not path.is_file():
        raise HeadstartError(f"{path}: {'a folder' if path.is_dir() else 'no such file'}; a text classifier reads "
                             f"files of texts (one per line, label-first, TSV, CSV, JSONL) or - (stdin)")
    with open_binary(path) as f:
        head = f.read(8192)
    if b"\0" in head:
        hint = " (UTF-16 text: convert it to UTF-8)" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise HeadstartError(f"{path}: binary data, not text{hint}; this classifier takes text (is it an image or "
                             f"a sound file?)")
