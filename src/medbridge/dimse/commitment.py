"""Storage Commitment Push Model SCP (PS3.4 J.3): N-ACTION, then N-EVENT-REPORT.

The N-ACTION request is recorded in the index (`CommitmentStore.request`) before it is
answered, so what was accepted survives a crash. A `Reporter` thread then decides per
instance (`CommitmentStore.evaluate`) and sends the N-EVENT-REPORT (Event Type ID 1:
all committed; 2: some failed, each with its (0008,1197) 'Failure Reason'):

- on the same association, if the requester keeps it open (PS3.4 J.3.3: the SCP may
  report on it); otherwise
- on a new association to the requester's configured address (``[aes.NAME]``), proposing
  the SCP role by SCP/SCU Role Selection (PS3.4 J.3.3, PS3.7 D.3.3.4).

A report that cannot be delivered stays pending and is retried, also after a restart.

N-ACTION statuses: 0x0000 accepted; 0x0124 the caller may not commit; 0x0123 an Action
Type ID other than 1; 0x0115 an action without Transaction UID or references.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_RELEASE

from medbridge.archive import Archive
from medbridge.archive.commitment import CommitmentResult, CommitmentStore, PendingCommitment
from medbridge.archive.storage import is_valid_uid
from medbridge.dimse.worklist import calling_title
from medbridge.server.config import ServerConfig

__all__ = [
    "STORAGE_COMMITMENT_INSTANCE",
    "STORAGE_COMMITMENT_PUSH",
    "Reporter",
    "handle_commit_action",
    "report_dataset",
]

LOGGER = logging.getLogger(__name__)

#: Storage Commitment Push Model SOP Class and its well-known instance (PS3.4 J.3.5).
STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"

#: Seconds before the first retry of a report the requester did not take; doubled after
#: each failure, up to MAX_RETRY_DELAY (a requester that is away is not flooded).
RETRY_EVERY = 10.0
MAX_RETRY_DELAY = 600.0


def report_dataset(result: CommitmentResult) -> Dataset:
    """The N-EVENT-REPORT's Event Information (PS3.4 Table J.3-2)."""
    ds = Dataset()
    ds.TransactionUID = result.transaction_uid
    committed = []
    for sop_class, sop_uid in result.committed:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_uid
        committed.append(item)
    if committed:
        ds.ReferencedSOPSequence = committed
    failed = []
    for sop_class, sop_uid, reason in result.failed:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_uid
        item.FailureReason = reason
        failed.append(item)
    if failed:
        ds.FailedSOPSequence = failed
    return ds


def _references(info: Dataset) -> list[tuple[str, str]] | None:
    refs: list[tuple[str, str]] = []
    for item in info.get("ReferencedSOPSequence", []) or []:
        sop_class = str(item.get("ReferencedSOPClassUID", "") or "").strip("\x00 ")
        sop_uid = str(item.get("ReferencedSOPInstanceUID", "") or "").strip("\x00 ")
        if not is_valid_uid(sop_class) or not is_valid_uid(sop_uid):
            return None
        refs.append((sop_class, sop_uid))
    return refs or None


def handle_commit_action(
    event: Event, reporter: Reporter, config: ServerConfig
) -> tuple[int, Dataset | None]:
    """N-ACTION on the Storage Commitment Push Model: record, answer, report later."""
    title = calling_title(event)
    if not config.may(title, "commit"):
        LOGGER.error("commitment from %s refused: not allowed the commit service", title)
        return 0x0124, None
    action = int(getattr(event.request, "ActionTypeID", 0) or 0)
    if action != 1:
        LOGGER.error("commitment from %s: unknown Action Type ID %d", title, action)
        return 0x0123, None
    try:
        info = event.action_information
    except Exception as exc:
        LOGGER.error("commitment from %s: cannot decode the action: %s", title, exc)
        return 0x0110, None
    transaction = str(info.get("TransactionUID", "") or "").strip("\x00 ")
    refs = _references(info)
    if not is_valid_uid(transaction) or refs is None:
        LOGGER.error(
            "commitment from %s refused: needs a Transaction UID and a Referenced SOP "
            "Sequence of valid UIDs",
            title,
        )
        return 0x0115, None
    reporter.store.request(transaction, title, refs)
    LOGGER.info("commitment %s from %s: %d instances", transaction, title, len(refs))
    reporter.submit(PendingCommitment(transaction, title, refs), event.assoc)
    return 0x0000, None


@dataclass
class _Job:
    pending: PendingCommitment
    assoc: Association | None
    due: float
    tries: int = 0


class Reporter:
    """The thread that evaluates commitment requests and delivers their reports.

    Parameters
    ----------
    archive:
        Whose instances are committed to.
    config:
        Our AE title and the requesters' addresses (``known_aes``).
    verify:
        Re-hash each file against its stored SHA-256 before committing to it.
    """

    def __init__(self, archive: Archive, config: ServerConfig, *, verify: bool = True) -> None:
        self.store = CommitmentStore(archive)
        self.config = config
        self.verify = verify
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="medbridge-commit", daemon=True)

    def start(self) -> None:
        """Start the thread, with every request a previous run left pending."""
        for pending in self.store.pending():
            LOGGER.info("commitment %s pending since before this start", pending.transaction_uid)
            self._jobs.append(_Job(pending, None, time.monotonic()))
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; unreported requests stay pending in the index."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(30)

    def submit(self, pending: PendingCommitment, assoc: Association | None) -> None:
        """Queue a request; it is reported on `assoc` if that is still open."""
        with self._cond:
            self._jobs.append(_Job(pending, assoc, time.monotonic()))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    ready = [j for j in self._jobs if j.due <= now]
                    if ready:
                        break
                    wait = min((j.due - now for j in self._jobs), default=None)
                    self._cond.wait(wait)
                if self._stopping:
                    return
                job = ready[0]
                self._jobs.remove(job)
            try:
                delivered = self._deliver(job)
            except Exception as exc:  # never let one request stop the thread
                LOGGER.error("commitment %s: %s", job.pending.transaction_uid, exc)
                delivered = False
            if not delivered:
                self.store.attempted(job.pending.transaction_uid)
                job.tries += 1
                delay = min(RETRY_EVERY * 2 ** (job.tries - 1), MAX_RETRY_DELAY)
                with self._cond:
                    self._jobs.append(
                        _Job(job.pending, None, time.monotonic() + delay, tries=job.tries)
                    )

    def _deliver(self, job: _Job) -> bool:
        pending = job.pending
        result = self.store.evaluate(
            pending.transaction_uid, pending.references, verify=self.verify
        )
        info = report_dataset(result)
        if job.assoc is not None and _send_on(job.assoc, info, result.event_type):
            how = "on the same association"
        elif self._send_new(pending.calling_ae, info, result.event_type):
            how = "on a new association"
        else:
            return False
        self.store.reported(result)
        LOGGER.info(
            "commitment %s reported to %s %s: %d committed, %d failed",
            pending.transaction_uid,
            pending.calling_ae,
            how,
            len(result.committed),
            len(result.failed),
        )
        return True

    def _send_new(self, title: str, info: Dataset, event_type: int) -> bool:
        known = self.config.known_ae(title)
        if known is None:
            LOGGER.error(
                "commitment report for %s: not a known AE, no address to report to "
                "(add [aes.%s] to the config)",
                title,
                title,
            )
            return False
        ae = AE(ae_title=self.config.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
        role = build_role(STORAGE_COMMITMENT_PUSH, scu_role=False, scp_role=True)
        assoc = ae.associate(known.host, known.port, ae_title=known.ae_title, ext_neg=[role])
        if not assoc.is_established:
            LOGGER.error("commitment report: association with %s failed", title)
            return False
        try:
            return _send(assoc, info, event_type)
        finally:
            if assoc.is_established:
                assoc.release()


def _send(assoc: Association, info: Dataset, event_type: int) -> bool:
    status, _reply = assoc.send_n_event_report(
        info, event_type, STORAGE_COMMITMENT_PUSH, STORAGE_COMMITMENT_INSTANCE
    )
    code = int(status.get("Status", 0xFFFF)) if status else 0xFFFF
    if code != 0x0000:
        LOGGER.error("commitment report: the requester answered 0x%04X", code)
    return code == 0x0000


def _send_on(assoc: Association, info: Dataset, event_type: int) -> bool:
    """Report on the requester's association if it is open and not being released.

    The acceptor's reactor thread reads every incoming message, so it is paused first,
    as pynetdicom's own ``Association.release`` does (its ``_reactor_checkpoint``);
    otherwise it could take the N-EVENT-REPORT-RSP meant for this thread.
    """
    paused = _pause(assoc)
    try:
        if not paused or not assoc.is_established:
            return False
        if isinstance(assoc.dul.peek_next_pdu(), A_RELEASE):
            return False  # the requester is leaving; report on a new association
        return _send(assoc, info, event_type)
    finally:
        assoc._reactor_checkpoint.set()


def _pause(assoc: Association, timeout: float = 5.0) -> bool:
    checkpoint: Any = assoc._reactor_checkpoint
    checkpoint.clear()
    deadline = time.monotonic() + timeout
    while not assoc._is_paused:
        if not assoc.is_established or time.monotonic() > deadline:
            return False
        time.sleep(0.0005)
    return True
