"""The audit trail: who did what to which study through which door, and the outcome.

Every door records each access here, allowed or refused, one JSON object a line
(JSON Lines), modelled on the DICOM Audit Message schema IHE ATNA uses (PS3.15 A.5):
the event and its code (DCM 110112 "Query", 110103 "DICOM Instances Accessed", ...),
the action (C, R, U, D, E), the outcome (0 success, 4 minor failure, 8 serious failure),
the user (a person, a token's name or a calling AE title), the door and the network
address, and the studies touched. An ATNA repository can be fed from the file by a
shipper; the file itself is append-only and flushed per line, so a crash loses at most
the line being written.

Each node writes its own file (``audit.jsonl`` in its data folder by default): several
writers on one shared file would interleave partial lines.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO

__all__ = ["AuditEvent", "AuditLog", "Outcome"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Event:
    code: str
    meaning: str
    action: str


class AuditEvent(Enum):
    """The audited events, with their DCM codes (PS3.16 CID 400) and action codes."""

    QUERY = _Event("110112", "Query", "E")
    INSTANCES_ACCESSED = _Event("110103", "DICOM Instances Accessed", "R")
    INSTANCES_TRANSFERRED = _Event("110104", "DICOM Instances Transferred", "C")
    BEGIN_TRANSFERRING = _Event("110102", "Begin Transferring DICOM Instances", "R")
    STUDY_DELETED = _Event("110105", "DICOM Study Deleted", "D")
    EXPORT = _Event("110106", "Export", "R")
    USER_AUTHENTICATION = _Event("110114", "User Authentication", "E")
    SECURITY_ALERT = _Event("110113", "Security Alert", "E")
    ORDER_RECORD = _Event("110109", "Order Record", "U")
    PATIENT_RECORD = _Event("110110", "Patient Record", "R")


class Outcome(int, Enum):
    """EventOutcomeIndicator (PS3.15 A.5.3.1)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


class AuditLog:
    """An append-only JSON Lines audit file, safe to write from any thread.

    Parameters
    ----------
    path:
        The file; None keeps no trail (tests and library use without a server).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def record(
        self,
        event: AuditEvent,
        *,
        door: str,
        user: str,
        outcome: Outcome = Outcome.SUCCESS,
        address: str | None = None,
        studies: Iterable[str] = (),
        detail: str | None = None,
    ) -> None:
        """Append one event; never raises (a full disk is logged, the request goes on)."""
        if self._file is None:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event.value.meaning,
            "event_code": f"DCM {event.value.code}",
            "action": event.value.action,
            "outcome": int(outcome),
            "door": door,
            "user": user,
            "address": address,
            "studies": sorted(set(studies)),
            "detail": detail,
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
            except (OSError, ValueError) as exc:
                LOGGER.error("cannot write the audit trail %s: %s", self.path, exc)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
