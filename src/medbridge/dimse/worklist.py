"""Modality Worklist C-FIND SCP (PS3.4 K): the archive's scheduled steps to a modality.

`medbridge.dimse.handlers.handle_find` hands requests on the MWL information model
here. Matching and answers are `medbridge.archive.worklist.Worklist.find`; this module
checks the caller may query the worklist (``services`` of its ``[aes.NAME]``) and turns
the outcome into C-FIND statuses (PS3.4 K.4.1.1.4 and C.4.1.1.4):

======  =============================================================
0xFF00  pending: one more scheduled step
0x0000  success: no more steps
0x0124  refused: the calling AE may not query the worklist
0xA900  identifier does not match SOP class (a malformed matching key)
0xC310  unable to process: the identifier does not decode
0xFE00  cancelled (C-CANCEL)
======  =============================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode
from pynetdicom.events import Event

from medbridge.archive import Archive
from medbridge.archive.worklist import Worklist
from medbridge.dimse._direct import DirectResponder
from medbridge.errors import ArchiveError
from medbridge.server.config import ServerConfig

__all__ = ["MODALITY_WORKLIST_FIND", "calling_title", "handle_worklist_find"]

LOGGER = logging.getLogger(__name__)

#: Modality Worklist Information Model - FIND (PS3.4 K.6.1.3).
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


def calling_title(event: Event) -> str:
    """The calling AE title of the event's association, stripped."""
    return str(event.assoc.requestor.ae_title or "").strip()


def handle_worklist_find(
    event: Event, archive: Archive, config: ServerConfig
) -> Iterator[tuple[int, Dataset | None]]:
    """C-FIND SCP on the Modality Worklist model: one pending response per step."""
    title = calling_title(event)
    peer = f"{title}@{event.assoc.requestor.address}"
    if not config.may(title, "worklist"):
        LOGGER.error("MWL C-FIND from %s refused: not allowed the worklist service", peer)
        yield 0x0124, None
        return
    try:
        identifier = event.identifier
    except Exception as exc:  # a damaged identifier fails to decode
        LOGGER.error("MWL C-FIND from %s: cannot decode identifier: %s", peer, exc)
        yield 0xC310, None
        return
    try:
        answers = list(Worklist(archive.index).find(identifier))
    except ArchiveError as exc:
        LOGGER.error("MWL C-FIND from %s refused: %s", peer, exc)
        yield 0xA900, None
        return
    LOGGER.info("MWL C-FIND from %s: %d scheduled steps", peer, len(answers))
    direct = DirectResponder.for_event(event)
    try:
        for found in answers:
            if event.is_cancelled:
                if direct is not None:
                    direct.flush()
                yield 0xFE00, None
                return
            if direct is not None:  # as handle_find does: past pynetdicom's stack
                encoded = encode(found, not direct.explicit_vr, True, False)
                if encoded is not None and direct.fits(encoded):
                    direct.pending(encoded)
                    continue
                direct.flush()
            yield 0xFF00, found
        if direct is not None:
            direct.flush()
    except OSError as exc:
        LOGGER.error("MWL C-FIND from %s: connection lost: %s", peer, exc)
