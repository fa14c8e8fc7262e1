"""Normalising what exports say about people and time, the same way in every reader.

Addresses are how the engine recognises a person across sources (cli.md: lower-cased
emails, E.164 phones, ``platform:handle``, ``x:ID``); school years are how chat threads
are cut into record units (July 1 to June 30 in the district's time zone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from email.utils import getaddresses, parseaddr
from zoneinfo import ZoneInfo

import phonenumbers

DEFAULT_REGION = "US"
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def email_address(raw: str | None) -> str | None:
    """``Name <Ana.Rivera@Example.net>`` or a bare address → ``ana.rivera@example.net``."""
    if not raw:
        return None
    _, address = parseaddr(raw)
    address = (address or raw).strip().strip("<>").lower()
    if address.startswith("mailto:"):
        address = address[7:]
    return address if _EMAIL.match(address) else None


def email_addresses(header_values: list[str]) -> list[tuple[str | None, str]]:
    """Every (display name, normalised address) in address headers, in order."""
    found = []
    for name, address in getaddresses(header_values):
        normalised = email_address(address)
        if normalised:
            found.append((name.strip() or None, normalised))
    return found


def phone_number(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """Any written phone number → E.164 (``+16175550134``); None when it is not one.

    Short codes and alphanumeric senders (``72975``, ``VERIZON``) are kept as they are,
    lower-cased and stripped, because they still name the counterpart of an SMS thread.
    """
    if not raw:
        return None
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    digits = re.sub(r"[^0-9A-Za-z]", "", text)
    return digits.lower() or None


def handle(platform: str, value: str) -> str:
    """``platform:handle`` with the platform lower-cased (``instagram:maya.r.2014``)."""
    return f"{platform.strip().lower()}:{value.strip()}"


def x_id(user_id: str | int) -> str:
    """X's numeric user ids exceed 2^53: always carried as text (``x:1234567890123456789``)."""
    return f"x:{str(user_id).strip()}"


def fix_mojibake(text: str) -> str:
    """Repair Facebook/Instagram's UTF-8-bytes-as-Latin-1 strings, never a correct one.

    The repair (encode Latin-1, decode UTF-8) raises on strings that were right all
    along (a character above U+00FF, or bytes that are not UTF-8): those stay as they are.
    """
    if not text or text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


# records.dedupe_key is VARCHAR(512). Keys that fit were always stored as they are and stay
# so (the same export ingested again must find them); storage hashes a key that its owner
# prefix makes too long the same way.
MAX_DEDUPE_KEY = 512


def storable(text: str | None) -> str | None:
    """Text the catalog can hold: PostgreSQL refuses NUL in text, whatever the file said."""
    return text.replace("\x00", "") if text and "\x00" in text else text


def storable_key(key: str | None, limit: int = MAX_DEDUPE_KEY) -> str | None:
    """A dedupe key the catalog can hold and index: an over-long one becomes its hash.

    The same key always gives the same hash, so the same record is still recognised.
    """
    key = storable(key)
    if key is None or len(key) <= limit:
        return key
    prefix = key.split(":", 1)[0][:32] if ":" in key else "key"
    return f"{prefix}:sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def school_year(moment: dt.datetime, timezone: str = "America/New_York") -> str:
    """The school year (July 1 to June 30, district time) of an instant: ``2022-23``."""
    local = moment.astimezone(ZoneInfo(timezone))
    start = local.year if local.month >= 7 else local.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def from_epoch_ms(value: int | float | str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)


def from_epoch_s(value: int | float | str) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def transcript(lines: list[tuple[dt.datetime | None, str | None, str]]) -> str:
    """The conversation as text, one message a line: ``2023-03-05 20:14Z  Name: text``."""
    out = []
    for when, who, text in lines:
        stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if when else "(no date)"
        out.append(f"{stamp}  {who or '(unknown)'}: {text}")
    return "\n".join(out)
