"""Per-patient date shifting (Retain Longitudinal Temporal Information with Modified
Dates Option, PS3.15 E.3.6).

Every date of one patient moves by the same whole number of days, derived from
HMAC-SHA256(key, Patient ID): intervals between studies, series and acquisitions are
preserved exactly, times of day are untouched, and the same patient gets the same offset
in every run with the same key. Values that cannot be parsed are emptied rather than
kept, so an unusual format never lets a real date through.
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


def shift_da(value: str, days: int) -> str:
    """Shift a DA value (possibly multi-valued with ``\\``); unparsable values become ""."""
    out = []
    for part in value.split("\\"):
        part = part.strip()
        if not part:
            out.append("")
            continue
        shifted = _shift_date(part, days)
        if shifted is None:
            return ""
        out.append(shifted)
    return "\\".join(out)


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value, keeping time and UTC offset; else ""."""
    out = []
    for part in value.split("\\"):
        part = part.strip()
        if not part:
            out.append("")
            continue
        shifted = _shift_date(part[:8], days)
        if shifted is None:
            return ""
        out.append(shifted + part[8:])
    return "\\".join(out)
