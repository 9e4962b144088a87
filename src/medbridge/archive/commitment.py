"""Storage Commitment requests held in the index (PS3.4 J, Push Model).

A request (N-ACTION, Action Type 1) names instances by SOP Class and SOP Instance UID
under a Transaction UID. The archive commits to an instance only if it holds it
durably: an index row with the same SOP Class, and the file present with the size (and,
with ``verify``, the SHA-256) recorded when it was stored. Each request is written to
the index before the N-ACTION is answered and stays ``pending`` until its result has
been reported, so a restart (or a kill -9) reports it then.

Failure reasons are those of PS3.3 C.14.1.1 (0008,1197) 'Failure Reason':

======  ========================================================
0x0110  processing failure: the file is missing or damaged
0x0112  no such object instance: the archive does not hold it
0x0119  class/instance conflict: held under another SOP Class
0x0131  duplicate transaction UID (another request's)
======  ========================================================
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from medbridge.archive.index import instance
from medbridge.archive.workflow_tables import commitment
from medbridge.errors import ArchiveError

if TYPE_CHECKING:
    from medbridge.archive._archive import Archive

__all__ = ["CommitmentResult", "CommitmentStore", "PendingCommitment"]

LOGGER = logging.getLogger(__name__)

PENDING = "pending"
REPORTED = "reported"


@dataclass(frozen=True)
class PendingCommitment:
    """A request whose result has not been reported yet."""

    transaction_uid: str
    calling_ae: str
    references: list[tuple[str, str]]
    attempts: int = 0


@dataclass
class CommitmentResult:
    """The outcome: committed (class, instance) pairs and failed ones with a reason."""

    transaction_uid: str
    committed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def event_type(self) -> int:
        """1: all committed; 2: some failed (PS3.4 J.3.3.1)."""
        return 2 if self.failed else 1

    def to_json(self) -> str:
        """What the index keeps of a reported result."""
        return json.dumps({"committed": self.committed, "failed": self.failed})


def _file_access(storage: Any, relpath: str) -> tuple[int, Callable[[], Iterator[bytes]]]:
    """A stored file's size, and its bytes in chunks, from whatever storage holds it.

    Uses the storage contract's ``size`` and ``iter_chunks`` where the storage has them
    (object stores), else the local file.
    """
    size_of = getattr(storage, "size", None)
    iter_chunks = getattr(storage, "iter_chunks", None)
    if size_of is not None and iter_chunks is not None:
        return int(size_of(relpath)), lambda: iter(iter_chunks(relpath))
    path = storage.path(relpath)

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(1 << 20), b"")

    return path.stat().st_size, chunks


class CommitmentStore:
    """The commitment requests of one archive."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.index = archive.index

    def request(
        self, transaction_uid: str, calling_ae: str, references: list[tuple[str, str]]
    ) -> bool:
        """Record a request durably; False if the Transaction UID is known already.

        A resend of the same request (same caller, same UID) is not an error: it is
        evaluated and reported again.
        """
        now = datetime.now(UTC)
        try:
            with self.index.write() as conn:
                conn.execute(
                    commitment.insert().values(
                        transaction_uid=transaction_uid,
                        calling_ae=calling_ae,
                        state=PENDING,
                        request=json.dumps(references),
                        attempts=0,
                        created_at=now,
                    )
                )
            return True
        except sa.exc.IntegrityError:
            with self.index.write() as conn:
                conn.execute(
                    commitment.update()
                    .where(
                        commitment.c.transaction_uid == transaction_uid,
                        commitment.c.calling_ae == calling_ae,
                    )
                    .values(state=PENDING)
                )
            return False

    def evaluate(
        self, transaction_uid: str, references: list[tuple[str, str]], *, verify: bool = True
    ) -> CommitmentResult:
        """Decide, instance by instance, whether the archive holds it durably."""
        result = CommitmentResult(transaction_uid)
        uids = [inst for _cls, inst in references]
        rows: dict[str, Any] = {}
        with self.index.read() as conn:
            for start in range(0, len(uids), 500):
                chunk = uids[start : start + 500]
                for r in conn.execute(
                    sa.select(
                        instance.c.sop_instance_uid,
                        instance.c.sop_class_uid,
                        instance.c.relpath,
                        instance.c.size,
                        instance.c.sha256,
                    ).where(instance.c.sop_instance_uid.in_(chunk))
                ).mappings():
                    rows[str(r["sop_instance_uid"])] = r
        for sop_class, sop_uid in references:
            reason = self._reason(rows.get(sop_uid), sop_class, verify=verify)
            if reason:
                result.failed.append((sop_class, sop_uid, reason))
            else:
                result.committed.append((sop_class, sop_uid))
        return result

    def _reason(self, row: Any, sop_class: str, *, verify: bool) -> int:
        if row is None:
            return 0x0112
        if str(row["sop_class_uid"]) != sop_class:
            return 0x0119
        relpath = str(row["relpath"])
        try:
            size, chunks = _file_access(self.archive.storage, relpath)
            if size != int(row["size"]):
                LOGGER.error("commitment: %s has %d bytes, not %s", relpath, size, row["size"])
                return 0x0110
            if verify:
                digest = hashlib.sha256()
                for block in chunks():
                    digest.update(block)
                if digest.hexdigest() != row["sha256"]:
                    LOGGER.error("commitment: %s does not match its checksum", relpath)
                    return 0x0110
        except (OSError, ArchiveError) as exc:
            LOGGER.error("commitment: cannot read %s: %s", relpath, exc)
            return 0x0110
        return 0

    def pending(self) -> list[PendingCommitment]:
        """The requests not reported yet, oldest first."""
        with self.index.read() as conn:
            rows = (
                conn.execute(
                    sa.select(commitment)
                    .where(commitment.c.state == PENDING)
                    .order_by(commitment.c.pk)
                )
                .mappings()
                .all()
            )
        return [
            PendingCommitment(
                transaction_uid=str(r["transaction_uid"]),
                calling_ae=str(r["calling_ae"]),
                references=[(str(c), str(i)) for c, i in json.loads(r["request"])],
                attempts=int(r["attempts"]),
            )
            for r in rows
        ]

    def attempted(self, transaction_uid: str) -> None:
        """Count a failed attempt to report."""
        with self.index.write() as conn:
            conn.execute(
                commitment.update()
                .where(commitment.c.transaction_uid == transaction_uid)
                .values(attempts=commitment.c.attempts + 1)
            )

    def reported(self, result: CommitmentResult) -> None:
        """Mark a request reported, with its result."""
        with self.index.write() as conn:
            conn.execute(
                commitment.update()
                .where(commitment.c.transaction_uid == result.transaction_uid)
                .values(state=REPORTED, result=result.to_json(), reported_at=datetime.now(UTC))
            )

    def entries(self) -> list[dict[str, Any]]:
        """Every request with its state and result, for listings."""
        with self.index.read() as conn:
            rows = conn.execute(sa.select(commitment).order_by(commitment.c.pk)).mappings().all()
        return [
            {
                "TransactionUID": r["transaction_uid"],
                "CallingAE": r["calling_ae"],
                "State": r["state"],
                "Instances": len(json.loads(r["request"])),
                "Result": json.loads(r["result"]) if r["result"] else None,
            }
            for r in rows
        ]
