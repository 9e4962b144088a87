"""Modality Performed Procedure Step SCP (PS3.4 F.7): N-CREATE and N-SET.

The state machine and its statuses are `medbridge.archive.mpps.MppsStore`'s; this
module checks the caller may report MPPS and answers with the status the archive chose
(0x0106, 0x0110, 0x0111, 0x0112, 0x0120, 0x0121), or 0x0124 for a caller without the
``mpps`` service, or 0x0110 for a dataset that does not decode. Each refusal is logged
with the caller and the reason.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.events import Event

from medbridge.archive.mpps import MppsStore
from medbridge.archive.storage import is_valid_uid
from medbridge.dimse.worklist import calling_title
from medbridge.errors import ServiceRequestError
from medbridge.server.config import ServerConfig

__all__ = ["MPPS_SOP_CLASS", "handle_mpps_create", "handle_mpps_set"]

LOGGER = logging.getLogger(__name__)

#: Modality Performed Procedure Step SOP Class (PS3.4 F.7.3).
MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"


def handle_mpps_create(
    event: Event, store: MppsStore, config: ServerConfig
) -> tuple[int, Dataset | None]:
    """N-CREATE: a new step IN PROGRESS; the SCP assigns the UID when the SCU did not."""
    title = calling_title(event)
    if not config.may(title, "mpps"):
        LOGGER.error("MPPS N-CREATE from %s refused: not allowed the mpps service", title)
        return 0x0124, None
    uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "").strip("\x00 ")
    generated = not uid
    uid = uid or generate_uid()
    if not is_valid_uid(uid):
        LOGGER.error("MPPS N-CREATE from %s: invalid SOP Instance UID %r", title, uid)
        return 0x0117, None  # invalid object instance
    try:
        ds = event.attribute_list
        store.create(uid, ds, calling_ae=title)
    except ServiceRequestError as exc:
        LOGGER.error("MPPS N-CREATE %s from %s refused: %s", uid, title, exc)
        return exc.status, None
    except Exception as exc:  # an attribute list that does not decode
        LOGGER.error("MPPS N-CREATE %s from %s: cannot decode: %s", uid, title, exc)
        return 0x0110, None
    reply = Dataset()
    if generated:
        reply.AffectedSOPInstanceUID = uid  # pynetdicom moves it into the response
    return 0x0000, reply


def handle_mpps_set(
    event: Event, store: MppsStore, config: ServerConfig
) -> tuple[int, Dataset | None]:
    """N-SET: update an IN PROGRESS step, or make it COMPLETED or DISCONTINUED."""
    title = calling_title(event)
    if not config.may(title, "mpps"):
        LOGGER.error("MPPS N-SET from %s refused: not allowed the mpps service", title)
        return 0x0124, None
    uid = str(getattr(event.request, "RequestedSOPInstanceUID", "") or "").strip("\x00 ")
    try:
        changes = event.modification_list
        store.set(uid, changes)
    except ServiceRequestError as exc:
        LOGGER.error("MPPS N-SET %s from %s refused: %s", uid, title, exc)
        return exc.status, None
    except Exception as exc:
        LOGGER.error("MPPS N-SET %s from %s: cannot decode: %s", uid, title, exc)
        return 0x0110, None
    return 0x0000, Dataset()
