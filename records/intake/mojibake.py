"""A quick "cannot be mojibake" test run before ftfy's own, with the same answer.

``ftfy.badness.is_bad`` searches a text with one large regex of 37 alternatives, and
the email reader asks it about every message body and header that is not plain ASCII:
a tenth of reading an mbox whose staff and students have accented names. Each of those
alternatives needs, at fixed places, characters from a few small sets (``[ÂÃÎÐ]``, box
drawing, currency signs, ...). A text that lacks a character from one of those sets of
an alternative cannot match that alternative; a text that can match none of them is not
bad, and ``is_bad`` is not asked.

The sets are read from ftfy's compiled pattern when this module is imported, so they
follow the pinned ftfy. Only what must match exactly once in every match is used: a
literal character or a class of characters at the top level of an alternative, not
negated, without categories such as ``\\w``, and with no ASCII character in it. If the
pattern is not shaped as expected (another ftfy), every text is passed on to ``is_bad``.
"""

from __future__ import annotations

import re
from typing import Any

from ftfy.badness import BADNESS_RE

try:  # Python 3.11+
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _parse  # type: ignore[no-redef]


def _chars(node: tuple[Any, Any]) -> frozenset[str] | None:
    """The characters a single-character node matches, or None when it is not that simple."""
    op, value = node
    if op is _sre.LITERAL:
        return frozenset(chr(value))
    if op is not _sre.IN:
        return None
    found: set[str] = set()
    for inner, argument in value:
        if inner is _sre.LITERAL:
            found.add(chr(argument))
        elif inner is _sre.RANGE:
            found.update(chr(code) for code in range(argument[0], argument[1] + 1))
        else:  # NEGATE, CATEGORY, ...: not a plain set
            return None
    return frozenset(found)


def _required_sets(pattern: re.Pattern[str]) -> list[list[frozenset[str]]] | None:
    """For each alternative, the character sets it must match one character of, or None."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        tree = _parse.parse(pattern.pattern, pattern.flags)
    except Exception:  # noqa: BLE001 - an unknown pattern: no quick test
        return None
    if len(tree.data) != 1 or tree.data[0][0] is not _sre.BRANCH:
        return None
    alternatives = []
    for branch in tree.data[0][1][1]:
        # Sets with an ASCII character are left out: nearly every text has one, so they
        # would cost time and sort out nothing (leaving one out only lets more through).
        needed = [found for found in (_chars(node) for node in branch.data) if found and not any(c.isascii() for c in found)]
        if not needed:
            return None  # an alternative that needs nothing in particular: test every text
        alternatives.append(needed)
    return alternatives


_ALTERNATIVES = _required_sets(BADNESS_RE)
_SETS: list[frozenset[str]] = sorted({found for sets in _ALTERNATIVES or [] for found in sets}, key=sorted)
_SETS_OF: dict[str, frozenset[int]] = {  # character -> the numbers of the sets holding it
    char: frozenset(number for number, found in enumerate(_SETS) if char in found) for char in frozenset().union(*_SETS)
}
_NEEDS: list[frozenset[int]] = [frozenset(_SETS.index(found) for found in sets) for sets in _ALTERNATIVES or []]
_ANY_NEEDED = re.compile("[" + "".join(re.escape(c) for c in sorted(_SETS_OF)) + "]") if _SETS_OF else None


def could_be_bad(text: str) -> bool:
    """False only when ``ftfy.badness.is_bad(text)`` is certainly False."""
    if _ALTERNATIVES is None or _ANY_NEEDED is None:
        return True
    present = set(_ANY_NEEDED.findall(text))
    if not present:
        return False
    met = frozenset().union(*(_SETS_OF[char] for char in present))
    return any(needs <= met for needs in _NEEDS)
