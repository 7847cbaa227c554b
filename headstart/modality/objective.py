"""An objective as a modality registers it: its name, its typed settings and the model it trains by default."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from pydantic import BaseModel, ConfigDict


class ObjectiveSettings(BaseModel):
    """The ``objective`` section of a pre-training config for one objective: ``name`` plus that objective's
    knobs, with their defaults.  A subclass declares ``name: Literal["simclr"] = "simclr"`` and its knobs;
    a key it does not declare is an error (a knob of another objective included)."""

    model_config = ConfigDict(extra="forbid")
    name: str

    def check(self) -> None:
        """Checks across knobs (raise ValueError naming ``objective.KEY``); each knob's range is its Field's."""

    def record(self) -> dict:
        """The name and this objective's knobs, as a run records them (config.yaml, state.json)."""
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Objective:
    settings: type[ObjectiveSettings]
    default_preset: Optional[str] = None  # the model it trains when the config names none
    # An objective the engine does not train (skip-gram and CBOW run in gensim): (config, resume) -> result.
    own_trainer: Optional[Callable[[Any, Any], Any]] = None

    @property
    def name(self) -> str:
        return self.settings.model_fields["name"].default
