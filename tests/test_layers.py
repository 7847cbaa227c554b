"""Layering, kept by walking the import graph (comments do not keep it).

The core (pretrain, finetune, compare, rank, the CLI, export) finds a modality in the registry
(``headstart.modality``) and imports none; a modality imports the core and shared code, never another
modality it did not declare (``uses``); and no module of ``headstart`` is part of an import cycle, imports
inside functions included.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import headstart
from headstart.modality import modality
from headstart.modality.registry import BUILTIN

PACKAGE = Path(headstart.__file__).parent
# Built-in modality folders, from the registry's own list of them: "headstart.vision.plugin" -> vision.
FOLDERS = {import_module(name).MODALITY.name: name.split(".")[1] for name in BUILTIN}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The ``headstart`` modules ``path`` imports anywhere (inside functions too), less those under
    ``if TYPE_CHECKING:`` (annotations only, never run)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
               for statement in block.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # `from . import bert` imports the module headstart.hf.bert
                found.add(f"{target}.{alias.name}" if module_exists(f"{target}.{alias.name}") else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {existing(target) for target in found if target.split(".")[0] == "headstart"} - {name}


def module_exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def existing(name: str) -> str:
    """``name``, or the module that holds it (``headstart.modality.lazy`` -> ``headstart.modality``)."""
    while not module_exists(name):
        name = name.rpartition(".")[0]
    return name


GRAPH = {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def folder_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FOLDERS.values() else None


def test_nothing_outside_a_modality_imports_it():
    found = sorted(f"{importer} imports {target}" for importer, targets in GRAPH.items() for target in targets
                   if folder_of(target) and folder_of(importer) is None)
    assert found == [], "the core must look modalities up in headstart.modality:\n" + "\n".join(found)


def test_the_core_imports_no_modality():
    core = ("headstart.pretrain", "headstart.finetune", "headstart.compare", "headstart.rank", "headstart.cli",
            "headstart.config", "headstart.engine", "headstart.models", "headstart.objectives",
            "headstart.transfer", "headstart.classifier", "headstart.modality")
    for importer, targets in GRAPH.items():
        if importer.startswith(core):
            assert not {t for t in targets if folder_of(t)}, f"{importer} imports a modality"


def test_a_modality_imports_no_other_modality_but_those_it_declares():
    for importer, targets in GRAPH.items():
        own = folder_of(importer)
        if own is None:
            continue
        name = next(n for n, folder in FOLDERS.items() if folder == own)
        allowed = {own} | {FOLDERS[used] for used in modality(name).uses}
        others = sorted(t for t in targets if folder_of(t) and folder_of(t) not in allowed)
        assert others == [], f"{importer} imports {others}; declare the modality in its plugin's uses, or go " \
                             f"through headstart.modality"


def test_no_import_cycles_in_headstart():
    # Importing a.b.c runs a/__init__.py and a/b/__init__.py first: those are edges too.
    edges = {name: set(targets) for name, targets in GRAPH.items()}
    for name, targets in GRAPH.items():
        for target in targets:
            parts = target.split(".")
            edges[name].update(".".join(parts[:i]) for i in range(1, len(parts))
                               if not name.startswith(".".join(parts[:i])))  # its own packages ran before it
    cycles = strongly_connected(edges)
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(sorted(c)) for c in cycles)


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of two or more modules that import each other, directly or not."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in list(edges):
        if node not in index:
            visit(node)
    return groups


def test_a_text_run_imports_no_image_or_audio_code():
    """Text fine-tuning and pre-training reach only text's code: of the other modalities, their registration
    (a few names and settings) and nothing else; no Pillow."""
    script = (
        "import sys\n"
        "from headstart.config import load_pretrain_config\n"
        "from headstart.finetune.task import task_modality\n"
        "from headstart.finetune.config import TaskConfig\n"
        "from headstart.pretrain import build_setup\n"
        "import headstart.finetune.run, headstart.compare, headstart.rank\n"
        "task_modality(TaskConfig(train='train.tsv'))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('headstart.vision', 'headstart.audio', "
        "'headstart.pairs', 'PIL')))\n"
        "print(' '.join(loaded))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    registrations = {f"headstart.{folder}{suffix}" for folder in ("vision", "audio", "pairs")
                     for suffix in ("", ".plugin")}
    assert set(out) <= registrations, f"a text run imported {sorted(set(out) - registrations)}"
