"""Modality Performed Procedure Steps held in the index, and their state machine.

PS3.4 F.7 (MPPS SOP Class) and PS3.3 C.7.4.26 / B.17: a modality creates the step
IN PROGRESS with N-CREATE and sets it COMPLETED or DISCONTINUED with N-SET; once final,
it may no longer be updated. The statuses of refused requests are those of PS3.4
F.7.2.1.2 and F.7.2.2.2 (with PS3.7 C.4):

======  ==================================================================
0x0106  invalid attribute value (a state other than the allowed ones, a bad date)
0x0110  processing failure: the step is final and may no longer be updated
0x0111  duplicate SOP instance (N-CREATE of an existing step)
0x0112  no such SOP instance (N-SET of an unknown step)
0x0120  missing attribute (an N-CREATE without a Type 1 attribute)
0x0121  missing attribute value (a final state without its end date and time)
======  ==================================================================

Each step's state is copied onto the worklist steps its (0040,0270) 'Scheduled Step
Attributes Sequence' names, and a COMPLETED step's (0040,0340) 'Performed Series
Sequence' is recorded against them, so the archive can tell which series a scheduled
step produced and whether they have all arrived.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydicom.dataset import Dataset

from medbridge.archive.index import series
from medbridge.archive.workflow_tables import mpps, mwl_step, performed_series
from medbridge.archive.worklist import Worklist, _check_date, _check_time
from medbridge.errors import InvalidDicomError, ServiceRequestError

if TYPE_CHECKING:
    from medbridge.archive.index import Index

__all__ = ["MppsEntry", "MppsStore"]

LOGGER = logging.getLogger(__name__)

IN_PROGRESS = "IN PROGRESS"
FINAL = ("COMPLETED", "DISCONTINUED")

#: Type 1 attributes of the N-CREATE (PS3.4 Table F.7.2-1) medbridge needs to link a step.
_CREATE_REQUIRED = (
    "PerformedProcedureStepStatus",
    "ScheduledStepAttributesSequence",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "Modality",
)
#: Attributes a final state needs values for (PS3.4 F.7.2.2.2, "Final State" column).
_FINAL_REQUIRED = ("PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")


@dataclass(frozen=True)
class MppsEntry:
    """One stored MPPS, as listed by ``GET /api/mpps``."""

    sop_instance_uid: str
    state: str
    calling_ae: str
    dataset: Dataset
    updated_at: datetime

    def summary(self) -> dict[str, Any]:
        """The listing's columns."""
        ds = self.dataset
        return {
            "SOPInstanceUID": self.sop_instance_uid,
            "State": self.state,
            "CallingAE": self.calling_ae,
            "PerformedProcedureStepID": str(ds.get("PerformedProcedureStepID", "")),
            "Modality": str(ds.get("Modality", "")),
            "PatientID": str(ds.get("PatientID", "")),
            "PerformedSeries": [
                str(s.get("SeriesInstanceUID", "")) for s in ds.get("PerformedSeriesSequence", [])
            ],
            "UpdatedAt": self.updated_at.isoformat(),
        }


def _check_values(ds: Dataset) -> None:
    """Dates and times in the request must parse (0x0106 otherwise)."""
    try:
        for kw in ("PerformedProcedureStepStartDate", "PerformedProcedureStepEndDate"):
            if kw in ds:
                _check_date(str(ds.get(kw) or ""), kw)
        for kw in ("PerformedProcedureStepStartTime", "PerformedProcedureStepEndTime"):
            if kw in ds:
                _check_time(str(ds.get(kw) or ""), kw)
    except InvalidDicomError as exc:
        raise ServiceRequestError(0x0106, exc.reason) from None


class MppsStore:
    """The MPPS instances of one archive index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.worklist = Worklist(index)

    def create(self, sop_instance_uid: str, ds: Dataset, *, calling_ae: str = "") -> Dataset:
        """N-CREATE (PS3.4 F.7.2.1): store a new step IN PROGRESS; return it.

        Raises
        ------
        ServiceRequestError
            0x0120 a required attribute missing, 0x0106 a state other than IN PROGRESS
            or a malformed date, 0x0111 the SOP Instance UID exists already.
        """
        for kw in _CREATE_REQUIRED:
            if kw not in ds:
                raise ServiceRequestError(0x0120, f"N-CREATE without {kw}")
        state = str(ds.PerformedProcedureStepStatus or "").strip().upper()
        if state != IN_PROGRESS:
            raise ServiceRequestError(
                0x0106, f"an MPPS is created IN PROGRESS, not {state or 'empty'!r}"
            )
        _check_values(ds)
        now = datetime.now(UTC)
        try:
            with self.index.write() as conn:
                conn.execute(
                    mpps.insert().values(
                        sop_instance_uid=sop_instance_uid,
                        state=IN_PROGRESS,
                        calling_ae=calling_ae,
                        dataset=ds.to_json(),
                        created_at=now,
                        updated_at=now,
                    )
                )
                self._link(conn, sop_instance_uid, ds, IN_PROGRESS)
        except sa.exc.IntegrityError:
            raise ServiceRequestError(0x0111, f"MPPS {sop_instance_uid} exists already") from None
        LOGGER.info("MPPS %s from %s: IN PROGRESS", sop_instance_uid, calling_ae or "?")
        return ds

    def set(self, sop_instance_uid: str, changes: Dataset) -> Dataset:
        """N-SET (PS3.4 F.7.2.2): update an IN PROGRESS step; return the merged step.

        Raises
        ------
        ServiceRequestError
            0x0112 no such step, 0x0110 the step is final already, 0x0106 an invalid
            new state or date, 0x0121 a final state without its end date and time.
        """
        with self.index.write() as conn:
            row = conn.execute(
                sa.select(mpps.c.state, mpps.c.dataset)
                .where(mpps.c.sop_instance_uid == sop_instance_uid)
                .with_for_update()
            ).first()
            if row is None:
                raise ServiceRequestError(0x0112, f"no MPPS {sop_instance_uid}")
            if row.state != IN_PROGRESS:
                raise ServiceRequestError(
                    0x0110, f"MPPS {sop_instance_uid} is {row.state} and may not be updated"
                )
            merged = Dataset.from_json(row.dataset)
            for elem in changes:
                if elem.tag.group in (0, 2):
                    continue
                merged[elem.tag] = elem
            state = str(merged.get("PerformedProcedureStepStatus", "") or "").strip().upper()
            if state not in (IN_PROGRESS, *FINAL):
                raise ServiceRequestError(
                    0x0106, f"(0040,0252) 'Performed Procedure Step Status' {state!r}"
                )
            _check_values(merged)
            if state in FINAL:
                for kw in _FINAL_REQUIRED:
                    if not str(merged.get(kw, "") or "").strip():
                        raise ServiceRequestError(0x0121, f"{state} without {kw}")
            conn.execute(
                mpps.update()
                .where(mpps.c.sop_instance_uid == sop_instance_uid)
                .values(state=state, dataset=merged.to_json(), updated_at=datetime.now(UTC))
            )
            steps = self._link(conn, sop_instance_uid, merged, state)
            if state == "COMPLETED":
                self._record_series(conn, sop_instance_uid, merged, steps)
        LOGGER.info("MPPS %s: %s", sop_instance_uid, state)
        return merged

    def get(self, sop_instance_uid: str) -> MppsEntry:
        """One stored step.

        Raises
        ------
        ServiceRequestError
            0x0112 if there is none.
        """
        with self.index.read() as conn:
            row = (
                conn.execute(sa.select(mpps).where(mpps.c.sop_instance_uid == sop_instance_uid))
                .mappings()
                .first()
            )
        if row is None:
            raise ServiceRequestError(0x0112, f"no MPPS {sop_instance_uid}")
        return _entry(row)

    def entries(self, *, state: str | None = None) -> list[MppsEntry]:
        """Every stored step, oldest first."""
        stmt = sa.select(mpps).order_by(mpps.c.pk)
        if state:
            stmt = stmt.where(mpps.c.state == state.upper())
        with self.index.read() as conn:
            return [_entry(r) for r in conn.execute(stmt).mappings().all()]

    def series_held(self, sop_instance_uid: str) -> dict[str, tuple[int, int]]:
        """Performed series → (instances the MPPS reports, instances the archive holds)."""
        stmt = (
            sa.select(
                performed_series.c.series_instance_uid,
                performed_series.c.num_instances,
                sa.func.coalesce(series.c.num_instances, 0),
            )
            .select_from(
                performed_series.outerjoin(
                    series, series.c.series_instance_uid == performed_series.c.series_instance_uid
                )
            )
            .where(performed_series.c.mpps_uid == sop_instance_uid)
        )
        with self.index.read() as conn:
            return {str(uid): (int(n), int(held)) for uid, n, held in conn.execute(stmt).all()}

    def _link(self, conn: sa.Connection, uid: str, ds: Dataset, state: str) -> list[int]:
        """Copy `state` onto the worklist steps the MPPS names; return their pks."""
        steps: list[int] = []
        for item in ds.get("ScheduledStepAttributesSequence", []):
            pk = self.worklist.step_for(
                conn,
                str(item.get("StudyInstanceUID", "") or ""),
                str(item.get("ScheduledProcedureStepID", "") or ""),
                str(item.get("AccessionNumber", "") or ""),
            )
            if pk is None:
                continue  # an unscheduled step (PS3.4 F.7.2.1: it need not be on the list)
            steps.append(pk)
            conn.execute(
                mwl_step.update().where(mwl_step.c.pk == pk).values(state=state, mpps_uid=uid)
            )
        return steps

    def _record_series(self, conn: sa.Connection, uid: str, ds: Dataset, steps: list[int]) -> None:
        conn.execute(performed_series.delete().where(performed_series.c.mpps_uid == uid))
        study_uid = ""
        for item in ds.get("ScheduledStepAttributesSequence", []):
            study_uid = str(item.get("StudyInstanceUID", "") or "") or study_uid
        rows = []
        for item in ds.get("PerformedSeriesSequence", []):
            series_uid = str(item.get("SeriesInstanceUID", "") or "")
            if not series_uid:
                continue
            count = len(item.get("ReferencedImageSequence", [])) + len(
                item.get("ReferencedNonImageCompositeSOPInstanceSequence", [])
            )
            for step in list[int | None](steps) or [None]:
                rows.append(
                    {
                        "mpps_uid": uid,
                        "step_pk": step,
                        "study_instance_uid": study_uid,
                        "series_instance_uid": series_uid,
                        "num_instances": count,
                    }
                )
        if rows:
            conn.execute(performed_series.insert(), rows)


def _entry(row: Any) -> MppsEntry:
    return MppsEntry(
        sop_instance_uid=str(row["sop_instance_uid"]),
        state=str(row["state"]),
        calling_ae=str(row["calling_ae"]),
        dataset=Dataset.from_json(row["dataset"]),
        updated_at=row["updated_at"],
    )
