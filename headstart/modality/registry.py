"""The modalities headstart knows, looked up here so that the core (pretrain, finetune, compare, rank, the
CLI, export) never imports one.

Each modality folder registers itself in one module, ``headstart/<folder>/plugin.py``: its manifest
formats, objectives, pre-training setup, task, checkpoint kinds and commands.  The built-in ones are
named in ``BUILTIN`` and imported on first need, one at a time and in order (as entry points would be), so
a lookup that text answers imports no image or audio code.  Another package adds a modality by calling
``register`` (or by an entry point in the ``headstart.modalities`` group naming a module that does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ..errors import HeadstartError
from ..output_folder import read_format
from .objective import Objective
from .setup import PretrainSetup
from .task import TaskModality

BUILTIN = ("headstart.text.plugin", "headstart.vision.plugin", "headstart.audio.plugin", "headstart.pairs.plugin")
ENTRY_POINT_GROUP = "headstart.modalities"


def lazy(target: str) -> Callable:
    """``"package.module:function"`` as a function that imports its module when first called, so that
    registering a modality costs no import of its code."""
    module, _, name = target.partition(":")

    def call(*args, **kwargs):
        return getattr(import_module(module), name)(*args, **kwargs)
    call.__qualname__ = call.__name__ = name
    return call


def lazy_object(target: str) -> Callable[[], Any]:
    """``"package.module:name"`` as a function of no arguments that imports the module and returns the
    object (a click command, say) itself."""
    module, _, name = target.partition(":")
    return lambda: getattr(import_module(module), name)


@dataclass(frozen=True)
class Modality:
    name: str  # as configs, messages and `headstart prepare NAME` say it: "text", "images", ...
    formats: tuple[str, ...]  # the "format" of the manifest.json its prepare writes
    objectives: tuple[Objective, ...]
    pretrain_setup: Callable[[Any], PretrainSetup]  # (PretrainConfig) -> model, objective and batches
    prepare_command: Callable[[], Any]  # -> the click command `headstart prepare NAME`
    checkpoint_kinds: tuple[str, ...] = ()  # the "kind" of the model record its checkpoints hold
    # The kind of a model record that names none: checkpoints from before kinds were recorded.
    unnamed_kind: Optional[str] = None
    # (checkpoint folder, kind) -> Pretrained: the one loader of its checkpoints (modality.checkpoints)
    load_checkpoint: Optional[Callable[[Path, str], Any]] = None
    # (PretrainConfig) -> None: the modality's checks of a config as it is read (ValueError naming the key),
    # and its defaults filled in (e.g. the objective's default model)
    check_config: Optional[Callable[[Any], None]] = None
    takes_monitor: bool = False  # its pre-training takes the config's monitor section (the online kNN probe)
    task: Optional[Callable[[], TaskModality]] = None  # fine-tuning, compare and rank on its labeled data
    reads_task_files: bool = False  # its labeled data is a file (not a prepared folder): the task of a file
    classifier_io: Optional[Callable[[], Any]] = None  # -> ClassifierIO: save, reload and feed classifiers
    commands: dict[str, Callable[[], Any]] = field(default_factory=dict)  # more CLI commands: name -> command
    demo: Optional[Callable[..., Any]] = None  # (out, steps=) -> None: `headstart demo --NAME`
    # `headstart audit`: (inputs, options) -> the audit's dict (options: headstart.audit.cli.AuditOptions)
    audit: Optional[Callable[..., dict]] = None
    raw_suffixes: tuple[str, ...] = ()  # raw files of this modality, for `audit --kind auto` (".wav")
    # (inputs, **reading) -> iterator of documents with .name and .text: what the contamination check reads
    documents: Optional[Callable[..., Any]] = None
    # What `compare` adds when the pre-trained checkpoint is one of this modality's: (checkpoint, context) -> dict
    compare_studies: Optional[Callable[..., dict]] = None
    uses: tuple[str, ...] = ()  # modalities whose code it builds on (pairs: the text and image towers)

    def objective(self, name: str) -> Optional[Objective]:
        return next((o for o in self.objectives if o.name == name), None)

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]


_registered: dict[str, Modality] = {}
_unloaded: list[str] = list(BUILTIN)
_entry_points_read = False


def register(modality: Modality) -> Modality:
    """Make ``modality`` known; a second modality of the same name, format or objective is an error."""
    for other in _registered.values():
        if other.name == modality.name and other is not modality:
            raise HeadstartError(f"modality {modality.name!r} is registered twice")
        clash = ((set(other.formats) & set(modality.formats))
                 | (set(other.objective_names) & set(modality.objective_names)))
        if clash and other.name != modality.name:
            raise HeadstartError(f"modality {modality.name!r}: {', '.join(sorted(clash))} already belongs to "
                                 f"{other.name!r}")
    _registered[modality.name] = modality
    return modality


def _each() -> Iterator[Modality]:
    """The registered modalities, importing the next built-in (then the entry points) only when those so
    far did not answer."""
    global _entry_points_read
    yielded: set[str] = set()

    def fresh() -> list[Modality]:
        new = [m for name, m in list(_registered.items()) if name not in yielded]
        yielded.update(m.name for m in new)
        return new
    yield from fresh()
    while _unloaded:
        import_module(_unloaded.pop(0))
        yield from fresh()
    if not _entry_points_read:
        _entry_points_read = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            import_module(point.value.partition(":")[0])
    yield from fresh()


def find(predicate: Callable[[Modality], bool]) -> Optional[Modality]:
    return next((m for m in _each() if predicate(m)), None)


def modalities() -> list[Modality]:
    """Every modality: the built-ins in ``BUILTIN``'s order (whichever code imported one first), then the
    others in the order they registered.  The order is what messages list and the objective union holds."""
    for _ in _each():
        pass
    builtin = [import_module(name).MODALITY for name in BUILTIN]
    return builtin + [m for m in _registered.values() if m not in builtin]


def modality(name: str) -> Modality:
    found = find(lambda m: m.name == name)
    if found is None:
        raise HeadstartError(f"modality {name!r}: expected one of {', '.join(m.name for m in modalities())}")
    return found


def of_objective(name: str) -> Modality:
    found = find(lambda m: m.objective(name) is not None)
    if found is None:
        raise HeadstartError(f"objective.name {name!r}: expected one of {', '.join(objective_names())}")
    return found


def objective(name: str) -> Objective:
    return of_objective(name).objective(name)


def objective_names() -> list[str]:
    return [name for m in modalities() for name in m.objective_names]


def of_format(fmt: Any) -> Optional[Modality]:
    return find(lambda m: fmt in m.formats)


def prepared_format(path: Path) -> Optional[str]:
    """The ``format`` a prepared folder's manifest names; None when there is no readable manifest (the lenient
    ``output_folder.read_format``: the modality's own reader then says what is wrong)."""
    try:
        fmt = read_format(path)
    except HeadstartError:
        return None
    return fmt if isinstance(fmt, str) else None


def prepared_modality(path: Path) -> Optional[Modality]:
    """The modality whose ``prepare`` wrote folder ``path``; None when it cannot tell (the modality's own
    reader then says what is wrong with the folder)."""
    fmt = prepared_format(path)
    return None if fmt is None else of_format(fmt)


def checkpoint_kind(record: Any) -> Optional[str]:
    """The kind of model a checkpoint's model record (``state["config"]["model"]``) holds; a record without
    one is the kind of the modality that claims unnamed records (text, from before kinds were written)."""
    if not isinstance(record, dict):
        return None
    if record.get("kind") is not None:
        return record["kind"]
    claimed = find(lambda m: m.unnamed_kind is not None)
    return claimed.unnamed_kind if claimed is not None else None


def of_checkpoint_kind(kind: Optional[str]) -> Optional[Modality]:
    return None if kind is None else find(lambda m: kind in m.checkpoint_kinds)


def task_of_files() -> Optional[Modality]:
    """The modality whose labeled data is a file (text), for a task that names a file."""
    return find(lambda m: m.reads_task_files)
