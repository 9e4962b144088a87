"""Per-patient date shifting (Retain Longitudinal Temporal Information with Modified
Dates Option, PS3.15 E.3.6).

Every date of one patient moves by the same whole number of days, derived from
HMAC-SHA256(key, Patient ID): intervals between studies, series and acquisitions are
preserved exactly, times of day are untouched, and the same patient gets the same offset
in every run with the same key. A DT keeps its time and UTC offset; a range (``A-B``,
``-B``, ``A-``, as a query or a stored matching key has) moves end by end. Values that
cannot be parsed (a year alone, ``2019.03.14``) are emptied rather than kept, so an
unusual format never lets a real date through.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac

__all__ = ["MAX_SHIFT_DAYS", "date_offset_days", "shift_da", "shift_dt"]

MAX_SHIFT_DAYS = 3650
"""Dates move back by 1 to this many days."""


def date_offset_days(patient_key: str, key: bytes) -> int:
    """The (negative) day offset for the patient identified by ``patient_key``."""
    digest = hmac.new(key, b"date-offset:" + patient_key.encode("utf-8"), hashlib.sha256)
    return -(int.from_bytes(digest.digest()[:8], "big") % MAX_SHIFT_DAYS + 1)


def _shift_date(text: str, days: int) -> str | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return (day + _dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def _shift_datetime(text: str, days: int) -> str | None:
    shifted = _shift_date(text[:8], days)
    return None if shifted is None else shifted + text[8:]


def _datetime_like(text: str) -> bool:
    return len(text) >= 8 and text[:8].isdigit()


def _range_ends(part: str, datetime: bool) -> tuple[str, str] | None:
    """The two ends of a range ``A-B`` (one may be empty), or None when not a range.

    In a DT a hyphen also starts a negative UTC offset (``...101010-0500``): there it is a
    range only where each end is empty or a datetime of at least 8 digits.
    """
    for at, char in enumerate(part):
        if char != "-":
            continue
        left, right = part[:at], part[at + 1 :]
        if not datetime or all(not end or _datetime_like(end) for end in (left, right)):
            return left, right
    return None


def _shift_values(value: str, days: int, *, datetime: bool) -> str:
    """Shift each value of ``value`` (``\\``-separated), ranges end by end; else ""."""
    shift = _shift_datetime if datetime else _shift_date
    out = []
    for part in value.split("\\"):
        part = part.strip()
        ends = _range_ends(part, datetime)
        pieces = [part] if ends is None else list(ends)
        shifted = [shift(p, days) if p else "" for p in pieces]
        if any(s is None for s in shifted) or (part and not any(pieces)):
            return ""
        out.append("-".join(s or "" for s in shifted))
    return "\\".join(out)


def shift_da(value: str, days: int) -> str:
    """Shift a DA value (multi-valued with ``\\``, or a range ``A-B``); unparsable: ""."""
    return _shift_values(value, days, datetime=False)


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value (or of each end of a range), keeping time and
    UTC offset; unparsable values become ""."""
    return _shift_values(value, days, datetime=True)
