"""What a record's words say about its series: a phrase lexicon plus what clerks taught.

Two explainable parts, both plain data and arithmetic:

- the **lexicon** (``series_terms.yaml``): weighted phrases per series, plus phrases that
  show school business at all and phrases of private life. A record's score for a series
  is the sum of weight x occurrences (at most three per phrase), so the bulk of a
  conversation decides, not one stray line;
- the **learned model**: a multinomial naive Bayes over the words of the records whose
  series a clerk decided. It is rebuilt from those decisions in well under a second per
  thousand records, keeps nothing on disk (so nothing of a destroyed record survives in
  it), and is named by a version that hashes the decisions it was built from.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from records.retention.names import tokens

MAX_PHRASE_WORDS = 5
PER_PHRASE_CAP = 3
# Groups of the lexicon that are not series of their own.
SCHOOL, ADMIN, PERSONAL = "school", "admin", "personal"


@dataclass(frozen=True)
class Lexicon:
    version: str
    groups: dict[str, dict[tuple[str, ...], float]]  # series code or group → phrase → weight


def stem(word: str) -> str:
    """A light suffix strip, so that "picking up", "picked up" and "pick up" are one phrase."""
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def stems(words: Sequence[str]) -> list[str]:
    return [stem(w) for w in words]


def _phrases(entries: dict[str, float] | None) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for phrase, weight in (entries or {}).items():
        key = tuple(stems(tokens(str(phrase))))
        if key and len(key) <= MAX_PHRASE_WORDS:
            out[key] = float(weight)
    # Phrases are matched longest first, so "iep goals" (2) would hide the "iep" (5) it
    # contains and a longer phrase would say less than its own words: a phrase weighs at
    # least as much as the weightiest phrase of its group inside it.
    for key in [k for k in out if len(k) > 1]:
        inner = (out.get(key[i:j], 0.0) for i in range(len(key)) for j in range(i + 1, len(key) + 1) if (i, j) != (0, len(key)))
        out[key] = max(out[key], *inner)
    return out


@cache
def lexicon() -> Lexicon:
    text = resources.files("records.retention").joinpath("series_terms.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    groups = {code: _phrases(entries) for code, entries in data["series"].items()}
    for group in (SCHOOL, ADMIN, PERSONAL):
        groups[group] = _phrases(data.get(group))
    return Lexicon(version=str(data.get("version", "terms")), groups=groups)


def ngrams(words: Sequence[str], longest: int = MAX_PHRASE_WORDS) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, longest + 1):
        for i in range(len(words) - n + 1):
            counts[tuple(words[i : i + n])] += 1
    return counts


STRONG_WEIGHT = 2.0  # phrases at least this weighty say something on their own


@dataclass(frozen=True)
class TermScore:
    score: float
    phrases: int  # distinct phrases found
    occurrences: int
    strong: float = 0.0  # the part of the score from strong phrases


def term_scores(words: Sequence[str], lex: Lexicon | None = None) -> dict[str, TermScore]:
    """Per series and group: the lexicon's score for these words."""
    lex = lex or lexicon()
    words = stems(words)
    out: dict[str, TermScore] = {}
    for group, phrases in lex.groups.items():
        counts = longest_matches(words, phrases)
        score = strong = 0.0
        seen = 0
        for phrase, found in counts.items():
            weight = phrases[phrase]
            seen += found
            score += weight * min(found, PER_PHRASE_CAP)
            if weight >= STRONG_WEIGHT:
                strong += weight * min(found, PER_PHRASE_CAP)
        out[group] = TermScore(round(score, 3), len(counts), seen, round(strong, 3))
    return out


def longest_matches(words: Sequence[str], phrases: dict[tuple[str, ...], float]) -> Counter[tuple[str, ...]]:
    """Occurrences of the phrases, longest first: "school committee" is not also "committee".

    Only the phrase lengths that start with the word at hand are tried (``_starts``):
    most words start no phrase, and slicing five candidates at every word of every text
    for each of the lexicon's groups was the costliest step of classifying a record.
    """
    counts: Counter[tuple[str, ...]] = Counter()
    starts = _starts(phrases)
    size = len(words)
    # Only the positions whose word starts a phrase can match; the rest are stepped over
    # in one comprehension rather than one turn of a Python loop each.
    after = 0  # the first position not inside a phrase counted already
    for i in [i for i, word in enumerate(words) if word in starts]:
        if i < after:
            continue
        for n in starts[words[i]]:
            if n <= size - i:
                candidate = tuple(words[i : i + n])
                if candidate in phrases:
                    counts[candidate] += 1
                    after = i + n
                    break
    return counts


_STARTS: dict[int, tuple[dict[tuple[str, ...], float], int, dict[str, tuple[int, ...]]]] = {}


def _starts(phrases: dict[tuple[str, ...], float]) -> dict[str, tuple[int, ...]]:
    """First word → the lengths of the phrases it starts, longest first (per phrase table).

    Kept per table (the lexicon's tables live as long as the process); a table that
    changed size since is indexed again.
    """
    held = _STARTS.get(id(phrases))
    if held is not None and held[0] is phrases and held[1] == len(phrases):
        return held[2]
    lengths: dict[str, set[int]] = {}
    for phrase in phrases:
        if 0 < len(phrase) <= MAX_PHRASE_WORDS:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
    starts = {word: tuple(sorted(found, reverse=True)) for word, found in lengths.items()}
    if len(_STARTS) > 64:
        _STARTS.clear()
    _STARTS[id(phrases)] = (phrases, len(phrases), starts)
    return starts


class LearnedModel:
    """Naive Bayes over the words of clerk-decided records (see the module doc)."""

    MIN_EXAMPLES = 3  # per series, before the model speaks for it

    def __init__(self, examples: Iterable[tuple[str, Sequence[str]]]) -> None:
        self.word_counts: dict[str, Counter[str]] = {}
        self.doc_counts: Counter[str] = Counter()
        digest = hashlib.sha256()
        for code, words in examples:
            self.word_counts.setdefault(code, Counter()).update(words)
            self.doc_counts[code] += 1
            digest.update(code.encode() + b"\0" + " ".join(words).encode() + b"\1")
        self.vocabulary = set().union(*self.word_counts.values()) if self.word_counts else set()
        self.totals = {code: sum(c.values()) for code, c in self.word_counts.items()}
        self.version = f"nb-{sum(self.doc_counts.values())}-{digest.hexdigest()[:12]}"

    @property
    def examples(self) -> int:
        return sum(self.doc_counts.values())

    def active_codes(self) -> list[str]:
        return [code for code, n in self.doc_counts.items() if n >= self.MIN_EXAMPLES]

    def posterior(self, words: Sequence[str]) -> dict[str, float]:
        """P(series | words) over the series with enough examples; {} when none has."""
        codes = self.active_codes()
        if len(codes) < 2:
            return {}
        total_docs = sum(self.doc_counts[c] for c in codes)
        size = len(self.vocabulary) + 1
        known = [w for w in words if w in self.vocabulary]
        if not known:
            return {}
        logs = {}
        for code in codes:
            counts = self.word_counts[code]
            denominator = self.totals[code] + size
            value = math.log(self.doc_counts[code] / total_docs)
            for word in known:
                value += math.log((counts.get(word, 0) + 1) / denominator)
            logs[code] = value
        top = max(logs.values())
        weights = {code: math.exp(v - top) for code, v in logs.items()}
        total = sum(weights.values())
        return {code: w / total for code, w in weights.items()}


EMPTY_MODEL = LearnedModel([])

__all__ = ["ADMIN", "EMPTY_MODEL", "PERSONAL", "SCHOOL", "LearnedModel", "Lexicon", "TermScore", "lexicon", "longest_matches", "ngrams", "stem", "stems", "term_scores"]
