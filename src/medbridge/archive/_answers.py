"""C-FIND answers: the response identifiers of a query, built from index rows.

Each answer holds (0008,0005) 'Specific Character Set' (UTF-8), (0008,0052)
'Query/Retrieve Level' and every return key of the request: indexed values, computed
keys (PS3.4 C.6.1.1.2-C.6.2.1.2, counted in SQL for all rows at once) and, at IMAGE
level, other keys read from the stored file. Keys the archive does not know come back
empty (PS3.4 C.4.1.1.3.2). Answers are lists of ``(tag, VR, value)`` elements, sorted
by tag, so the network layer can encode the common case without building pydicom
datasets (`medbridge.dicom.flat`); `to_dataset` gives the pydicom view.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from pydicom import config, dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from sqlalchemy.engine import Connection

from medbridge.archive.index import instance, series, study
from medbridge.archive.query import (
    COMPUTED_KEYS,
    Level,
    QuerySpec,
    build_select,
    level_at_or_above,
)
from medbridge.archive.storage import Storage
from medbridge.dicom.flat import Element
from medbridge.errors import StorageError

__all__ = ["Extras", "answer", "select_rows", "to_dataset"]

LOGGER = logging.getLogger(__name__)

#: Computed return keys by keyword, then by the pk of the entity they describe.
Extras = dict[str, dict[int, Any]]

_INT_KEYS = {"SeriesNumber", "InstanceNumber", "NumberOfFrames"}
_CHUNK = 500
_CHARSET = (0x00080005, "CS", "ISO_IR 192")
_LEVEL = 0x00080052


def select_rows(conn: Connection, spec: QuerySpec) -> tuple[Sequence[Any], Extras]:
    """The index rows matching `spec` (as mappings) and the computed keys they need."""
    rows = conn.execute(build_select(spec)).mappings().all()
    return rows, _computed(conn, spec, rows)


def answer(
    spec: QuerySpec,
    row: Any,
    extras: Extras,
    storage: Storage,
    row_keys: frozenset[str],
) -> list[Element]:
    """The elements of one response identifier, sorted by tag.

    `row_keys` are the row's column names, the same for every row of a query (asking
    each row for them is a fifth of a broad answer's cost).
    """
    elements: list[Element] = [_CHARSET, (_LEVEL, "CS", spec.level.value)]
    missing: list[str] = []
    for kw in spec.return_keys:
        tag, vr = _tag_vr(kw)
        if kw in row_keys:
            value = row[kw]
            text = "" if value is None else (str(value) if kw in _INT_KEYS else value)
            elements.append((tag, vr, text))
        elif kw in COMPUTED_KEYS and level_at_or_above(COMPUTED_KEYS[kw], spec.level):
            elements.append((tag, vr, _computed_value(kw, row, extras)))
        else:
            missing.append(kw)
    if missing and spec.level is Level.IMAGE:
        found = _from_file(storage, row["relpath"], missing)
        elements.extend(found.values())
        missing = [kw for kw in missing if kw not in found]
    for kw in missing:
        tag, vr = _tag_vr(kw)
        elements.append((tag, vr, [] if vr == "SQ" else None))
    elements.sort(key=lambda e: e[0])
    return elements


def to_dataset(elements: list[Element]) -> Dataset:
    """A pydicom Dataset of answer elements (values are not re-validated)."""
    ds = Dataset()
    for tag, vr, value in elements:
        if vr == "SQ" and not isinstance(value, DicomSequence):
            value = DicomSequence(value or [])
        ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
    return ds


def _from_file(storage: Storage, relpath: str, keywords: list[str]) -> dict[str, Element]:
    """Return keys read from a stored file, by keyword."""
    try:
        with storage.open(relpath) as f:
            stored = dcmread(
                f, stop_before_pixels=True, specific_tags=["SpecificCharacterSet", *keywords]
            )
    except (OSError, PydicomInvalidDicomError, StorageError) as exc:
        LOGGER.error("cannot read %s for return keys: %s", relpath, exc)
        return {}
    found: dict[str, Element] = {}
    for kw in keywords:
        if kw in stored:
            elem = stored[kw]
            found[kw] = (elem.tag, elem.VR, elem.value)
    return found


@functools.cache
def _tag_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag, dictionary_VR(tag)


def _computed_value(kw: str, row: Any, extras: Extras) -> Any:
    if kw == "NumberOfStudyRelatedSeries":
        return str(row["num_series"])
    if kw == "NumberOfStudyRelatedInstances":
        return str(row["study_num_instances"])
    if kw == "NumberOfSeriesRelatedInstances":
        return str(row["series_num_instances"])
    if kw in ("ModalitiesInStudy", "SOPClassesInStudy"):
        return extras.get(kw, {}).get(row["study_pk"], [])
    return str(extras.get(kw, {}).get(row["patient_pk"], 0))


def _computed(conn: Connection, spec: QuerySpec, rows: Sequence[Any]) -> Extras:
    """Return computed return keys by keyword and the pk of their row's entity."""
    wanted = [k for k in spec.return_keys if k in COMPUTED_KEYS]
    wanted = [k for k in wanted if level_at_or_above(COMPUTED_KEYS[k], spec.level)]
    out: Extras = {}
    if not wanted or not rows:
        return out
    if any(k.startswith("NumberOfPatientRelated") for k in wanted):
        pks = sorted({r["patient_pk"] for r in rows})
        stats: dict[int, tuple[int, int, int]] = {}
        for chunk in _chunks(pks):
            stmt = (
                sa.select(
                    study.c.patient_pk,
                    sa.func.count(),
                    sa.func.sum(study.c.num_series),
                    sa.func.sum(study.c.num_instances),
                )
                .where(study.c.patient_pk.in_(chunk))
                .group_by(study.c.patient_pk)
            )
            for pk, n_st, n_se, n_in in conn.execute(stmt):
                stats[pk] = (int(n_st), int(n_se or 0), int(n_in or 0))
        for i, kw in enumerate(
            [
                "NumberOfPatientRelatedStudies",
                "NumberOfPatientRelatedSeries",
                "NumberOfPatientRelatedInstances",
            ]
        ):
            out[kw] = {pk: v[i] for pk, v in stats.items()}
    if "ModalitiesInStudy" in wanted or "SOPClassesInStudy" in wanted:
        pks = sorted({r["study_pk"] for r in rows})
        if "ModalitiesInStudy" in wanted:
            out["ModalitiesInStudy"] = _distinct_by_study(conn, pks, series.c.modality, False)
        if "SOPClassesInStudy" in wanted:
            out["SOPClassesInStudy"] = _distinct_by_study(conn, pks, instance.c.sop_class_uid, True)
    return out


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _distinct_by_study(
    conn: Connection, pks: Sequence[int], column: Any, via_instance: bool
) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for chunk in _chunks(pks):
        stmt = sa.select(series.c.study_pk, column).distinct().where(series.c.study_pk.in_(chunk))
        if via_instance:
            stmt = stmt.select_from(series.join(instance))
        for pk, value in conn.execute(stmt):
            if value:
                out.setdefault(pk, []).append(value)
    return {pk: sorted(v) for pk, v in out.items()}
