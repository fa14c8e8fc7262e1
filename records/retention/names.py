"""How people's names are written, so that a name in a record can be found on the roster.

Clerks, parents and OCR write one name many ways: with or without accents (José, Jose),
with a nickname (Katherine, Kate, Katie), with half of a double surname (Garcia-Lopez,
Garcia Lopez, Garcia), in any case. Everything here turns text into comparable *tokens*:
accents folded, case folded, hyphens and punctuation turned into word breaks. The
nickname table is data (``nicknames.yaml``), so a district can see and extend it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib import resources

import yaml

# Surname particles: "de la Cruz" is matched whole, but "de" alone never names anyone.
PARTICLES = frozenset({"de", "del", "della", "la", "le", "da", "di", "do", "dos", "das", "van", "von", "der", "den", "st", "mac", "y", "e", "bin", "al", "el"})
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def fold(text: str) -> str:
    """Lower-case, accents removed (``Zoë Nuñez`` → ``zoe nunez``)."""
    if text.isascii():  # nothing to decompose: the same result, without Unicode tables
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold().replace("’", "'")


def words(text: str) -> list[tuple[str, bool]]:
    """The words of a text, folded, each with whether it was written with a capital.

    Hyphens, dots and underscores split words. The capital matters for given names that
    are also ordinary words ("Will", "Grace"): lower-case "will" names nobody.
    """
    found = []
    if text.isascii():  # the usual case: ASCII lower-cases letter by letter, the same result
        for raw in _WORD.findall(text):  # the words as strings: no match object per word
            folded = raw.lower()
            if folded.endswith("'s"):
                folded = folded[:-2]
            if folded:
                found.append((folded, raw[0].isupper()))
        return found
    for match in _WORD.finditer(text):
        raw = match.group(0)
        folded = fold(raw)
        if folded.endswith("'s"):  # "Maya Chen's IEP": the possessive is Chen
            folded = folded[:-2]
        if folded:
            found.append((folded, raw[:1].isupper()))
    return found


def tokens(text: str) -> list[str]:
    """The words of a text, folded (see ``words``)."""
    return [word for word, _ in words(text)]


def name_tokens(name: str | None) -> tuple[str, ...]:
    return tuple(tokens(name or ""))


@cache
def _nickname_table() -> dict[str, frozenset[str]]:
    text = resources.files("records.retention").joinpath("nicknames.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    table: dict[str, set[str]] = {}
    for formal, short in data.items():
        group = {fold(str(formal)), *(fold(str(s)) for s in short or [])}
        for member in group:
            table.setdefault(member, set()).update(group)
    return {name: frozenset(group) for name, group in table.items()}


def given_name_forms(first_name: str, preferred_name: str | None = None) -> frozenset[tuple[str, ...]]:
    """Every way the given name may be written: itself, the preferred name, nicknames.

    Nicknames are looked up for the formal name only in the direction that is safe:
    Katherine's nicknames include Kate and Katie, and a roster "Kate" also answers to
    Katherine; the groups are those of ``nicknames.yaml``.
    """
    forms: set[tuple[str, ...]] = set()
    table = _nickname_table()
    for name in (first_name, preferred_name):
        toks = name_tokens(name)
        if not toks:
            continue
        forms.add(toks)
        if len(toks) > 1:  # "Mary Ann": also "Mary" is how friends write it? No: too loose.
            continue
        for alias in table.get(toks[0], ()):
            forms.add(tuple(alias.split()))
    return frozenset(forms)


def surname_forms(last_name: str) -> tuple[frozenset[tuple[str, ...]], frozenset[tuple[str, ...]]]:
    """(full forms, partial forms) of a surname.

    ``Garcia-Lopez`` is fully ``garcia lopez``; its parts ``garcia`` and ``lopez`` are
    partial forms (people drop one half). ``de la Cruz``: full ``de la cruz``, partial
    ``cruz``. A one-word surname has no partial form.
    """
    toks = name_tokens(last_name)
    if not toks:
        return frozenset(), frozenset()
    full = {toks}
    significant = [t for t in toks if t not in PARTICLES and len(t) > 1]
    if significant and tuple(significant) != toks:
        full.add(tuple(significant))
    partial = {(t,) for t in significant} if len(significant) > 1 else set()
    if len(significant) == 1 and len(toks) > 1:
        partial.add((significant[0],))
    return frozenset(full), frozenset(partial - full)


__all__ = ["PARTICLES", "fold", "given_name_forms", "name_tokens", "surname_forms", "tokens", "words"]
