"""Searches that page and stream: what QIDO-RS asks of the index.

A C-FIND answer is built whole (`medbridge.archive._answers`); a QIDO-RS search may
cover 100,000 instances and a viewer pages through it, so here the SQL itself does the
work: the matching rules of `medbridge.archive.query` (PS3.4 C.2.2.2, with PS3.18
8.3.4.6 fuzzy person names), ``ORDER BY`` the level's primary key so that pages are
stable, ``LIMIT``/``OFFSET`` in the statement, and rows fetched a page at a time from
one cursor (PostgreSQL: a server-side cursor), so an answer never has to be in memory
at once. Rows are plain tuples in the order of `Search.columns`: the caller (the web
door) turns them into DICOM JSON or XML without building datasets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medbridge.archive._answers import _distinct_by_study
from medbridge.archive.index import instance, patient, series, study
from medbridge.archive.query import (
    _LEVEL_COLUMNS,
    COMPUTED_KEYS,
    Level,
    _table,
    column_keywords,
    fuzzy_clause,
    level_at_or_above,
    levels_upto,
    match_clause,
)

__all__ = [
    "FIRST_FILE",
    "Page",
    "Search",
    "count",
    "pages",
    "returnable_keys",
    "searchable_keys",
    "statement",
]

#: Pseudo-column: the relpath of the (first) instance file of each row's entity, for
#: return keys the index does not hold.
FIRST_FILE = "_first_file"

_COUNTERS = {
    "NumberOfStudyRelatedSeries": study.c.num_series,
    "NumberOfStudyRelatedInstances": study.c.num_instances,
    "NumberOfSeriesRelatedInstances": series.c.num_instances,
}


@dataclass(frozen=True)
class Search:
    """One search: where, what to match, which columns back, and which page.

    Attributes
    ----------
    level:
        STUDY, SERIES or IMAGE (PATIENT works too).
    matches:
        ``(keyword, value)`` matching keys in C.2.2.2 syntax (``\\`` lists, ``*``/``?``,
        ``a-b`` ranges); each must be one `searchable_keys` returns for `level`.
    columns:
        Return keys wanted, by keyword: indexed attributes and computed keys at or above
        `level`, and `FIRST_FILE`.
    fuzzy:
        Match person names fuzzily (`medbridge.archive.names`).
    limit, offset:
        The page: at most `limit` rows after skipping `offset` (None: all).
    """

    level: Level
    matches: tuple[tuple[str, str], ...] = ()
    columns: tuple[str, ...] = ()
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class Page:
    """Rows of one fetch, and ModalitiesInStudy of their studies when asked for."""

    rows: Sequence[Sequence[Any]]
    modalities: dict[int, list[str]]


def searchable_keys(level: Level) -> frozenset[str]:
    """Keywords a search at `level` can match on: every indexed one.

    Keys of the levels above match through the join; keys of the levels below match
    relationally (PS3.4 C.4.1.2.2.1 relational queries, PS3.18 8.3.4.1): a study matches
    ``Modality=MR`` or ``SOPInstanceUID=x`` when one of its series or instances does.
    """
    keys = set(column_keywords(Level.IMAGE))
    if level_at_or_above(Level.STUDY, level):
        keys.add("ModalitiesInStudy")
    return frozenset(keys)


def _key_level(keyword: str) -> Level:
    for lv in (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE):
        if keyword in _LEVEL_COLUMNS[lv]:
            return lv
    return Level.STUDY  # ModalitiesInStudy


def _below(level: Level, key_level: Level, clause: sa.ColumnElement[bool]) -> Any:
    """EXISTS one series/instance under each row of `level` satisfying `clause`."""
    if level is Level.SERIES:  # an instance key: correlated to the outer series row
        inner = sa.select(sa.literal(1)).select_from(instance)
        return sa.exists(inner.where(instance.c.series_pk == series.c.pk, clause))
    source: Any = series if key_level is Level.SERIES else series.join(instance)
    if level is Level.PATIENT:
        source = study.join(source) if key_level is not Level.STUDY else study
        inner = sa.select(sa.literal(1)).select_from(source)
        return sa.exists(inner.where(study.c.patient_pk == patient.c.pk, clause))
    inner = sa.select(sa.literal(1)).select_from(source)
    return sa.exists(inner.where(series.c.study_pk == study.c.pk, clause))


def returnable_keys(level: Level) -> list[str]:
    """Keywords a search at `level` can return from the index: indexed, then computed."""
    keys = list(column_keywords(level))
    keys += [k for k in _COUNTERS if level_at_or_above(COMPUTED_KEYS[k], level)]
    if level_at_or_above(Level.STUDY, level):
        keys.append("ModalitiesInStudy")
    return keys


def _where(search: Search) -> list[sa.ColumnElement[bool]]:
    clauses = []
    for keyword, value in search.matches:
        clause = fuzzy_clause(keyword, value) if search.fuzzy else None
        if clause is None:
            clause = match_clause(keyword, value)
        if clause is None:
            continue
        key_level = _key_level(keyword)
        if not level_at_or_above(key_level, search.level):
            clause = _below(search.level, key_level, clause)
        clauses.append(clause)
    return clauses


def _joined(level: Level) -> Any:
    joined: Any = _table(Level.PATIENT)
    for lv in levels_upto(level)[1:]:
        joined = joined.join(_table(lv))
    return joined


def _first_file(level: Level) -> Any:
    if level is Level.IMAGE:
        return instance.c.relpath
    inner = sa.select(instance.c.relpath).order_by(instance.c.pk).limit(1)
    if level is Level.SERIES:
        inner = inner.where(instance.c.series_pk == series.c.pk)
    else:
        inner = inner.select_from(instance.join(series)).where(series.c.study_pk == study.c.pk)
    return inner.scalar_subquery()


def _column(level: Level, keyword: str) -> Any:
    if keyword == FIRST_FILE:
        return _first_file(level)
    if keyword in _COUNTERS:
        return _COUNTERS[keyword]
    for lv in levels_upto(level):
        if keyword in _LEVEL_COLUMNS[lv]:
            return _LEVEL_COLUMNS[lv][keyword]
    raise KeyError(keyword)


def statement(search: Search) -> sa.Select[Any]:
    """The SELECT of a search: the level's pk, then `Search.columns` (ModalitiesInStudy
    as the study pk, filled in per page), ordered by pk and paged."""
    pk = _table(search.level).c.pk
    cols: list[Any] = [pk.label("pk")]
    for keyword in search.columns:
        column = study.c.pk if keyword == "ModalitiesInStudy" else _column(search.level, keyword)
        cols.append(column.label(keyword.lower()))
    stmt = sa.select(*cols).select_from(_joined(search.level)).where(*_where(search))
    stmt = stmt.order_by(pk)
    if search.limit is not None:
        stmt = stmt.limit(search.limit)
    if search.offset:
        stmt = stmt.offset(search.offset)
    return stmt


def count(conn: Connection, search: Search) -> int:
    """How many entities match `search`, regardless of its page."""
    pk = _table(search.level).c.pk
    inner = sa.select(pk).select_from(_joined(search.level)).where(*_where(search))
    stmt = sa.select(sa.func.count()).select_from(inner.subquery())
    return int(conn.execute(stmt).scalar_one())


def pages(conn: Connection, search: Search, *, size: int = 1000) -> Iterator[Page]:
    """Yield the matching rows `size` at a time from one cursor.

    Each row is ``(pk, *columns)``; a ModalitiesInStudy column holds the study pk, whose
    modalities are in `Page.modalities`.
    """
    want_modalities = "ModalitiesInStudy" in search.columns
    where = 1 + search.columns.index("ModalitiesInStudy") if want_modalities else 0
    result = conn.execution_options(stream_results=True, yield_per=size).execute(statement(search))
    for part in result.partitions(size):
        modalities: dict[int, list[str]] = {}
        if want_modalities:
            pks = sorted({int(row[where]) for row in part})
            modalities = _distinct_by_study(conn, pks, series.c.modality, False)
        yield Page(part, modalities)
