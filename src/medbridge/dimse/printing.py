"""Basic Grayscale and Color Print Management SCP (PS3.4 H): the DIMSE side.

The SCU negotiates a Meta SOP Class (Basic Grayscale Print Management Meta, 1.2.840.10008.
5.1.1.9, or Color, .18) and sends its requests under it with the class of each object:
Basic Film Session (N-CREATE, N-SET, N-ACTION, N-DELETE), Basic Film Box (N-CREATE,
N-SET, N-ACTION, N-DELETE), Image Boxes (N-SET) and the Printer (N-GET). The objects
and the rendering are `medbridge.archive.printing.PrintStore`'s; refusals carry the
store's status (0x0106, 0x0111, 0x0112, 0x0120), 0x0124 for a caller without the
``print`` service, 0x0110 for a dataset that does not decode.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.events import Event

from medbridge.archive.printing import PrintStore
from medbridge.archive.storage import is_valid_uid
from medbridge.dimse.worklist import calling_title
from medbridge.errors import ServiceRequestError
from medbridge.server.config import ServerConfig

__all__ = ["PRINTER_INSTANCE", "PRINT_SOP_CLASSES", "PrintHandlers"]

LOGGER = logging.getLogger(__name__)

FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
GRAYSCALE_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"
PRINTER = "1.2.840.10008.5.1.1.16"
#: The Printer SOP Class's well-known instance (PS3.4 H.4.11).
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
COLOR_META = "1.2.840.10008.5.1.1.18"

PRINT_SOP_CLASSES = frozenset(
    {FILM_SESSION, FILM_BOX, GRAYSCALE_IMAGE_BOX, COLOR_IMAGE_BOX, PRINTER}
)


def _instance(event: Event, attr: str) -> str:
    return str(getattr(event.request, attr, "") or "").strip("\x00 ")


class PrintHandlers:
    """The print requests of the DIMSE door, over one `PrintStore`."""

    def __init__(self, store: PrintStore, config: ServerConfig) -> None:
        self.store = store
        self.config = config

    def _refused(self, event: Event, what: str) -> bool:
        title = calling_title(event)
        if self.config.may(title, "print"):
            return False
        LOGGER.error("print %s from %s refused: not allowed the print service", what, title)
        return True

    def create(self, event: Event) -> tuple[int, Dataset | None]:
        """N-CREATE of a film session or film box."""
        if self._refused(event, "N-CREATE"):
            return 0x0124, None
        sop_class = _instance(event, "AffectedSOPClassUID")
        uid = _instance(event, "AffectedSOPInstanceUID")
        generated = not uid
        uid = uid or generate_uid()
        title = calling_title(event)
        if not is_valid_uid(uid):
            return 0x0117, None
        try:
            ds = event.attribute_list
            if sop_class == FILM_SESSION:
                self.store.create_session(uid, ds, calling_ae=title)
                reply = Dataset()
                for elem in ds:
                    reply.add(elem)
            elif sop_class == FILM_BOX:
                color = str(event.context.abstract_syntax) == COLOR_META
                reply = self.store.create_film_box(uid, ds, color=color, calling_ae=title)
            else:
                LOGGER.error("print N-CREATE from %s: class %s is not created", title, sop_class)
                return 0x0118, None
        except ServiceRequestError as exc:
            LOGGER.error("print N-CREATE %s from %s refused: %s", uid, title, exc)
            return exc.status, None
        except Exception as exc:
            LOGGER.error("print N-CREATE %s from %s: cannot decode: %s", uid, title, exc)
            return 0x0110, None
        if generated:
            reply.AffectedSOPInstanceUID = uid
        LOGGER.info("print N-CREATE %s from %s", uid, title)
        return 0x0000, reply

    def set(self, event: Event) -> tuple[int, Dataset | None]:
        """N-SET of a film session, film box or image box (the pixels)."""
        if self._refused(event, "N-SET"):
            return 0x0124, None
        uid = _instance(event, "RequestedSOPInstanceUID")
        try:
            self.store.set(uid, event.modification_list)
        except ServiceRequestError as exc:
            LOGGER.error("print N-SET %s from %s refused: %s", uid, calling_title(event), exc)
            return exc.status, None
        except Exception as exc:
            LOGGER.error(
                "print N-SET %s from %s: cannot decode: %s", uid, calling_title(event), exc
            )
            return 0x0110, None
        return 0x0000, None

    def action(self, event: Event) -> tuple[int, Dataset | None]:
        """N-ACTION Print (Action Type ID 1) of a film session or film box."""
        if self._refused(event, "N-ACTION"):
            return 0x0124, None
        uid = _instance(event, "RequestedSOPInstanceUID")
        if int(getattr(event.request, "ActionTypeID", 0) or 0) != 1:
            return 0x0123, None
        try:
            films = self.store.print(uid)
        except ServiceRequestError as exc:
            LOGGER.error("print N-ACTION %s from %s refused: %s", uid, calling_title(event), exc)
            return exc.status, None
        LOGGER.info("print N-ACTION %s from %s: %d films", uid, calling_title(event), len(films))
        return 0x0000, None

    def get(self, event: Event) -> tuple[int, Dataset | None]:
        """N-GET: the Printer's status (PS3.4 H.4.11.2.1), or a print object's attributes."""
        if self._refused(event, "N-GET"):
            return 0x0124, None
        uid = _instance(event, "RequestedSOPInstanceUID")
        if _instance(event, "RequestedSOPClassUID") == PRINTER or uid == PRINTER_INSTANCE:
            ds = Dataset()
            ds.PrinterStatus = "NORMAL"
            ds.PrinterStatusInfo = "NORMAL"
            ds.PrinterName = "medbridge"
            ds.Manufacturer = "medbridge"
            ds.ManufacturerModelName = "PNG and PDF renderer"
            return 0x0000, _only(ds, getattr(event.request, "AttributeIdentifierList", None))
        try:
            ds = self.store.get(uid)
        except ServiceRequestError as exc:
            return exc.status, None
        return 0x0000, _only(ds, getattr(event.request, "AttributeIdentifierList", None))

    def delete(self, event: Event) -> int:
        """N-DELETE of a film session or film box (and their image boxes)."""
        if self._refused(event, "N-DELETE"):
            return 0x0124
        uid = _instance(event, "RequestedSOPInstanceUID")
        try:
            self.store.delete(uid)
        except ServiceRequestError as exc:
            LOGGER.error("print N-DELETE %s from %s refused: %s", uid, calling_title(event), exc)
            return exc.status
        return 0x0000


def _only(ds: Dataset, tags: object) -> Dataset:
    """The attributes an N-GET asked for (all when its identifier list is empty)."""
    if not tags:
        return ds
    wanted = set(tags if isinstance(tags, list) else [tags])
    out = Dataset()
    for elem in ds:
        if elem.tag in wanted:
            out.add(elem)
    return out
