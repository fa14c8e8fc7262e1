"""The quick mojibake test says "not bad" only where ftfy's own test says so too."""

from __future__ import annotations

import random

import ftfy
from ftfy.badness import is_bad

from records.intake import mojibake
from records.intake.readers.email_message import clean_text


def test_the_quick_test_never_hides_mojibake_ftfy_would_find() -> None:
    assert mojibake._NEEDS, "the quick test is off: ftfy's pattern was not understood"
    rng = random.Random(20261130)
    alphabet = sorted(mojibake._SETS_OF) + list("abcXYZ \n,.'\"-") + list("éüñ—’…ÃâÂ€ابж中😀")
    for _ in range(200_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 10)))
        if is_bad(text):
            assert mojibake.could_be_bad(text), text
    for right in ["Café fundraiser — volunteers", "José Ramírez García", "Zoë Müller, naïve résumé", "“quoted” it’s 5 €"]:
        mangled = right.encode("utf-8").decode("windows-1252", "replace")
        assert is_bad(mangled) and mojibake.could_be_bad(mangled)
        assert clean_text(mangled) == ftfy.fix_text(mangled, uncurl_quotes=False, fix_character_width=False, fix_latin_ligatures=False)


def test_accented_names_are_left_alone_without_the_full_search() -> None:
    for text in ["Dear Tomás,\n\nthe trip is on Friday.\n\nLuis García", "Zoë and Chloé", "Grüße aus Köln", "Привет", "1–2 p.m."]:
        assert not mojibake.could_be_bad(text) and not is_bad(text)
        assert clean_text(text) == text
