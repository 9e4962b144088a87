"""The workflow services of the DIMSE door: MPPS, Storage Commitment and Print.

They share pynetdicom's N-service events (EVT_N_CREATE serves both MPPS and Print), so
one `Workflow` object binds each event once and hands a request to its service's module
by SOP Class (`medbridge.dimse.mpps`, `.commitment`, `.printing`). The worklist's C-FIND
is reached through `medbridge.dimse.handlers.handle_find` (`medbridge.dimse.worklist`).
A request for a class none of them serves gets 0x0118 "no such SOP class".
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.events import Event

from medbridge.archive import Archive
from medbridge.archive.mpps import MppsStore
from medbridge.archive.printing import PrintStore
from medbridge.dimse.commitment import STORAGE_COMMITMENT_PUSH, Reporter, handle_commit_action
from medbridge.dimse.mpps import MPPS_SOP_CLASS, handle_mpps_create, handle_mpps_set
from medbridge.dimse.printing import PRINT_SOP_CLASSES, PrintHandlers
from medbridge.server.config import ServerConfig

__all__ = ["WORKFLOW_SOP_CLASSES", "Workflow"]

LOGGER = logging.getLogger(__name__)

#: The presentation contexts the workflow services add to the AE (abstract syntaxes).
WORKFLOW_SOP_CLASSES = (
    MPPS_SOP_CLASS,
    STORAGE_COMMITMENT_PUSH,
    "1.2.840.10008.5.1.1.9",  # Basic Grayscale Print Management Meta SOP Class
    "1.2.840.10008.5.1.1.18",  # Basic Color Print Management Meta SOP Class
    "1.2.840.10008.5.1.1.16",  # Printer SOP Class
)


def _class_of(event: Event) -> str:
    req = event.request
    uid = getattr(req, "AffectedSOPClassUID", None) or getattr(req, "RequestedSOPClassUID", None)
    return str(uid or "")


class Workflow:
    """MPPS, Storage Commitment and Print over one archive; `start` and `stop` the reporter."""

    def __init__(self, archive: Archive, config: ServerConfig) -> None:
        self.archive = archive
        self.config = config
        self.mpps = MppsStore(archive.index)
        self.reporter = Reporter(archive, config, verify=config.commit_verify)
        self.printing = PrintHandlers(PrintStore(archive.index, archive.data_dir), config)

    def start(self) -> None:
        """Start delivering commitment reports (those pending from a previous run too)."""
        self.reporter.start()

    def stop(self) -> None:
        """Stop the reporter; unreported commitments stay pending in the index."""
        self.reporter.stop()

    def bindings(self) -> list[Any]:
        """The ``(event, handler)`` bindings of the N-services."""
        return [
            (evt.EVT_N_CREATE, self.on_create),
            (evt.EVT_N_SET, self.on_set),
            (evt.EVT_N_ACTION, self.on_action),
            (evt.EVT_N_GET, self.on_get),
            (evt.EVT_N_DELETE, self.on_delete),
        ]

    def on_create(self, event: Event) -> tuple[int, Dataset | None]:
        """N-CREATE: an MPPS, or a print film session, film box or presentation LUT."""
        uid = _class_of(event)
        if uid == MPPS_SOP_CLASS:
            return handle_mpps_create(event, self.mpps, self.config)
        if uid in PRINT_SOP_CLASSES:
            return self.printing.create(event)
        return _no_such_class(event, "N-CREATE")

    def on_set(self, event: Event) -> tuple[int, Dataset | None]:
        """N-SET: an MPPS, or a print film session, film box or image box."""
        uid = _class_of(event)
        if uid == MPPS_SOP_CLASS:
            return handle_mpps_set(event, self.mpps, self.config)
        if uid in PRINT_SOP_CLASSES:
            return self.printing.set(event)
        return _no_such_class(event, "N-SET")

    def on_action(self, event: Event) -> tuple[int, Dataset | None]:
        """N-ACTION: a storage commitment request, or printing a film session or box."""
        uid = _class_of(event)
        if uid == STORAGE_COMMITMENT_PUSH:
            return handle_commit_action(event, self.reporter, self.config)
        if uid in PRINT_SOP_CLASSES:
            return self.printing.action(event)
        return _no_such_class(event, "N-ACTION")

    def on_get(self, event: Event) -> tuple[int, Dataset | None]:
        """N-GET: the printer's status (Printer SOP Class), or a print object."""
        if _class_of(event) in PRINT_SOP_CLASSES:
            return self.printing.get(event)
        return _no_such_class(event, "N-GET")

    def on_delete(self, event: Event) -> int:
        """N-DELETE: a print film session or film box."""
        if _class_of(event) in PRINT_SOP_CLASSES:
            return self.printing.delete(event)
        return _no_such_class(event, "N-DELETE")[0]


def _no_such_class(event: Event, what: str) -> tuple[int, None]:
    LOGGER.error("%s of SOP class %s: not served here", what, _class_of(event))
    return 0x0118, None
