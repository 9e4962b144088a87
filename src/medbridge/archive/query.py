"""C-FIND matching rules as SQL, and response identifiers built from index rows.

The rules are PS3.4 C.2.2.2 "Attribute Matching", one function per matching type as
pynetdicom's ``apps/qrscp/db.py`` has them:

- C.2.2.2.1 single value matching (exact; PN case-insensitive, which C.2.2.2.1 allows),
- C.2.2.2.2 list of UID matching (``uid1\\uid2``),
- C.2.2.2.3 universal matching (an empty key matches everything and is a return key),
- C.2.2.2.4 wildcard matching (``*`` any run, ``?`` one character),
- C.2.2.2.5 range matching for DA, TM and DT (``a-b``, ``-b``, ``a-``).

Matching keys may come from the query level and the levels above it (PS3.4 C.4.1.2.1
hierarchical search, relaxed to relational across levels, which is a superset). Keys at
levels below the query level take no part in matching and come back empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from medbridge.archive.index import (
    IMAGE_COLUMNS,
    PATIENT_COLUMNS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    instance,
    patient,
    series,
    study,
)
from medbridge.archive.names import fuzzy_words
from medbridge.errors import QueryError

__all__ = [
    "COMPUTED_KEYS",
    "Level",
    "QueryModel",
    "QuerySpec",
    "build_select",
    "fuzzy_clause",
    "level_at_or_above",
    "levels_upto",
    "match_clause",
    "parse_identifier",
]


class Level(StrEnum):
    """Query/Retrieve Level (0008,0052) defined terms, PS3.4 C.6."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class QueryModel(StrEnum):
    """The Query/Retrieve information models medbridge serves (PS3.4 C.6.1, C.6.2)."""

    PATIENT_ROOT = "PATIENT"
    STUDY_ROOT = "STUDY"


_ORDER = [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE]
_LEVEL_COLUMNS = {
    Level.PATIENT: PATIENT_COLUMNS,
    Level.STUDY: STUDY_COLUMNS,
    Level.SERIES: SERIES_COLUMNS,
    Level.IMAGE: IMAGE_COLUMNS,
}
_UPPER = {
    "PatientName": patient.c.patient_name_upper,
    "ReferringPhysicianName": study.c.referring_physician_name_upper,
}
_FUZZY = {
    "PatientName": patient.c.patient_name_fuzzy,
    "ReferringPhysicianName": study.c.referring_physician_name_fuzzy,
}

#: Return keys computed from the index rather than stored (PS3.4 C.6.1.1.2-C.6.2.1.2),
#: and the level they belong to.
COMPUTED_KEYS: dict[str, Level] = {
    "NumberOfPatientRelatedStudies": Level.PATIENT,
    "NumberOfPatientRelatedSeries": Level.PATIENT,
    "NumberOfPatientRelatedInstances": Level.PATIENT,
    "NumberOfStudyRelatedSeries": Level.STUDY,
    "NumberOfStudyRelatedInstances": Level.STUDY,
    "ModalitiesInStudy": Level.STUDY,
    "SOPClassesInStudy": Level.STUDY,
    "NumberOfSeriesRelatedInstances": Level.SERIES,
}

#: Keys that describe the query rather than the data.
_CONTROL_KEYS = {
    "QueryRetrieveLevel",
    "SpecificCharacterSet",
    "RetrieveAETitle",
    "TimezoneOffsetFromUTC",
}


@dataclass(frozen=True)
class QuerySpec:
    """A parsed C-FIND/C-MOVE/C-GET identifier.

    Attributes
    ----------
    level:
        The Query/Retrieve Level.
    matches:
        ``(keyword, value)`` of each key with a non-empty value at or above the level.
    return_keys:
        Every keyword of the identifier, in order, control keys excluded.
    """

    level: Level
    matches: tuple[tuple[str, str], ...]
    return_keys: tuple[str, ...]


def levels_upto(level: Level) -> list[Level]:
    """Return the levels from PATIENT down to `level`."""
    return _ORDER[: _ORDER.index(level) + 1]


def parse_identifier(identifier: Dataset, model: QueryModel = QueryModel.STUDY_ROOT) -> QuerySpec:
    """Read the level, matching keys and return keys of a request identifier.

    Raises
    ------
    QueryError
        If (0008,0052) 'Query/Retrieve Level' is missing or not valid for `model`
        (PATIENT is not a level of the Study Root model, PS3.4 C.6.2).
    """
    raw = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    try:
        level = Level(raw)
    except ValueError:
        raise QueryError(f"invalid (0008,0052) 'Query/Retrieve Level' {raw!r}") from None
    if model is QueryModel.STUDY_ROOT and level is Level.PATIENT:
        raise QueryError("PATIENT level is not part of the Study Root model")
    allowed = {kw for lv in levels_upto(level) for kw in _LEVEL_COLUMNS[lv]}
    if level_at_or_above(Level.STUDY, level):
        allowed.add("ModalitiesInStudy")
    matches: list[tuple[str, str]] = []
    keys: list[str] = []
    for elem in identifier:
        kw = elem.keyword
        if not kw or kw in _CONTROL_KEYS or elem.tag.group in (0x0000, 0x0002):
            continue
        keys.append(kw)
        value = _element_text(elem)
        if value and kw in allowed:
            matches.append((kw, value))
    return QuerySpec(level=level, matches=tuple(matches), return_keys=tuple(keys))


def level_at_or_above(a: Level, b: Level) -> bool:
    """Return whether level `a` is `b` or above it (PATIENT is the top)."""
    return _ORDER.index(a) <= _ORDER.index(b)


def _element_text(elem: DataElement) -> str:
    """Return a key's value as the string the wire carried (multi-values joined by \\)."""
    if elem.VR == "SQ":
        return ""
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.decode("ascii", "replace").strip("\x00 ")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Sequence):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def build_select(spec: QuerySpec, *, columns_level: Level | None = None) -> sa.Select[Any]:
    """Return the SELECT for the entities at ``spec.level`` that match ``spec.matches``.

    The columns are the primary key and indexed attributes of every level down to
    `columns_level` (default ``spec.level``); rows are ordered by primary key so that
    answers are stable.
    """
    level = spec.level
    cols_level = columns_level or level
    cols: list[Any] = []
    for lv in levels_upto(cols_level):
        table = _table(lv)
        cols.append(table.c.pk.label(f"{lv.lower()}_pk"))
        cols.extend(c.label(kw) for kw, c in _LEVEL_COLUMNS[lv].items())
        if lv is Level.STUDY:
            cols += [study.c.num_series, study.c.num_instances.label("study_num_instances")]
        if lv is Level.SERIES:
            cols.append(series.c.num_instances.label("series_num_instances"))
        if lv is Level.IMAGE:
            cols += [instance.c.relpath, instance.c.transfer_syntax_uid, instance.c.size]
    joined: Any = patient
    for lv in levels_upto(level)[1:]:
        joined = joined.join(_table(lv))
    stmt = sa.select(*cols).select_from(joined)
    for kw, value in spec.matches:
        clause = match_clause(kw, value)
        if clause is not None:
            stmt = stmt.where(clause)
    return stmt.order_by(_table(level).c.pk)


def _table(level: Level) -> sa.Table:
    tables = {Level.PATIENT: patient, Level.STUDY: study, Level.SERIES: series}
    return tables.get(level, instance)


def match_clause(keyword: str, value: str) -> sa.ColumnElement[bool] | None:
    """Return the SQL condition for one matching key, or None for universal matching.

    Chooses the matching type of PS3.4 C.2.2.2 from the key's VR and value.
    """
    if keyword == "ModalitiesInStudy":
        return _search_modalities_in_study(value)
    column = _column_for(keyword)
    if column is None or value in ("", "*"):
        return None  # C.2.2.2.3 universal matching
    vr = dictionary_VR(keyword)
    if vr == "UI":
        return _search_uid_list(column, value)
    if vr in ("DA", "TM", "DT") and "-" in value:
        return _search_range(column, value, vr)
    if vr in ("IS", "US", "SL", "UL", "SS"):
        return _search_integer(column, value)
    if vr == "PN":
        column = _UPPER[keyword]
        value = value.upper()
    if "*" in value or "?" in value:
        return _search_wildcard(column, value)
    return _search_single_value(column, value, vr)


def fuzzy_clause(keyword: str, value: str) -> sa.ColumnElement[bool] | None:
    """Fuzzy person-name matching (PS3.18 8.3.4.6): every word of `value` starts a word.

    Case and accents are ignored and each query word may match any component of the
    name (`medbridge.archive.names`); ``*`` and ``?`` keep their C.2.2.2.4 meaning within
    a word. Returns None for universal matching, and for keys that are not fuzzy-indexed
    person names (the caller matches those exactly).
    """
    column = _FUZZY.get(keyword)
    if column is None:
        return None
    words = [w for w in fuzzy_words(value) if w.strip("*")]
    if not words:
        return None
    return sa.and_(*(_search_wildcard(column, "* " + w + "*") for w in words))


def _column_for(keyword: str) -> sa.Column[Any] | None:
    for columns in _LEVEL_COLUMNS.values():
        if keyword in columns:
            return columns[keyword]
    return None


def _search_single_value(column: Any, value: str, vr: str) -> sa.ColumnElement[bool]:
    """C.2.2.2.1: exact match; a multi-valued CS/DA key matches any of its values."""
    values = [v.strip() for v in value.split("\\")] if vr in ("CS", "DA", "TM") else [value]
    if vr in ("DA", "TM"):
        values = [_clean_temporal(v, vr) for v in values]
    if len(values) == 1:
        return column == values[0]  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def _search_uid_list(column: Any, value: str) -> sa.ColumnElement[bool]:
    """C.2.2.2.2: a backslash-separated list of UIDs matches any of them."""
    uids = [u.strip("\x00 ") for u in value.split("\\") if u.strip("\x00 ")]
    if len(uids) == 1:
        return column == uids[0]  # type: ignore[no-any-return]
    return column.in_(uids)  # type: ignore[no-any-return]


def _search_wildcard(column: Any, value: str) -> sa.ColumnElement[bool]:
    """C.2.2.2.4: ``*`` matches any run of characters, ``?`` exactly one."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = escaped.replace("*", "%").replace("?", "_")
    return column.like(pattern, escape="\\")  # type: ignore[no-any-return]


def _search_range(column: Any, value: str, vr: str) -> sa.ColumnElement[bool]:
    """C.2.2.2.5: ``a-b`` inclusive, ``-b`` up to b, ``a-`` from a on.

    Values are compared as strings, which orders DA (YYYYMMDD) and TM (HHMMSS.FFFFFF)
    correctly. An upper bound with less precision than the stored value includes the
    whole period it names (``-1200`` includes 12:00:59), as C.2.2.2.5.1 implies.
    """
    lower, _, upper = value.partition("-")
    lower, upper = _clean_temporal(lower, vr), _clean_temporal(upper, vr)
    if vr == "DT" and not lower and not upper:
        return sa.true()
    conds = []
    if lower:
        conds.append(column >= lower)
    if upper:
        conds.append(column <= upper + "~")
    conds.append(column != "")
    return sa.and_(*conds)


def _clean_temporal(value: str, vr: str) -> str:
    value = value.strip()
    if vr == "DA":
        return value.replace(".", "")  # ACR-NEMA style YYYY.MM.DD
    if vr == "TM":
        return value.replace(":", "")
    return value


def _search_integer(column: Any, value: str) -> sa.ColumnElement[bool]:
    """C.2.2.2.1 for IS keys: compare as numbers, so ``01`` matches ``1``."""
    try:
        numbers = [int(v) for v in value.split("\\")]
    except ValueError:
        return sa.false()
    return column.in_(numbers)  # type: ignore[no-any-return]


def _search_modalities_in_study(value: str) -> sa.ColumnElement[bool]:
    """ModalitiesInStudy (0008,0061): a study matches if any series has any listed modality.

    PS3.4 C.6.1.1.3.2: the key is matched against the set of modalities of the study's
    series; wildcards are allowed.
    """
    inner = series.alias("mis")
    conds = []
    for item in (v.strip() for v in value.split("\\")):
        if not item or item == "*":
            return sa.true()
        if "*" in item or "?" in item:
            conds.append(_search_wildcard(inner.c.modality, item))
        else:
            conds.append(inner.c.modality == item)
    sub = (
        sa.select(sa.literal(1))
        .select_from(inner)
        .where(inner.c.study_pk == study.c.pk)
        .where(sa.or_(*conds))
    )
    return sa.exists(sub)


def column_keywords(level: Level) -> Iterable[str]:
    """Return the keywords of the indexed attributes from PATIENT down to `level`."""
    for lv in levels_upto(level):
        yield from _LEVEL_COLUMNS[lv]
