"""Config files: validated at the door, every mistake reported as one line naming the key."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headstart.config import apply_overrides, load_pretrain_config, resolve_model
from headstart.errors import HeadstartError

GOOD = """
run_dir: runs/x
data: {path: data/x}
model: {preset: gpt-nano}
train: {steps: 100, batch_size: 12, lr: 1.0e-3}
"""


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_a_minimal_config_is_filled_in_from_the_preset_and_defaults(tmp_path):
    cfg = load_pretrain_config(write(tmp_path, GOOD))
    assert cfg.train.grad_accum == 1 and cfg.objective.name == "causal_lm"
    arch = resolve_model(cfg.model, vocab_size=65, causal=True)
    assert (arch.n_layer, arch.n_head, arch.d_model, arch.context_length) == (4, 4, 128, 64)


def test_set_overrides_nested_keys_with_yaml_values(tmp_path):
    cfg = load_pretrain_config(write(tmp_path, GOOD), ["train.lr=3e-4", "model.n_layer=2", "train.betas=[0.9, 0.99]"])
    assert cfg.train.lr == 3e-4 and cfg.model["n_layer"] == 2 and cfg.train.betas == (0.9, 0.99)


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", "train.batch_size: input should be greater than 0 (got 0)"),
    ("train.batchsize=12", "train.batchsize: unknown key (did you mean batch_size?)"),
    ("train.steps=many", "train.steps: input should be a valid integer"),
    ("trian.steps=5", "trian: unknown key (did you mean train?)"),
    ("model.n_head=3", "d_model (128) must be divisible by n_head (3)"),
    ("model.n_layers=3", "model.n_layers: unknown key (did you mean n_layer?)"),
    ("model.preset=gpt-huge", "unknown preset 'gpt-huge'"),
    ("data.seq_len=512", "data.seq_len (512) exceeds the model's context_length (64)"),
    ("train.min_lr=1", "min_lr (1.0) must not exceed lr (0.001)"),
    ("objective.name=diffusion", "objective.name: input should be 'causal_lm', 'masked_lm', 'electra', 'skipgram', "
                                 "'cbow', 'simclr', 'mae', 'supervised', 'best_rq', 'clip' or 'siglip'"),
])
def test_bad_values_give_one_line_naming_the_key(tmp_path, override, message):
    with pytest.raises(HeadstartError) as e:
        load_pretrain_config(write(tmp_path, GOOD), [override])
    text = str(e.value)
    assert message in text and "\n" not in text and text.startswith(str(tmp_path / "config.yaml"))


def test_missing_file_and_broken_yaml_name_the_file_and_line(tmp_path):
    with pytest.raises(HeadstartError, match="config file not found: .*nope.yaml"):
        load_pretrain_config(tmp_path / "nope.yaml")
    with pytest.raises(HeadstartError, match=r"config.yaml:3: not valid YAML"):
        load_pretrain_config(write(tmp_path, "run_dir: x\ntrain:\n  steps: 1: 2\n"))
    with pytest.raises(HeadstartError, match="data: required key is missing"):
        load_pretrain_config(write(tmp_path, "run_dir: x\ntrain: {steps: 1, batch_size: 1, lr: 1}\n"))


def test_set_needs_key_equals_value(tmp_path):
    with pytest.raises(HeadstartError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.lr"])


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(["steps", "batch_size", "lr", "warmup_steps", "grad_accum", "eval_every", "seed"]),
       value=st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5), st.none(),
                       st.lists(st.integers(), max_size=2)))
def test_any_value_is_accepted_or_rejected_with_one_line(tmp_path_factory, key, value):
    path = write(tmp_path_factory.mktemp("cfg"), GOOD)
    try:
        cfg = load_pretrain_config(path, [f"train.{key}={value!r}" if isinstance(value, str) else f"train.{key}={value}"])
    except HeadstartError as e:
        assert "\n" not in str(e) and "train" in str(e)
    else:
        assert cfg.train.steps > 0 and cfg.train.batch_size > 0
