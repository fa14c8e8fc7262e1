"""Identifiers a clerk can read aloud: a short prefix and a time-ordered random part."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``PREFIX-`` then 8 characters of milliseconds and 6 of randomness (sortable by time).

    Prefixes in use: ``S`` sources, ``R`` records, ``K`` content keys, ``H`` holds,
    ``B`` disposal batches.
    """
    millis = int(time.time() * 1000)
    return f"{prefix}-{_encode(millis, 9)}{_encode(int.from_bytes(os.urandom(4), 'big'), 6)}"
