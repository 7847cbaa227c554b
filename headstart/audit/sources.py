"""Which kind of data an audit input holds: a prepared folder's manifest names its modality, raw files are told
apart by the suffixes each modality registers (``raw_suffixes``); text is the rest."""
from __future__ import annotations

from pathlib import Path

from headstart.errors import HeadstartError
from headstart.modality import modalities, of_format
from headstart.output_folder import read_format


def audited_kinds() -> list[str]:
    """The modalities the audit reads (those that register an ``audit``)."""
    return [m.name for m in modalities() if m.audit is not None]


def detect_kind(inputs: list[Path]) -> str:
    """The audited modality of ``inputs``: from a prepared folder's manifest, else from the files' suffixes."""
    first = Path(inputs[0])
    fmt = read_format(first)
    if fmt is not None:
        owner = of_format(fmt)
        if owner is None or owner.audit is None:
            raise HeadstartError(f"{first}: a prepared folder of {fmt}; the audit reads {', '.join(audited_kinds())}")
        return owner.name
    files = [first] if first.is_file() else [p for p in first.rglob("*") if p.is_file()] if first.is_dir() else []
    by_suffix = {suffix: m.name for m in modalities() if m.audit is not None for suffix in m.raw_suffixes}
    counts = dict.fromkeys(audited_kinds(), 0)
    for path in files[:10_000]:  # a sample is enough to tell a folder of photos from one of books
        counts[by_suffix.get(path.suffix.lower(), "text")] += 1
    return max(counts, key=lambda kind: (counts[kind], kind == "text"))
