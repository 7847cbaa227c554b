"""Every checkpoint names the kind of model it holds, and the registry loads any of them one way; text
checkpoints from before text wrote its kind still load and resume."""
from __future__ import annotations

import json

from cli_checks import edit_state, last_checkpoint
from test_pretrain_cli import prepared, run_cli, write_config  # noqa: F401  (fixture)

from headstart.modality import load_pretrained
from headstart.text.pretrained import load_text_model


def test_a_text_checkpoint_names_its_kind_and_one_from_before_kinds_still_loads_and_resumes(tmp_path, prepared):
    assert run_cli("pretrain", write_config(tmp_path, prepared, steps=3))[0] == 0
    checkpoint = last_checkpoint(tmp_path / "run-causal_lm")
    assert json.loads((checkpoint / "state.json").read_text())["config"]["model"]["kind"] == "transformer"

    edit_state(checkpoint, lambda state: state["config"]["model"].pop("kind"))  # as written before kinds
    model, tokenizer, _, state = load_text_model(checkpoint)
    assert "kind" not in state["config"]["model"] and model.cfg.causal
    loaded = load_pretrained(checkpoint)
    assert (loaded.kind, loaded.model.cfg, loaded.tokenizer.get_vocab_size()) == ("transformer", model.cfg,
                                                                                  tokenizer.get_vocab_size())
    code, out = run_cli("pretrain", write_config(tmp_path, prepared, steps=5), "--resume")
    assert code == 0, out
    assert last_checkpoint(tmp_path / "run-causal_lm").name == "step_000005"


def test_a_model_kind_no_modality_registered_is_one_line_naming_the_checkpoint(tmp_path, prepared):
    assert run_cli("pretrain", write_config(tmp_path, prepared, steps=3))[0] == 0
    checkpoint = last_checkpoint(tmp_path / "run-causal_lm")
    edit_state(checkpoint, lambda state: state["config"]["model"].update(kind="diffusion_unet"))
    try:
        load_pretrained(checkpoint)
    except Exception as error:  # noqa: BLE001  (the message is what is checked)
        message = str(error)
    assert message.startswith(f"{checkpoint}: state.json names a model kind headstart cannot load ('diffusion_unet'")
    assert "\n" not in message
