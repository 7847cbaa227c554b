"""A representational-bias *screen*: how often occupation words appear near female vs male words.

For every occupation word in the corpus, the screen looks ``window`` words either side and counts
the mention as "near female" and/or "near male" when a word of that list is there.  Per occupation
it reports both counts and log((near female + 1) / (near male + 1)); the corpus-wide ratio of female
to male words is given beside it, because a corpus that mentions men three times as often as women
skews every occupation the same way.

It is a screen, not a verdict: co-occurrence ignores negation, quotation and who the words refer to.
Its job is to point at occupations whose contexts are worth reading.  The word lists are a plain
text file shipped with headstart (``bias_words.txt``) that users copy and edit (``--bias-words``).
"""
from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np

from headstart.errors import HeadstartError

SECTIONS = ("female", "male", "occupations")
DEFAULT_WINDOW = 10


def default_word_file() -> Path:
    return Path(str(resources.files("headstart.audit") / "bias_words.txt"))


def read_word_lists(path: str | Path | None = None) -> dict[str, set[str]]:
    """The three word lists of a bias-words file; errors name the file and line."""
    path = Path(path) if path is not None else default_word_file()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise HeadstartError(f"{path}: cannot read the bias word lists ({error})") from None
    lists: dict[str, set[str]] = {name: set() for name in SECTIONS}
    section = None
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[] ").lower()
            if section not in lists:
                raise HeadstartError(f"{path}:{number}: unknown section [{section}] (expected "
                                     f"{', '.join(f'[{s}]' for s in SECTIONS)})")
            continue
        if section is None:
            raise HeadstartError(f"{path}:{number}: words before any section; start with [female]")
        lists[section].update(word.lower() for word in line.split())
    for name in SECTIONS:
        if not lists[name]:
            raise HeadstartError(f"{path}: section [{name}] is missing or empty")
    both = lists["female"] & lists["male"]
    if both:
        raise HeadstartError(f"{path}: {sorted(both)[0]!r} is in both [female] and [male]")
    return lists


class BiasScreen:
    """Streaming co-occurrence counts; per-occupation counters only."""

    def __init__(self, lists: dict[str, set[str]], window: int = DEFAULT_WINDOW, source: str = ""):
        self.lists, self.window, self.source = lists, window, source
        self.mentions: dict[str, list[int]] = {}  # occupation -> [mentions, near female, near male]
        self.female_words = self.male_words = 0

    def add(self, words: list[str]) -> None:
        female, male, occupations = self.lists["female"], self.lists["male"], self.lists["occupations"]
        f_pos, m_pos, o_pos = [], [], []
        for position, word in enumerate(words):
            if word in female:
                f_pos.append(position)
            elif word in male:
                m_pos.append(position)
            elif word in occupations:
                o_pos.append(position)
        self.female_words += len(f_pos)
        self.male_words += len(m_pos)
        if not o_pos:
            return
        occ = np.asarray(o_pos)
        near = [self._near(np.asarray(positions), occ) for positions in (f_pos, m_pos)]
        for i, position in enumerate(o_pos):
            counts = self.mentions.setdefault(words[position], [0, 0, 0])
            counts[0] += 1
            counts[1] += int(near[0][i])
            counts[2] += int(near[1][i])

    def _near(self, positions: np.ndarray, occupations: np.ndarray) -> np.ndarray:
        """For each occupation position: is any of ``positions`` within the window?"""
        if not len(positions):
            return np.zeros(len(occupations), dtype=bool)
        lo = np.searchsorted(positions, occupations - self.window, side="left")
        hi = np.searchsorted(positions, occupations + self.window, side="right")
        return hi > lo

    def state(self) -> dict:
        """The counters as JSON, to merge the screens of several shards of a corpus."""
        return {"mentions": self.mentions, "female_words": self.female_words, "male_words": self.male_words}

    def merge(self, state: dict) -> None:
        self.female_words += state["female_words"]
        self.male_words += state["male_words"]
        for word, counts in state["mentions"].items():
            mine = self.mentions.setdefault(word, [0, 0, 0])
            for i, count in enumerate(counts):
                mine[i] += count

    def summary(self) -> dict:
        rows = [{"occupation": word, "mentions": m, "near_female": f, "near_male": male,
                 "log_ratio": math.log((f + 1) / (male + 1))}
                for word, (m, f, male) in self.mentions.items()]
        rows.sort(key=lambda row: (-row["mentions"], row["occupation"]))
        return {"word_lists": self.source, "window": self.window,
                "female_words": self.female_words, "male_words": self.male_words,
                "corpus_log_ratio": math.log((self.female_words + 1) / (self.male_words + 1)),
                "occupations": rows,
                "note": "A screen, not a verdict: co-occurrence within a window of words ignores negation, "
                        "quotation and who the words refer to. log_ratio = ln((near_female + 1) / "
                        "(near_male + 1)); compare it with corpus_log_ratio, the ratio of all female to "
                        "male words, and read the contexts before concluding anything."}
