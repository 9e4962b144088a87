"""Find and repair disagreements between the index and the stored files.

The store order (file durable first, index row second) means a crash can leave a file
without its row, or a ``*.tmp`` from an interrupted write; a disk fault or an operator
can also remove or change files. `check` lists each kind; with ``repair=True`` it
indexes unindexed files, drops rows whose file is gone, re-indexes files whose checksum
changed (if they still parse), removes temporaries and recomputes the counters.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from medbridge.archive.index import instance, series, study
from medbridge.errors import ArchiveError, InvalidDicomError

if TYPE_CHECKING:
    from medbridge.archive._archive import Archive

__all__ = ["CheckReport", "check"]

LOGGER = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """What `check` found (and, with repair, fixed).

    Attributes
    ----------
    missing_files:
        Index rows whose file does not exist (SOP Instance UIDs).
    unindexed_files:
        Stored files with no index row (relative paths).
    checksum_mismatches:
        Rows whose file's SHA-256 differs from the one recorded (SOP Instance UIDs).
    temp_files:
        Leftover temporary files of interrupted writes.
    unreadable_files:
        Files that do not parse as DICOM, left in place for a human.
    repaired:
        Whether the findings were repaired.
    """

    missing_files: list[str] = field(default_factory=list)
    unindexed_files: list[str] = field(default_factory=list)
    checksum_mismatches: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    unreadable_files: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        """True when index and storage agree."""
        return not (
            self.missing_files
            or self.unindexed_files
            or self.checksum_mismatches
            or self.temp_files
            or self.unreadable_files
        )


def check(archive: Archive, *, repair: bool = False, checksums: bool = True) -> CheckReport:
    """Compare the index with the files under the archive's storage root.

    Parameters
    ----------
    archive:
        The archive to check.
    repair:
        Fix what can be fixed (see the module docstring).
    checksums:
        Also hash every file and compare with the index (reads all the data).
    """
    report = CheckReport(repaired=repair)
    storage = archive.storage
    with archive.index.read() as conn:
        rows = {
            r.relpath: (r.sop_instance_uid, r.sha256)
            for r in conn.execute(
                sa.select(instance.c.relpath, instance.c.sop_instance_uid, instance.c.sha256)
            )
        }
    on_disk = set(storage.iter_files())
    for relpath, (uid, sha) in rows.items():
        if relpath not in on_disk:
            report.missing_files.append(uid)
        elif checksums:
            digest = hashlib.sha256()
            for chunk in storage.iter_chunks(relpath):
                digest.update(chunk)
            if digest.hexdigest() != sha:
                report.checksum_mismatches.append(uid)
            continue
    report.unindexed_files = sorted(on_disk - rows.keys())
    report.temp_files = sorted(storage.stray_temp_files())
    if not repair:
        return report

    from medbridge.archive._rows import delete_row

    by_uid = {uid: rel for rel, (uid, _sha) in rows.items()}
    with archive.index.write() as conn:
        for uid in report.missing_files:
            delete_row(conn, uid)
    for relpath in [*report.unindexed_files, *(by_uid[u] for u in report.checksum_mismatches)]:
        try:
            with archive.index.write() as conn:
                archive.index_file(relpath, conn)
        except (ArchiveError, InvalidDicomError) as exc:
            LOGGER.error("cannot re-index %s: %s", relpath, exc)
            report.unreadable_files.append(relpath)
    for tmp in report.temp_files:
        storage.remove_stray(tmp)
    _recount(archive)
    return report


def _recount(archive: Archive) -> None:
    """Recompute the series and study counters from the instance rows."""
    with archive.index.write() as conn:
        per_series = (
            sa.select(sa.func.count()).where(instance.c.series_pk == series.c.pk).scalar_subquery()
        )
        conn.execute(series.update().values(num_instances=per_series))
        conn.execute(series.delete().where(series.c.num_instances == 0))
        n_series = sa.select(sa.func.count()).where(series.c.study_pk == study.c.pk)
        n_inst = sa.select(sa.func.coalesce(sa.func.sum(series.c.num_instances), 0)).where(
            series.c.study_pk == study.c.pk
        )
        conn.execute(
            study.update().values(
                num_series=n_series.scalar_subquery(), num_instances=n_inst.scalar_subquery()
            )
        )
