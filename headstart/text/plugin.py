"""The text modality as headstart's core sees it: registered here, in one place (``headstart.modality``).

Only names and settings are defined here; the code behind them is imported when first used.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..modality import Modality, Objective, ObjectiveSettings, lazy, lazy_object, register
from ..models.config import KIND as TRANSFORMER

MANIFEST_FORMAT = "headstart.text_shards"  # what `headstart prepare text` writes (shards.py reads it)
TRANSFORMER_KIND = TRANSFORMER  # the model record's kind in a text transformer's checkpoint
WORD_VECTORS_KIND = "word_vectors"
MASK_PROB = Field(default=0.15, gt=0, lt=1, description="fraction of tokens chosen for masking")


class CausalLM(ObjectiveSettings):
    name: Literal["causal_lm"] = "causal_lm"
    # Accepted (and unused) as it always was, so text configs and earlier runs' records read the same.
    mask_prob: float = MASK_PROB


class MaskedLM(ObjectiveSettings):
    name: Literal["masked_lm"] = "masked_lm"
    mask_prob: float = MASK_PROB


class Electra(ObjectiveSettings):
    """The official ELECTRA code's defaults (configure_pretraining.py)."""

    name: Literal["electra"] = "electra"
    mask_prob: float = MASK_PROB
    generator_size: float = Field(default=0.25, gt=0, le=1, description="the generator's width as a fraction of "
                                  "the discriminator's, in whole heads (at least one), at the same depth")
    disc_weight: float = Field(default=50.0, gt=0, description="weight of the discriminator's loss beside the "
                               "generator's masked-LM loss")


class WordVectorSettings(ObjectiveSettings):
    """word2vec's window and negatives; sample 1e-4 rather than gensim's 1e-3: a corpus of millions of words
    has more frequent words to thin out (measured on IMDb in BENCHMARKS.md)."""

    window: int = Field(default=5, gt=0, description="words on each side that count as context (word2vec's "
                        "window; each pass draws a shorter one per word)")
    negative: int = Field(default=5, gt=0, description="noise words per pair (negative sampling)")
    sample: float = Field(default=1e-4, ge=0, lt=1, description="frequent words are thinned out above this "
                          "frequency (word2vec's sample; 0 = off)")


class SkipGram(WordVectorSettings):
    name: Literal["skipgram"] = "skipgram"


class CBOW(WordVectorSettings):
    name: Literal["cbow"] = "cbow"


# Word vectors are a bag-of-embeddings model that gensim trains (text/word_vectors.py), not the engine.
train_word_vectors = lazy("headstart.text.word_vectors:pretrain_word_vectors")

MODALITY = register(Modality(
    name="text",
    formats=(MANIFEST_FORMAT,),
    objectives=(Objective(CausalLM, default_preset="gpt-nano"), Objective(MaskedLM, default_preset="gpt-nano"),
                # ELECTRA's discriminator is BERT's encoder: BERT's layout exports to transformers.
                Objective(Electra, default_preset="bert-classic-nano"),
                Objective(SkipGram, own_trainer=train_word_vectors), Objective(CBOW, own_trainer=train_word_vectors)),
    pretrain_setup=lazy("headstart.text.pretrain_setup:text_setup"),
    check_config=lazy("headstart.text.config_checks:check_text"),
    prepare_command=lazy_object("headstart.text.prepare_cli:text_command"),
    checkpoint_kinds=(TRANSFORMER_KIND, WORD_VECTORS_KIND),
    unnamed_kind=TRANSFORMER_KIND,  # text checkpoints written before model records named their kind
    load_checkpoint=lazy("headstart.text.pretrained:load_pretrained"),
    task=lazy("headstart.text.finetune_task:TextTask"),
    reads_task_files=True,
    classifier_io=lazy("headstart.text.classifier_io:IO"),
    demo=lazy("headstart.text.demo:run_text_demo"),  # `headstart demo` (and --gpt)
    audit=lazy("headstart.text.audit_pipeline:audit"),
    documents=lazy("headstart.text.documents:text_documents"),
    commands={"generate": lazy_object("headstart.text.commands:generate_command"),
              "recipe": lazy_object("headstart.text.commands:recipe_command"),
              "select": lazy_object("headstart.text.select_cli:select_command")},
))
