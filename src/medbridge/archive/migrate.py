"""Copy an archive between backends: folder → object store, SQLite → PostgreSQL, any pair.

Each instance is read from the source's storage and stored into the destination with
`Archive.store`, so the destination indexes it from its own bytes with the same
durability as a C-STORE. An instance the destination already holds with the same
SHA-256 is skipped, which makes an interrupted run resumable: run it again and it goes
on where it stopped. A final pass compares every source row with the destination's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa

from medbridge.archive._archive import Archive, DuplicatePolicy
from medbridge.archive.index import instance
from medbridge.errors import MedbridgeError

__all__ = ["MigrationReport", "migrate"]

LOGGER = logging.getLogger(__name__)


@dataclass
class MigrationReport:
    """What a migration did, and what the final comparison found."""

    total: int = 0
    copied: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(SOP Instance UID, reason) of instances that could not be copied."""
    missing_after: list[str] = field(default_factory=list)
    """Source instances the destination does not hold with the same digest at the end."""

    @property
    def ok(self) -> bool:
        """Whether the destination now holds every source instance, byte for byte."""
        return not self.failed and not self.missing_after


def _digests(archive: Archive) -> dict[str, str]:
    """SOP Instance UID → SHA-256 of every instance the archive's index holds."""
    with archive.index.read() as conn:
        rows = conn.execute(sa.select(instance.c.sop_instance_uid, instance.c.sha256))
        return {uid: sha for uid, sha in rows}


def migrate(
    source: Archive,
    destination: Archive,
    *,
    workers: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Copy every instance of `source` into `destination`; see the module docstring.

    Parameters
    ----------
    workers:
        Instances copied at once (an object store is latency-bound; several uploads in
        flight keep it busy).
    on_progress:
        Called with (done, total) after each instance.
    """
    with source.index.read() as conn:
        todo = [
            (uid, relpath, sha)
            for uid, relpath, sha in conn.execute(
                sa.select(
                    instance.c.sop_instance_uid, instance.c.relpath, instance.c.sha256
                ).order_by(instance.c.pk)
            )
        ]
    have = _digests(destination)
    report = MigrationReport(total=len(todo))
    done = 0

    def copy(item: tuple[str, str, str]) -> tuple[str, str | None]:
        uid, relpath, sha = item
        if have.get(uid) == sha:
            return "skipped", None
        try:
            data = source.storage.read(relpath)
            destination.store(data, duplicates=DuplicatePolicy.REPLACE)
        except MedbridgeError as exc:
            return "failed", str(exc)
        return "copied", None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for item, (outcome, reason) in zip(todo, pool.map(copy, todo), strict=True):
            if outcome == "copied":
                report.copied += 1
            elif outcome == "skipped":
                report.skipped += 1
            else:
                report.failed.append((item[0], reason or "unknown"))
                LOGGER.error("cannot migrate %s: %s", item[0], reason)
            done += 1
            if on_progress is not None:
                on_progress(done, report.total)
    after = _digests(destination)
    failed = {uid for uid, _ in report.failed}
    report.missing_after = [
        uid for uid, _rel, sha in todo if after.get(uid) != sha and uid not in failed
    ]
    return report
