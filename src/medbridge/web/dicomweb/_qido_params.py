"""A QIDO-RS query string read into a `medbridge.archive.search.Search` (PS3.18 8.3.4).

``{attributeID}={value}`` pairs are matching keys, an attributeID being a keyword
(``PatientName``) or a tag in hex (``00100010``); their values follow PS3.4 C.2.2.2
(``\\`` or, for UIDs, ``,`` lists, ``*``/``?`` wildcards, ``a-b`` date and time ranges,
an empty value for universal matching). ``includefield`` (repeated or comma-separated,
``all``), ``fuzzymatching``, ``limit`` and ``offset`` are the query parameters of
8.3.4.x. Values arrive percent-decoded (Starlette decodes the query string), so
``PatientName=DOE%5EJOHN`` matches ``DOE^JOHN``.

Errors a client can fix are `QueryError`s (answered 400 with the reason): an unknown
attribute or parameter, a malformed UID, date, time or number, a wildcard where the VR
allows none. An attribute the index cannot match on (a valid keyword it does not keep,
or a nested ``sequence.attribute``) is ignored as 8.3.4.1 allows and named in a
``Warning: 299`` header, and still returned when the stored file has it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from medbridge.archive import Level, is_valid_uid
from medbridge.archive.search import Search, searchable_keys
from medbridge.errors import QueryError

__all__ = ["PARAMETERS", "QidoQuery", "parse_query", "resolve_attribute"]

#: The query parameters that are not attributes (PS3.18 8.3.4 and 8.3.3.1 ``accept``).
PARAMETERS = frozenset({"limit", "offset", "fuzzymatching", "includefield", "accept", "charset"})

#: Largest limit/offset: beyond it SQL integers overflow (a 5xx, never acceptable).
_MAX_INT = 2**31 - 1
_MAX_VALUE = 1024
_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_DA = re.compile(r"\d{8}")
_TM = re.compile(r"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?")
_DT = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?")
_INTEGER_VRS = {"IS": (-(2**31), 2**31 - 1), "US": (0, 65535), "UL": (0, 2**32 - 1)}
_INTEGER_VRS |= {"SS": (-32768, 32767), "SL": (-(2**31), 2**31 - 1)}
_NO_WILDCARD_VRS = {"UI", "DA", "TM", "DT", *_INTEGER_VRS, "DS", "FL", "FD", "SQ"}
_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"}


@dataclass
class QidoQuery:
    """What a QIDO-RS request asks for, validated.

    Attributes
    ----------
    search:
        Level, matching keys, fuzzy flag and page (columns are chosen by the renderer).
    include:
        Keywords to return beyond the level's defaults, matching keys included.
    include_all:
        ``includefield=all``: every attribute the index holds for the level.
    ignored:
        Matching keys the index cannot match on, for the Warning header.
    limited:
        Whether the client gave a limit (a cut answer then gets a Warning).
    """

    search: Search
    include: list[str] = field(default_factory=list)
    include_all: bool = False
    ignored: list[str] = field(default_factory=list)
    limited: bool = False


def resolve_attribute(attribute: str) -> str | None:
    """The keyword of an attributeID (keyword or hex tag); None for a nested path.

    Raises
    ------
    QueryError
        If it names no attribute of the DICOM dictionary.
    """
    name = attribute.strip()
    if "." in name:
        for piece in name.split("."):
            resolve_attribute(piece)
        return None
    if _HEX_TAG.fullmatch(name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise QueryError(f"attribute {name} is not in the DICOM dictionary")
        return str(keyword)
    if tag_for_keyword(name) is None:
        raise QueryError(
            f"unknown query parameter or attribute {name!r}: use a DICOM keyword, a tag "
            f"in hex, or one of {', '.join(sorted(PARAMETERS))}"
        )
    return name


def parse_query(
    pairs: Iterable[tuple[str, str]], level: Level, fixed: Mapping[str, str]
) -> QidoQuery:
    """Read a request's query pairs at `level`, with the path's UIDs in `fixed`.

    Raises
    ------
    QueryError
        For anything malformed (see the module docstring).
    """
    matches: list[tuple[str, str]] = []
    for name, uid in fixed.items():
        if not is_valid_uid(uid):
            raise QueryError(f"malformed {name} {uid!r} in the URL")
        matches.append((name, uid))
    query = QidoQuery(Search(level))
    fuzzy = False
    limit: int | None = None
    offset = 0
    seen: set[str] = set()
    allowed = searchable_keys(level)
    for name, value in pairs:
        key = name.strip()
        if key == "limit":
            limit = _integer(key, value)
            query.limited = True
        elif key == "offset":
            offset = _integer(key, value)
        elif key == "fuzzymatching":
            fuzzy = _boolean(key, value)
        elif key == "includefield":
            _include(query, value)
        elif key in ("accept", "charset"):
            continue
        else:
            keyword = resolve_attribute(key)
            if keyword is None:
                query.ignored.append(key)
                continue
            if keyword in seen:
                raise QueryError(f"{keyword} given twice; give one value (a list with '\\')")
            seen.add(keyword)
            text = _valid_value(keyword, value)
            query.include.append(keyword)
            if keyword not in allowed:
                query.ignored.append(keyword)
            elif text:
                matches.append((keyword, text))
    query.search = Search(level, tuple(matches), fuzzy=fuzzy, limit=limit, offset=offset)
    return query


def _include(query: QidoQuery, value: str) -> None:
    for item in value.split(","):
        name = item.strip()
        if not name:
            continue
        if name.lower() == "all":
            query.include_all = True
            continue
        keyword = resolve_attribute(name)
        if keyword is None:
            query.ignored.append(name)
        elif keyword not in query.include:
            query.include.append(keyword)


def _integer(key: str, value: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) > _MAX_INT:
        raise QueryError(f"{key}={value!r}: a whole number from 0 to {_MAX_INT}")
    return int(text)


def _boolean(key: str, value: str) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise QueryError(f"{key}={value!r}: true or false")
    return text == "true"


def _valid_value(keyword: str, value: str) -> str:
    """The matching value in C.2.2.2 syntax, checked against the attribute's VR."""
    text = value.strip()
    if len(text) > _MAX_VALUE:
        raise QueryError(f"{keyword}: value longer than {_MAX_VALUE} characters")
    if any(ord(c) < 32 and c not in "\t" for c in text):
        raise QueryError(f"{keyword}: control characters are not allowed in a value")
    if not text or text == "*":
        return ""
    vr = dictionary_VR(keyword)
    if any(v in _BINARY_VRS for v in vr.split(" or ")):
        raise QueryError(f"{keyword} ({vr}) cannot be a matching key")
    if vr in _NO_WILDCARD_VRS and ("*" in text or "?" in text):
        raise QueryError(f"{keyword} ({vr}) allows no wildcards: {value!r}")
    if vr == "UI":
        uids = [u.strip() for u in re.split(r"[,\\]", text) if u.strip()]
        bad = [u for u in uids if not is_valid_uid(u)]
        if bad:
            raise QueryError(f"{keyword}: malformed UID {bad[0]!r}")
        return "\\".join(uids)
    if vr in ("DA", "TM", "DT"):
        _check_temporal(keyword, vr, text)
    elif vr in _INTEGER_VRS:
        low, high = _INTEGER_VRS[vr]
        for item in text.split("\\"):
            try:
                number = int(item)
            except ValueError:
                raise QueryError(f"{keyword} ({vr}): {item!r} is not a whole number") from None
            if not low <= number <= high:
                raise QueryError(f"{keyword} ({vr}): {number} is out of range")
    return text


def _check_temporal(keyword: str, vr: str, text: str) -> None:
    pattern = {"DA": _DA, "TM": _TM, "DT": _DT}[vr]
    if "\\" in text and "-" in text:
        raise QueryError(f"{keyword} ({vr}): a list of ranges is not supported: {text!r}")
    for item in text.split("\\"):
        bounds = _range_bounds(vr, item)
        if bounds is None or not any(bounds):
            raise QueryError(f"{keyword} ({vr}): malformed value or range {item!r}")
        for bound in bounds:
            if bound and not _valid_temporal(vr, pattern, bound):
                raise QueryError(f"{keyword} ({vr}): malformed {vr} {bound!r} in {item!r}")
        lower, upper = bounds
        if lower and upper and lower > upper:
            raise QueryError(f"{keyword}: range {item!r} ends before it starts")


def _range_bounds(vr: str, item: str) -> tuple[str, str] | None:
    if vr != "DT":
        if item.count("-") > 1:
            return None
        lower, _, upper = item.partition("-")
        return lower, upper
    # a DT may carry a -HHMM offset: split at a '-' that starts a date (or ends the text)
    for i, char in enumerate(item):
        if char == "-" and (i == 0 or i == len(item) - 1 or len(item) - i - 1 >= 4):
            lower, upper = item[:i], item[i + 1 :]
            if _DT.fullmatch(lower or "0000") and _DT.fullmatch(upper or "0000"):
                return lower, upper
    return item, item


def _valid_temporal(vr: str, pattern: re.Pattern[str], value: str) -> bool:
    if not pattern.fullmatch(value):
        return False
    if vr in ("DA", "DT") and len(value) >= 8:
        try:
            date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            return False
    if vr == "TM":
        hh, mm, ss = int(value[:2]), int(value[2:4] or 0), int(value[4:6] or 0)
        return hh < 24 and mm < 60 and ss < 61
    return True
