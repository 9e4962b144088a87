"""Find the stored files of a study, a series or an instance, as WADO-RS names them.

WADO-RS addresses resources by the UIDs of the path (PS3.18 10.4.1): a study, a series
of that study, an instance of that series. An instance asked for under another study or
series does not exist for the request, so the three UIDs are matched together. The
answer is a list of small records, never the bytes: a study of thousands of instances
is streamed one file at a time by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from medbridge.archive.index import instance, series, study
from medbridge.archive.storage import Storage
from medbridge.errors import NotFoundError

if TYPE_CHECKING:
    from medbridge.archive._archive import Archive

__all__ = ["StoredInstance", "locate"]


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """One stored instance with the UIDs of its study and series and its file.

    `path` is a local file of the instance: the stored file itself on a folder, a
    node-local copy fetched on first use from an object store (`Storage.local_copy`),
    so readers that need a file (seeking to frames, pydicom) work on every backend.
    """

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    relpath: str
    size: int
    sha256: str
    storage: Storage = field(repr=False, compare=False)

    @property
    def path(self) -> Path:
        """A local file holding the instance's bytes (fetched once on an object store)."""
        return self.storage.local_copy(self.relpath, self.sha256)


_SELECT = (
    sa.select(
        study.c.study_instance_uid,
        series.c.series_instance_uid,
        instance.c.sop_instance_uid,
        instance.c.sop_class_uid,
        instance.c.transfer_syntax_uid,
        instance.c.instance_number,
        instance.c.relpath,
        instance.c.size,
        instance.c.sha256,
    )
    .select_from(instance.join(series, instance.c.series_pk == series.c.pk))
    .join(study, series.c.study_pk == study.c.pk)
)


def locate(
    archive: Archive,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[StoredInstance]:
    """Return the instances of a study, of one of its series, or one instance of it.

    Instances come in series order (Series Number, then arrival) and, within a series,
    by Instance Number, which is the order a viewer shows them in.

    Raises
    ------
    NotFoundError
        Nothing is stored under these UIDs (the message names the missing level).
    """
    stmt = _SELECT.where(study.c.study_instance_uid == study_uid)
    if series_uid is not None:
        stmt = stmt.where(series.c.series_instance_uid == series_uid)
    if sop_uid is not None:
        stmt = stmt.where(instance.c.sop_instance_uid == sop_uid)
    stmt = stmt.order_by(
        series.c.series_number, series.c.pk, instance.c.instance_number, instance.c.pk
    )
    with archive.index.read() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        raise NotFoundError(_missing(study_uid, series_uid, sop_uid))
    return [
        StoredInstance(
            study_instance_uid=r.study_instance_uid,
            series_instance_uid=r.series_instance_uid,
            sop_instance_uid=r.sop_instance_uid,
            sop_class_uid=r.sop_class_uid,
            transfer_syntax_uid=r.transfer_syntax_uid,
            instance_number=r.instance_number,
            relpath=r.relpath,
            size=r.size,
            sha256=r.sha256,
            storage=archive.storage,
        )
        for r in rows
    ]


def _missing(study_uid: str, series_uid: str | None, sop_uid: str | None) -> str:
    if sop_uid is not None:
        where = f" in series {series_uid}" if series_uid else ""
        return f"no instance {sop_uid}{where} of study {study_uid}"
    if series_uid is not None:
        return f"no series {series_uid} in study {study_uid}"
    return f"no study {study_uid}"
