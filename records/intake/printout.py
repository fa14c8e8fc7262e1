"""Who and when, as printed on the page of an email, post or chat printout.

Staff print emails (Outlook, Gmail, Apple Mail), Messenger threads and phone screenshots,
and the printouts are scanned and OCR'd. ``apply_printout_facts`` reads an item's page text
and fills ``participants``, ``sent_at_first`` and ``sent_at_last`` with what the page
actually says, plus ``Evidence`` saying where (field names and line positions only, never
the words matched: evidence is copied into the audit log, which outlives the record).

Rules, in the order they are applied:

* **Browser print chrome is never content.** Chrome/Edge print the print date and the
  page title at the top of every page ("3/14/24, 10:02 AM   Gmail - ...") and the URL and
  "1/2" at the bottom; Firefox prints "Page 1 of 2" and the date. Those lines are found
  (first two / last two lines of a page, plus exact repeats of a found header anywhere)
  and dropped before anything else is read; each page where that happened gets
  ``Evidence("print_header", ..., 0.0)``.
* **Email headers** ("From:", "To:", "Cc:", "Bcc:", "Reply-To:", "Sent:", "Date:"), read
  with OCR tolerance ("Frorn:", "Sent :", "5ubject:", "T0:", "2O24", "3:l4"). A header
  counts as a date only inside a block of at least two header lines, so a "Date:" line in
  the body of a message (a field-trip date) is not taken for the sent date. Forward and
  reply chains ("-----Original Message-----", "Begin forwarded message:", Gmail's
  "Forwarded message", "On ... wrote:") simply contribute more blocks: every message date
  printed counts, so first is the quoted original's and last the forward's own.
* **Gmail print layout**: the sender line "Name <address>   Tue, Mar 5, 2024 at 3:14 PM"
  (date on the same or the next line), and the account line "Gmail   Name <address>".
* **Chat layouts**, only when the page has no email header at all: "Name: message" lines
  (optionally behind a timestamp), Messenger-style name lines followed by a timestamp,
  phone-number lines at the top of an SMS screenshot, timestamp lines and day separators
  ("Tuesday, March 5, 2024" gives the day for the "3:14 PM" lines that follow; "Today",
  "Yesterday", a weekday alone or a date without a year make the day unknown, and times
  under an unknown day are skipped rather than guessed).

Times without a zone are local in ``timezone``; an explicit offset ("+0000", "GMT-5",
"(UTC-05:00)") or abbreviation (EST, EDT, PST, GMT, ...) is honoured. A date printed without
a time counts as local midnight. "Me" and "You" are the export owner and never become a
participant name. Nothing is guessed: a value that cannot be read cleanly is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from records.intake.model import Evidence, Item, Participant

__all__ = ["apply_printout_facts", "normalise_email", "normalise_phone"]

UTC = dt.timezone.utc

# --------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------

_EMAIL = r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_EMAIL_RE = re.compile(rf"(?<![\w.+\-]){_EMAIL}")
_EMAIL_FULL = re.compile(_EMAIL)

_PHONE_PAT = (
    r"(?:\+\s*\d[\d\s().\-]{6,20}\d"
    r"|(?:\b1[\s.\-]*)?\(?\b[2-9]\d{2}\)?[\s.\-]*[2-9]\d{2}[\s.\-]*\d{4})"
)
_PHONE_RE = re.compile(rf"(?<![\w+]){_PHONE_PAT}(?![\d])")

_OWNER_WORDS = {"me", "you", "myself"}
_NOT_NAMES = {"undisclosed-recipients", "undisclosed recipients", "undisclosed-recipients:"}


def normalise_email(address: str) -> str | None:
    """Lower-case an email address (``mailto:`` and stray spaces removed); None if not one."""
    cand = re.sub(r"\s+", "", address).strip("<>[]().,;:'\"")
    if cand.lower().startswith("mailto:"):
        cand = cand[7:]
    return cand.lower() if _EMAIL_FULL.fullmatch(cand) else None


def normalise_phone(number: str) -> str | None:
    """E.164 for a printed phone number, or None when it is not clearly one.

    North American numbers: 10 digits (area code and exchange starting 2-9) become
    ``+1XXXXXXXXXX``; 11 digits starting with 1 become ``+1...``. A number printed with a
    leading ``+`` and another country code keeps its digits (8 to 15 of them). Anything
    else (7-digit local numbers, 10 digits without ``+`` that are not North American) is
    left out rather than guessed.
    """
    text = number.strip()
    plus = text.startswith("+")
    digits = re.sub(r"\D", "", text)

    def nanp(ten: str) -> bool:
        return len(ten) == 10 and ten[0] in "23456789" and ten[3] in "23456789"

    if len(digits) == 11 and digits.startswith("1") and nanp(digits[1:]):
        return "+" + digits
    if not plus and nanp(digits):
        return "+1" + digits
    if plus and not digits.startswith("1") and 8 <= len(digits) <= 15:
        return "+" + digits
    return None


def _clean_name(text: str) -> str | None:
    name = re.sub(r"\s+", " ", text)
    name = name.strip(" \t'\"“”‘’()[]<>,;:|")
    name = re.sub(r"\(\s*\)", "", name).strip()
    if not name or name.casefold() in _NOT_NAMES:
        return None
    return name


def _is_owner(name: str | None) -> bool:
    return name is not None and name.casefold() in _OWNER_WORDS


def _split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes and <>, (), [] brackets."""
    parts, depth, quoted, cur = [], 0, False, []
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch in "<([" and not quoted:
            depth += 1
        elif ch in ">)]" and not quoted and depth:
            depth -= 1
        if ch == sep and not quoted and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _bare_name_part(piece: str) -> str:
    return re.sub(r"<[^<>]*>|\([^()]*\)|" + _EMAIL, " ", piece).strip()


def _parse_one(piece: str) -> Participant | None:
    piece = piece.strip().strip(",;")
    if not piece:
        return None
    address: str | None = None
    rest = piece
    bracket = re.search(r"<([^<>]*)>", piece)
    if bracket:
        inner = bracket.group(1)
        address = normalise_email(inner)
        if address is None and re.fullmatch(rf"\s*{_PHONE_PAT}\s*", inner):
            address = normalise_phone(inner)
        if address is not None:
            rest = piece[: bracket.start()] + " " + piece[bracket.end() :]
    if address is None:
        m = _EMAIL_RE.search(piece)
        if m:
            address = m.group(0).lower()
            rest = piece[: m.start()] + " " + piece[m.end() :]
    if address is None:
        m = _PHONE_RE.search(piece)
        if m and (phone := normalise_phone(m.group(0))):
            address = phone
            rest = piece[: m.start()] + " " + piece[m.end() :]
    name = _clean_name(rest)
    if name is not None and address is not None and name.lower() == address:
        name = None
    if _is_owner(name):
        name = None
    if name is None and address is None:
        return None
    return Participant(name=name, address=address)


def _parse_address_list(value: str) -> list[Participant]:
    value = re.sub(r"\[\s*mailto\s*:\s*([^\]]+)\]", r"<\1>", value, flags=re.I)
    out: list[Participant] = []
    for part in _split_outside(value, ";"):
        pieces = _split_outside(part, ",")
        joined: list[str] = []
        i = 0
        while i < len(pieces):
            cur = pieces[i]
            # "Costello, Brian <bc@...>": a one-word surname, then a one-word first name.
            if (
                i + 1 < len(pieces)
                and "@" not in cur
                and not re.search(r"\d", cur)
                and len(cur.split()) == 1
                and len(_bare_name_part(pieces[i + 1]).split()) == 1
            ):
                joined.append(cur + "," + pieces[i + 1])
                i += 2
                continue
            joined.append(cur)
            i += 1
        for piece in joined:
            if (p := _parse_one(piece)) is not None:
                out.append(p)
    return out


def _name_key(name: str) -> str:
    """Case-insensitive comparison key; "Costello, Brian" compares equal to "Brian Costello"."""
    key = re.sub(r"\s+", " ", name).strip().casefold()
    m = re.fullmatch(r"([^\s,]+), ?([^\s,]+)", key)
    return f"{m.group(2)} {m.group(1)}" if m else key


def _merge_participant(out: list[Participant], p: Participant) -> None:
    """Add ``p`` unless already there: same address, else same name (case-insensitive)."""
    if p.address:
        for i, q in enumerate(out):
            if q.address == p.address:
                if q.name is None and p.name:
                    out[i] = Participant(p.name, q.address, q.role)
                return
        if p.name:
            for i, q in enumerate(out):
                if q.address is None and q.name and _name_key(q.name) == _name_key(p.name):
                    out[i] = Participant(q.name, p.address, q.role)
                    return
        out.append(p)
        return
    if not p.name:
        return
    if any(q.name and _name_key(q.name) == _name_key(p.name) for q in out):
        return
    out.append(p)


# --------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_FIXED_ZONES = {
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
    "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "ADT": -3, "NDT": -2.5, "NST": -3.5,
    "BST": 1, "CET": 1, "CEST": 2, "WET": 0, "WEST": 1, "EET": 2, "EEST": 3,
    "JST": 9, "AEST": 10, "AEDT": 11,
}  # fmt: skip
_REGION_ZONES = {
    "ET": "America/New_York", "CT": "America/Chicago",
    "MT": "America/Denver", "PT": "America/Los_Angeles",
}  # fmt: skip

_WD_WORD = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_WD = rf"(?:{_WD_WORD},?\s+)"
_MON = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])"
)
_TIME = (
    r"(?P<hh>\d{1,2})(?P<sep>[:;.])(?P<mi>[0-5]\d)(?:[:.](?P<ss>[0-5]\d)(?:\.\d+)?)?(?!\d)"
    r"(?:\s*(?P<ampm>[ap])\.?\s?m\b\.?)?"
)
_ZONE_ABBRS = "|".join(sorted([*_FIXED_ZONES, *_REGION_ZONES], key=len, reverse=True))
_ZONE = (
    r"(?:\s*(?:"
    r"\(?(?P<gmt>GMT|UTC)\s*(?P<goff>[+\-−]\s?\d{1,2}(?::?\d{2})?)?\)?"
    r"|\(?(?P<off>[+\-−]\d{2}:?\d{2})\)?"
    rf"|\(?(?-i:(?P<abbr>{_ZONE_ABBRS}))\)?"
    r"|(?-i:(?P<z>Z))"
    r")(?![A-Za-z]))?"
)
_SEP = r"(?:\s*[,·•]?\s*(?:at\s+|@\s*|[-–]\s+)?|T)"
_DATE_PATTERNS = {
    "A": rf"(?<![a-z]){_WD}?{_MON}\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)\s*,?\s*(?P<y>\d{{4}})(?!\d)",
    "B": rf"(?<![a-z]){_WD}?(?<![\d/])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON},?\s+(?P<y>\d{{4}})(?!\d)",
    "C": rf"(?<![a-z]){_WD}?(?<![\d/.])(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<y>\d{{4}}|\d{{2}})(?![\d/])",
    "D": r"(?<![\d\-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\d\-])",
}
_DATE_RES = {
    k: re.compile(rf"{p}(?:{_SEP}{_TIME}{_ZONE})?", re.I) for k, p in _DATE_PATTERNS.items()
}
_TIME_RE = re.compile(rf"(?<![\d:/.]){_TIME}{_ZONE}(?![\d:/])", re.I)
_UNKNOWN_DAY_RE = re.compile(
    rf"(?:today|yesterday|{_WD_WORD}|(?:{_WD})?{_MON}\s*\d{{1,2}}(?:st|nd|rd|th)?"
    rf"|(?:{_WD})?\d{{1,2}}/\d{{1,2}})(?:\s*,?\s*(?:at\s+)?{_TIME}{_ZONE})?",
    re.I,
)
_FILLER_RE = re.compile(
    r"\b(?:at|on|sent|received|delivered|read|seen|edited)\b|[\s,·•|()\[\]<>@:\-–—]+", re.I
)
_OCR_DIGIT = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"})
_OCR_TOKEN_RE = re.compile(r"(?<![A-Za-z])[0-9OolI|][0-9OolI|:/.\-]*[0-9OolI|](?![A-Za-z])")


def _fix_ocr_digits(text: str) -> str:
    """'2O24' -> '2024', '3:l4' -> '3:14': only inside tokens that already hold a digit.

    Replacements are one character for one, so positions in the result match the input.
    """

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        if any(c.isdigit() for c in tok) and any(c in "OolI|" for c in tok):
            return tok.translate(_OCR_DIGIT)
        return tok

    return _OCR_TOKEN_RE.sub(fix, text)


@dataclass(frozen=True)
class _Stamp:
    start: int
    end: int
    date: dt.date | None
    time: dt.time | None
    zone: dt.tzinfo | None  # None: local
    strong_time: bool = True  # a time-only stamp with ':' or am/pm

    def to_utc(self, local: dt.tzinfo) -> dt.datetime:
        assert self.date is not None
        naive = dt.datetime.combine(self.date, self.time or dt.time(0, 0))
        return naive.replace(tzinfo=self.zone or local).astimezone(UTC)


def _parse_offset(text: str) -> dt.tzinfo | None:
    m = re.fullmatch(r"([+\-−])\s?(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not m:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if m.group(1) in "-−" else delta)


def _zone_of(m: re.Match[str]) -> tuple[dt.tzinfo | None, bool]:
    """(zone, valid). ``valid`` is False when a zone was printed but cannot be read."""
    if m.group("goff"):
        z = _parse_offset(m.group("goff"))
        return z, z is not None
    if m.group("gmt") or m.group("z"):
        return UTC, True
    if m.group("off"):
        z = _parse_offset(m.group("off"))
        return z, z is not None
    if abbr := m.group("abbr"):
        if abbr in _REGION_ZONES:
            return ZoneInfo(_REGION_ZONES[abbr]), True
        return dt.timezone(dt.timedelta(hours=_FIXED_ZONES[abbr])), True
    return None, True


def _time_of(m: re.Match[str]) -> dt.time | None:
    if m.group("hh") is None:
        return None
    hh, mi, ss = int(m.group("hh")), int(m.group("mi")), int(m.group("ss") or 0)
    if ampm := m.group("ampm"):
        if not 1 <= hh <= 12:
            return None
        hh = hh % 12 + (12 if ampm.lower() == "p" else 0)
    if hh > 23:
        return None
    return dt.time(hh, mi, ss)


def _date_of(kind: str, m: re.Match[str]) -> dt.date | None:
    try:
        if kind in ("A", "B"):
            year, month, day = int(m.group("y")), _MONTHS[m.group("mon")[:3].lower()], int(m.group("d"))
        elif kind == "C":
            a, b, y = int(m.group("a")), int(m.group("b")), m.group("y")
            year = int(y) + 2000 if len(y) == 2 else int(y)
            month, day = (b, a) if a > 12 and b <= 12 else (a, b)  # US order unless impossible
        else:
            year, month, day = int(m.group("y")), int(m.group("m")), int(m.group("d"))
        if not 1970 <= year <= 2100:
            return None
        return dt.date(year, month, day)
    except (ValueError, KeyError):
        return None


def _find_stamps(text: str) -> list[_Stamp]:
    """Every date, date-time and time printed in ``text``, left to right, no overlaps."""
    fixed = _fix_ocr_digits(text)
    cands: list[_Stamp] = []
    for kind, rx in _DATE_RES.items():
        for m in rx.finditer(fixed):
            date = _date_of(kind, m)
            if date is None:
                continue
            zone, ok = _zone_of(m)
            time = _time_of(m)
            if not ok:
                continue
            cands.append(_Stamp(m.start(), m.end(), date, time, zone if time else None))
    for m in _TIME_RE.finditer(fixed):
        time = _time_of(m)
        zone, ok = _zone_of(m)
        if time is None or not ok:
            continue
        strong = m.group("sep") == ":" or bool(m.group("ampm"))
        cands.append(_Stamp(m.start(), m.end(), None, time, zone, strong))
    cands.sort(key=lambda s: (s.start, -(s.end - s.start), s.date is None))
    picked: list[_Stamp] = []
    for s in cands:
        if picked and s.start < picked[-1].end:
            continue
        picked.append(s)
    # "3:14 PM, March 5, 2024" / "3:14 PM · Mar 5, 2024": a time just before a bare date.
    merged: list[_Stamp] = []
    for s in picked:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.date is None
            and s.date is not None
            and s.time is None
            and re.fullmatch(r"\s*(?:[,·•\-–]|on)?\s*", fixed[prev.end : s.start], re.I)
        ):
            merged[-1] = _Stamp(prev.start, s.end, s.date, prev.time, prev.zone)
            continue
        merged.append(s)
    return merged


def _first_dated(text: str) -> _Stamp | None:
    return next((s for s in _find_stamps(text) if s.date is not None), None)


def _stamp_line(text: str) -> tuple[str, list[_Stamp]] | None:
    """('stamps', [...]) for a line that is only timestamps, ('unknown', []) for a day that
    cannot be dated ("Today", "Yesterday", "Tue 3:14 PM", "Mar 5"), else None."""
    core = text.strip().strip("-–—·•|()[]<>* ")
    if not core:
        return None
    if _UNKNOWN_DAY_RE.fullmatch(_fix_ocr_digits(core)):
        return ("unknown", [])
    stamps = _find_stamps(core)
    if not stamps or any(s.date is None and not s.strong_time for s in stamps):
        return None
    residual = core
    for s in reversed(stamps):
        residual = residual[: s.start] + " " + residual[s.end :]
    if _FILLER_RE.sub("", residual).strip():
        return None
    return ("stamps", stamps)


# --------------------------------------------------------------------------------------
# Lines, browser print chrome, labels
# --------------------------------------------------------------------------------------

_URL_RE = re.compile(
    r"(?:https?|file)\s*:\s*/\s*/\S*|about\s*:\s*blank|chrome-extension\s*:|\bwww\.\S+", re.I
)
_PAGE_OF_RE = re.compile(r"\bpage\s*\d{1,3}\s*(?:of|/)\s*\d{1,3}\b", re.I)
_PAGE_OF_BARE_RE = re.compile(r"^\s*\d{1,3}\s+of\s+\d{1,3}\b", re.I)
_PAGE_COUNT_ONLY_RE = re.compile(r"\s*\d{1,3}\s*/\s*\d{1,3}\s*")
_PRINT_STAMP_RE = re.compile(
    r"^\s*\d{1,2}/\d{1,2}/\d{2,4},?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp]\.?\s?[Mm]\.?)?"
)
_APP_TITLE_RE = re.compile(
    r"\b(?:gmail|outlook|mail|messenger|facebook|instagram|messages|yahoo|inbox|imessage)\b|\s[-|]\s",
    re.I,
)

_UP = "A-ZÀ-ÖØ-Þ"
_NAME_TOKEN = rf"[{_UP}][^\W\d_]*(?:['’\-][^\W\d_]+)*\.?"
_NAME = rf"{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,3}}"
_NAME_RE = re.compile(_NAME)
_SENDER = rf"(?:{_NAME}|@[\w.]{{2,30}}|{_PHONE_PAT})"
_CHAT_LINE_RE = re.compile(
    rf"^(?P<sender>{_SENDER})\s*(?:\((?P<t>[^()]{{3,24}})\))?\s*:(?:\s+(?P<msg>\S.*))?$"
)
_CHATLIKE_TITLE_RE = re.compile(rf"^(?:[-–—\]]\s*)?{_SENDER}\s*:\s")
_STOP_WORDS = {
    *(m for m in _MONTHS), "january", "february", "march", "april", "june", "july", "august",
    "sept", "september", "october", "november", "december",
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "today", "yesterday", "tomorrow", "now", "messenger", "facebook", "instagram", "imessage",
    "message", "messages", "text", "sms", "mms", "delivered", "read", "seen", "sent",
    "received", "active", "chats", "chat", "inbox", "gmail", "outlook", "mail", "yahoo",
    "page", "reply", "replied", "forward", "forwarded", "like", "liked", "photo", "video",
    "attachment", "attachments", "note", "notes", "reminder", "ps", "p.s.", "re", "fw", "fwd",
    "subject", "date", "time", "location", "where", "when", "important", "update", "tel",
    "phone", "cell", "mobile", "email", "e-mail", "fax", "web", "website", "address",
    "question", "answer", "regards", "thanks", "thank", "hi", "hello", "dear", "new",
    "details", "info", "contact", "call", "missed", "voice", "audio", "to", "from", "cc",
    "bcc", "edited", "unsent", "typing", "online", "offline", "conversation", "group",
    "http", "https", "www", "ok", "okay", "yes", "no", "sure", "and", "or",
}  # fmt: skip

_LABELS = {
    "ReplyTo": ("Reply-To", r"r\s?e\s?p\s?[l1iI|]\s?y\s?[-–_ ]?\s?t\s?[o0]"),
    "From": ("From", r"f\s?r\s?[o0]\s?(?:m|rn|nn)"),
    "Sent": ("Sent", r"[s5$]\s?e\s?n\s?t"),
    "Date": ("Date", r"d\s?a\s?t\s?e"),
    "Bcc": ("Bcc", r"[b6]\s?[c(]\s?[c(]"),
    "Cc": ("Cc", r"[c(]\s?[c(]"),
    "To": ("To", r"t\s?[o0]"),
    "Subject": ("Subject", r"[s5$]\s?u\s?[b6]\s?j\s?e\s?c\s?t"),
    "Attachments": ("Attachments", r"attachments?"),
    "Importance": ("Importance", r"importance"),
}
_LABEL_RE = re.compile(
    r"^(?:" + "|".join(f"(?P<{k}>{p})" for k, (_, p) in _LABELS.items()) + r")\s*[:;]\s*(?P<value>.*)$",
    re.I,
)
_ADDRESS_LABELS = {"From", "To", "Cc", "Bcc", "Reply-To"}
_DATE_LABELS = {"Sent", "Date"}
_BLOCK_ANCHORS = {"From", "To", "Sent", "Date"}
_SENDER_LINE_RE = re.compile(
    r"^(?P<gmail>(?:\W{0,3}M\s+)?Gmail\s+)?(?P<name>[^<>\[\]:]{0,80}?)\s*<(?P<addr>[^<>]+)>\s*(?P<rest>.*)$"
)
_ATTRIBUTION_RE = re.compile(r"^\s*On\s+(?P<body>.+?)\s*wrote\s*:?\s*$", re.I | re.S)


@dataclass
class _Line:
    page: int  # page number as printed on the Page (1 for plain text)
    no: int  # 1-based line number within that page
    raw: str
    text: str  # quote markers and surrounding spaces removed
    page_index: int = 0  # position of the page in the item, for ordering
    chrome: bool = False
    used: bool = False

    @property
    def blank(self) -> bool:
        return not self.text


def _pages_of(item: Item) -> list[tuple[int, str]]:
    if item.pages:
        return [(p.number, p.text or "") for p in item.pages]
    return [(i + 1, chunk) for i, chunk in enumerate((item.text or "").split("\f"))]


# Patterns tried on every line of a page, compiled once (``re``'s own cache lookup per
# call was a tenth of reading a printout's headers).
_QUOTE_MARKS_RE = re.compile(r"^\s*(?:[>|]\s*)+")
_SPACES_RE = re.compile(r"\s+")
_ABOUT_BLANK_RE = re.compile(r"about\s*:\s*blank", re.I)
_URL_PAGE_COUNT_RE = re.compile(r"\s\d{1,3}\s*/\s*\d{1,3}\s*$")
_ON_RE = re.compile(r"on\s", re.I)
_WROTE_RE = re.compile(r"wrote\s*:?\s*$", re.I)


def _strip_quote(raw: str) -> str:
    return _QUOTE_MARKS_RE.sub("", raw).strip()


def _is_footer_line(s: str) -> bool:
    return bool(
        _ABOUT_BLANK_RE.search(s)
        or (_URL_RE.search(s) and re.search(r"(?:^|\s)\d{1,3}\s*/\s*\d{1,3}\s*$", s))
        or _PAGE_OF_RE.search(s)
        or _PAGE_OF_BARE_RE.match(s)
        or _PAGE_COUNT_ONLY_RE.fullmatch(s)
    )


def _is_header_line(s: str, nxt: str | None, page_has_footer: bool, first: bool) -> bool:
    """Chrome/Edge: "3/14/24, 10:02 AM   <title>"; Firefox: "<title>   <url>".

    A date and time alone count only on the page's first line, and only when the page
    also has a print footer or the next line looks like a web page title.
    """
    if _URL_RE.search(s) or _PAGE_OF_RE.search(s):
        return True
    m = _PRINT_STAMP_RE.match(_fix_ocr_digits(s))
    if not m:
        return False
    rest = s[m.end() :].strip()
    if rest:
        return not _CHATLIKE_TITLE_RE.match(rest)
    return first and (page_has_footer or bool(nxt and _APP_TITLE_RE.search(nxt)))


def _norm(s: str) -> str:
    return _SPACES_RE.sub(" ", s).strip().casefold()


def _mark_chrome(pages: list[list[_Line]]) -> list[Evidence]:
    evidence: list[Evidence] = []
    header_texts: set[str] = set()
    hit: dict[int, set[str]] = {}
    for lines in pages:
        nonblank = [ln for ln in lines if not ln.blank]
        if not nonblank:
            continue
        footers = [ln for ln in nonblank[-2:] if _is_footer_line(ln.raw)]
        for ln in footers:
            ln.chrome = True
            hit.setdefault(ln.page, set()).add("footer")
        for k, ln in enumerate(nonblank[:2]):
            if ln.chrome:
                continue
            nxt = nonblank[k + 1].raw if k + 1 < len(nonblank) else None
            if _is_header_line(ln.raw, nxt, bool(footers), first=k == 0):
                ln.chrome = True
                header_texts.add(_norm(ln.raw))
                hit.setdefault(ln.page, set()).add("header")
    # Pages joined without a form feed: a repeat of a found header, a URL with "N/M"
    # at its end, or about:blank, wherever it stands.
    for lines in pages:
        for ln in lines:
            if ln.chrome or ln.blank:
                continue
            if header_texts and _norm(ln.raw) in header_texts:  # most pages have no print header
                ln.chrome = True
                hit.setdefault(ln.page, set()).add("header")
            elif _ABOUT_BLANK_RE.search(ln.raw) or (_URL_RE.search(ln.raw) and _URL_PAGE_COUNT_RE.search(ln.raw)):
                ln.chrome = True
                hit.setdefault(ln.page, set()).add("footer")
    for page in sorted(hit):
        for part in ("header", "footer"):
            if part in hit[page]:
                evidence.append(
                    Evidence("print_header", f"browser print {part} on page {page} ignored", 0.0)
                )
    return evidence


# --------------------------------------------------------------------------------------
# The reading itself
# --------------------------------------------------------------------------------------


@dataclass
class _Found:
    multi_page: bool
    local: dt.tzinfo
    participants: list[tuple[tuple[int, int], Participant]] = field(default_factory=list)
    dates: list[dt.datetime] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)

    def where(self, ln: _Line) -> str:
        return f"line {ln.no} on page {ln.page}" if self.multi_page else f"line {ln.no}"

    def add_people(self, people: list[tuple[_Line, Participant]], detail: str, weight: float) -> None:
        """Record participants with the line each was printed on (output is in page order)."""
        if people:
            self.participants.extend(((ln.page_index, ln.no), p) for ln, p in people)
            self.evidence.append(Evidence("participants", detail, weight))

    def add_date(self, stamp: _Stamp, detail: str, weight: float) -> None:
        self.dates.append(stamp.to_utc(self.local))
        self.evidence.append(Evidence("date", detail, weight))


def _next_nonblank(lines: list[_Line], i: int) -> int | None:
    for j in range(i + 1, len(lines)):
        if lines[j].chrome:
            continue
        if not lines[j].blank:
            return j
    return None


def _read_headers(lines: list[_Line], found: _Found) -> bool:
    """Email header blocks, Gmail sender lines and "On ... wrote:" lines. True if any."""
    labelled: list[tuple[int, int, str, str, bool]] = []  # (start, end, label, value, exact)
    for i, ln in enumerate(lines):
        if ln.chrome or ln.blank or ln.used:
            continue
        m = _LABEL_RE.match(ln.text)
        if not m:
            continue
        key = next(k for k in _LABELS if m.group(k) is not None)
        canon = _LABELS[key][0]
        exact = re.sub(r"\s", "", m.group(key)).casefold() == canon.casefold()
        labelled.append((i, i, canon, m.group("value").strip(), exact))
        ln.used = True

    # Continuation lines of address lists (a long "To:" wrapped by Outlook).
    for n, (start, _, canon, value, exact) in enumerate(labelled):
        end = start
        if canon in _ADDRESS_LABELS:
            j = start + 1
            while j < len(lines):
                nxt = lines[j]
                if nxt.chrome or nxt.blank or nxt.used:
                    break
                pieces = _split_outside(nxt.text, ";")
                list_shaped = all(_EMAIL_RE.search(p) for p in pieces)
                if not (value.rstrip().endswith((";", ",")) or list_shaped):
                    break
                value = value + " " + nxt.text
                nxt.used = True
                end = j
                j += 1
        labelled[n] = (start, end, canon, value, exact)

    # Blocks: header lines at most one line apart.
    blocks: list[list[tuple[int, int, str, str, bool]]] = []
    for entry in labelled:
        if blocks and entry[0] - blocks[-1][-1][1] <= 2:
            blocks[-1].append(entry)
        else:
            blocks.append([entry])

    any_header = False
    for block in blocks:
        labels = {e[2] for e in block}
        valid = len(labels) >= 2 and bool(labels & _BLOCK_ANCHORS)
        any_header = any_header or valid
        for start, _end, canon, value, exact in block:
            ln = lines[start]
            weight = 0.9 if exact else 0.8
            if canon in _ADDRESS_LABELS:
                people = _parse_address_list(value)
                if not valid:
                    people = [p for p in people if p.address]
                found.add_people([(ln, p) for p in people], f"header '{canon}:' {found.where(ln)}", weight)
            elif canon in _DATE_LABELS and valid:
                stamp = _first_dated(value)
                if stamp is None and not value:
                    j = _next_nonblank(lines, start)
                    if j is not None and j - start <= 2 and not lines[j].used:
                        stamp = _first_dated(lines[j].text)
                if stamp is not None:
                    found.add_date(stamp, f"header '{canon}:' {found.where(ln)}", weight)

    # "On Tue, Mar 5, 2024 at 3:14 PM Elena Marsh <...> wrote:" (one line or two).
    for i, ln in enumerate(lines):
        if ln.chrome or ln.blank or ln.used or not _ON_RE.match(ln.text):
            continue
        text, last = ln.text, i
        if not _WROTE_RE.search(text):
            j = _next_nonblank(lines, i)
            if j is None or j - i > 2 or not _WROTE_RE.search(lines[j].text):
                continue
            text, last = text + " " + lines[j].text, j
        m = _ATTRIBUTION_RE.match(text)
        stamp = _first_dated(m.group("body")) if m else None
        if m is None or stamp is None:
            continue
        for k in range(i, last + 1):
            lines[k].used = True
        any_header = True
        found.add_date(stamp, f"quote attribution {found.where(ln)}", 0.8)
        who = m.group("body")[stamp.end :].strip(" ,")
        people = _parse_address_list(who) if who else []
        found.add_people([(ln, p) for p in people], f"quote attribution {found.where(ln)}", 0.8)

    # Gmail print: "Name <address>   <date>" (date here or on the next line) and the
    # account line "Gmail   Name <address>".
    for i, ln in enumerate(lines):
        if ln.chrome or ln.blank or ln.used:
            continue
        m = _SENDER_LINE_RE.match(ln.text)
        if not m:
            continue
        person = _parse_one(f"{m.group('name')} <{m.group('addr')}>")
        if person is None or person.address is None:
            continue
        rest = m.group("rest").strip()
        if m.group("gmail"):
            ln.used = True
            found.add_people([(ln, person)], f"print account {found.where(ln)}", 0.7)
            continue
        stamp = None
        date_line = ln
        if rest:
            kind = _stamp_line(rest)
            if kind and kind[0] == "stamps" and kind[1][0].date is not None:
                stamp = kind[1][0]
        else:
            j = _next_nonblank(lines, i)
            if j is not None and j - i <= 2 and not lines[j].used:
                kind = _stamp_line(lines[j].text)
                if kind and kind[0] == "stamps" and kind[1][0].date is not None:
                    stamp, date_line = kind[1][0], lines[j]
                    lines[j].used = True
        if stamp is None:
            continue
        ln.used = True
        any_header = True
        found.add_people([(ln, person)], f"header 'sender' {found.where(ln)}", 0.85)
        found.add_date(stamp, f"header 'sender' date {found.where(date_line)}", 0.85)
    return any_header


def _is_name(text: str) -> bool:
    if not _NAME_RE.fullmatch(text):
        return False
    words = [w.strip(".").casefold() for w in text.split()]
    if any(w in _STOP_WORDS for w in words):
        return False
    return len(text.replace(" ", "")) >= 2


def _read_chat(lines: list[_Line], found: _Found) -> None:
    live = [ln for ln in lines if not ln.chrome]
    kinds: list[tuple[str, list[_Stamp]] | None] = [
        None if ln.blank else _stamp_line(ln.text) for ln in live
    ]

    day: dt.date | None = None
    day_only: set[dt.date] = set()
    stamps: list[_Stamp] = []
    senders: dict[str, list[tuple[Participant, bool, _Line]]] = {}
    owner_lines = 0
    name_lines: dict[str, list[tuple[str, Participant, _Line]]] = {}  # key -> [(rule, ...)]
    phone_lines: list[tuple[_Line, Participant]] = []

    def take(s: _Stamp) -> None:
        nonlocal day
        if s.date is not None:
            day = s.date
            if s.time is None:
                day_only.add(s.date)
            else:
                stamps.append(s)
        elif day is not None and s.time is not None:
            stamps.append(_Stamp(s.start, s.end, day, s.time, s.zone))

    def boundary_before(k: int) -> bool:
        return k == 0 or live[k - 1].blank or (kinds[k - 1] or ("", []))[0] == "stamps"

    def next_idx(k: int) -> int | None:
        for j in range(k + 1, len(live)):
            if not live[j].blank:
                return j
        return None

    for k, ln in enumerate(live):
        if ln.blank or ln.used:
            continue
        kind = kinds[k]
        if kind is not None:
            if kind[0] == "unknown":
                day = None
            else:
                for s in kind[1]:
                    take(s)
            continue
        text = ln.text

        # A timestamp in front: "[3/5/24, 3:14 PM] Maya: ..." / "3:14 PM - Maya: ...".
        lead = _find_stamps(text)
        has_ts = False
        if lead and lead[0].start <= 1 and (lead[0].date is not None or lead[0].strong_time):
            cut = re.match(r"[\]\)\s,\-–—|:]*", text[lead[0].end :])
            rest = text[lead[0].end + (cut.end() if cut else 0) :]
            if _CHAT_LINE_RE.match(rest):
                take(lead[0])
                text, has_ts = rest, True

        m = _CHAT_LINE_RE.match(text)
        if m:
            raw_sender = m.group("sender").strip()
            if _is_owner(raw_sender):
                owner_lines += 1
                continue
            if m.group("t"):
                kind_t = _stamp_line(m.group("t"))
                if kind_t and kind_t[0] == "stamps":
                    for s in kind_t[1]:
                        take(s)
                    has_ts = True
            person: Participant | None = None
            if raw_sender.startswith("@"):
                person = Participant(raw_sender, None)
            elif phone := (normalise_phone(raw_sender) if re.search(r"\d", raw_sender) else None):
                person = Participant(None, phone)
            elif _is_name(raw_sender):
                person = Participant(_clean_name(raw_sender), None)
            if person is not None:
                key = (person.address or person.name or "").casefold()
                senders.setdefault(key, []).append((person, has_ts, ln))
            continue

        # An SMS screenshot's contact line: "< +1 (617) 555-0134 >", "Maya (617) 555-0134".
        core = re.sub(r"^(?:to|contact|text message with|conversation with)\s*:?\s*", "", text, flags=re.I)
        core = core.strip("<>‹›«» \t").removesuffix("Details").strip("<>‹›«» \t")
        fixed = _fix_ocr_digits(core)
        pm = _PHONE_RE.search(fixed)
        if pm and (phone := normalise_phone(pm.group(0))):
            before, after = core[: pm.start()].strip(" ,·-"), core[pm.end() :].strip(" ,·-")
            if not after and (not before or _is_name(before)):
                phone_lines.append((ln, Participant(before or None, phone)))
                continue

        # Messenger: a name on its own line (or with its time), then the messages.
        name_text, trailing = text, None
        if not _is_name(text):
            tail = _find_stamps(text)
            if not tail or tail[-1].end != len(_fix_ocr_digits(text)):
                continue
            before = text[: tail[-1].start].strip(" ,·•|-–")
            if not _is_name(before) or not (tail[-1].date is not None or tail[-1].strong_time):
                continue
            name_text, trailing = before, tail[-1]
        person = Participant(_clean_name(name_text), None)
        key = name_text.casefold()
        j = next_idx(k)
        if trailing is not None:
            take(trailing)
            name_lines.setdefault(key, []).append(("sure", person, ln))
        elif j is not None and boundary_before(k) and (kinds[j] or ("", []))[0] == "stamps":
            name_lines.setdefault(key, []).append(("sure", person, ln))
        elif j is not None and boundary_before(k) and kinds[j] is None:
            j2 = next_idx(j)
            if j2 is not None and (kinds[j2] or ("", []))[0] == "stamps":
                name_lines.setdefault(key, []).append(("maybe", person, ln))

    chat_people: list[tuple[_Line, Participant]] = []
    for entries in senders.values():
        if len(entries) >= 2 or any(ts for _, ts, _ in entries) or owner_lines:
            chat_people.append((entries[0][2], entries[0][0]))
    found.add_people(chat_people, f"chat sender lines ({len(chat_people)} found)", 0.6)

    # A name line directly above a timestamp (or carrying one) is sure; one above a single
    # message line and then a timestamp (Facebook's download layout) counts once that
    # layout is established: the name recurs, or another name line is sure.
    established = any(
        any(rule == "sure" for rule, _, _ in entries) or len(entries) >= 2
        for entries in name_lines.values()
    )
    named = [(entries[0][2], entries[0][1]) for entries in name_lines.values() if established]
    found.add_people(named, f"chat sender name lines ({len(named)} found)", 0.6)

    for ln, person in phone_lines:
        found.add_people([(ln, person)], f"phone number {found.where(ln)}", 0.7)

    local_days = {s.to_utc(found.local).astimezone(found.local).date() for s in stamps}
    for d in sorted(day_only - local_days):
        stamps.append(_Stamp(0, 0, d, None, None))
    if stamps:
        for s in stamps:
            found.dates.append(s.to_utc(found.local))
        found.evidence.append(Evidence("date", f"chat timestamps ({len(stamps)} found)", 0.7))


def _as_utc(value: dt.datetime, local: dt.tzinfo) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=local)
    return value.astimezone(UTC)


def apply_printout_facts(
    item: Item, *, file_modified: dt.datetime | None, timezone: str = "America/New_York"
) -> Item:
    """Fill ``item``'s participants and sent dates from what its printed pages say.

    Reads ``item.pages`` (or ``item.text``, pages split on form feeds). Participants found
    are added to those already on the item (deduplicated by address, then by name,
    case-insensitively). When dates are found, ``sent_at_first``/``sent_at_last`` become the
    earliest and latest of them (aware, UTC). When none is found and the item has no date
    yet, ``file_modified`` (naive means local ``timezone``) is used for both, with a
    low-weight ``date_fallback`` evidence. Evidence details name fields and positions only.
    Returns the same item, mutated.
    """
    local = ZoneInfo(timezone)
    pages: list[list[_Line]] = []
    for index, (number, text) in enumerate(_pages_of(item)):
        raws = text.splitlines()
        pages.append(
            [_Line(number, n + 1, r, _strip_quote(r), index) for n, r in enumerate(raws)]
        )
    evidence = _mark_chrome(pages)
    lines = [ln for page in pages for ln in page]

    found = _Found(multi_page=len(pages) > 1, local=local)
    if not _read_headers(lines, found):
        for ln in lines:  # labels on a page without a header block are not email headers
            ln.used = False
        _read_chat(lines, found)

    people = list(item.participants)
    for _, p in sorted(found.participants, key=lambda entry: entry[0]):
        _merge_participant(people, p)
    item.participants = people

    evidence.extend(found.evidence)
    if found.dates:
        item.sent_at_first = min(found.dates)
        item.sent_at_last = max(found.dates)
    elif item.sent_at_first is None and file_modified is not None:
        when = _as_utc(file_modified, local)
        item.sent_at_first = item.sent_at_last = when
        evidence.append(
            Evidence("date_fallback", "no date printed on the page; file modification time used", 0.2)
        )
    for ev in evidence:
        if ev not in item.evidence:
            item.evidence.append(ev)
    return item
