"""The DIMSE door: an AE with the archive's handlers, listening until stopped.

`medbridge.server` owns the process and the `Archive`; this module only opens and closes
the DICOM port over it.

The AE accepts every storage SOP class with every transfer syntax pynetdicom knows
(uncompressed, deflate, RLE, JPEG, JPEG-LS, JPEG 2000, ...), Verification, and the
Patient Root and Study Root Query/Retrieve FIND, MOVE and GET models (PS3.4 C.6). The
storage classes are also accepted with SCP role selection so a C-GET caller can receive
(PS3.7 D.3.3.4). No PDU limit is imposed by default: large PDUs mean fewer, bigger reads
per instance, which is most of the difference in ingest speed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import ThreadedAssociationServer

from medbridge.archive import Archive
from medbridge.dimse.handlers import handlers_for
from medbridge.dimse.workflow import WORKFLOW_SOP_CLASSES, Workflow
from medbridge.dimse.worklist import MODALITY_WORKLIST_FIND
from medbridge.server.config import ServerConfig

__all__ = ["QUERY_RETRIEVE_MODELS", "VERIFICATION", "Server", "build_ae", "start"]

LOGGER = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"
#: Patient Root and Study Root FIND, MOVE, GET (PS3.4 C.6.1.3, C.6.2.3).
QUERY_RETRIEVE_MODELS = (
    "1.2.840.10008.5.1.4.1.2.1.1",
    "1.2.840.10008.5.1.4.1.2.1.2",
    "1.2.840.10008.5.1.4.1.2.1.3",
    "1.2.840.10008.5.1.4.1.2.2.1",
    "1.2.840.10008.5.1.4.1.2.2.2",
    "1.2.840.10008.5.1.4.1.2.2.3",
)


#: Explicit VR Little Endian first: pynetdicom's acceptor takes the first of its own
#: syntaxes the requestor proposed, and explicit VR keeps the stored bytes unchanged
#: when a C-GET caller proposes several uncompressed syntaxes in one context.
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    *(ts for ts in ALL_TRANSFER_SYNTAXES if ts != ExplicitVRLittleEndian),
]


def build_ae(config: ServerConfig) -> AE:
    """Return the pynetdicom AE with the contexts and limits of `config`."""
    ae = AE(ae_title=config.ae_title)
    ae.maximum_pdu_size = config.max_pdu
    ae.maximum_associations = config.max_associations
    ae.network_timeout = 60
    ae.dimse_timeout = 60
    ae.acse_timeout = 30
    ae.add_supported_context(VERIFICATION, TRANSFER_SYNTAXES)
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax is None:
            continue
        ae.add_supported_context(
            cx.abstract_syntax, TRANSFER_SYNTAXES, scp_role=True, scu_role=False
        )
    for uid in QUERY_RETRIEVE_MODELS:
        ae.add_supported_context(uid, TRANSFER_SYNTAXES)
    # worklist, MPPS, storage commitment, print (medbridge.dimse.workflow)
    for uid in (MODALITY_WORKLIST_FIND, *WORKFLOW_SOP_CLASSES):
        ae.add_supported_context(uid, TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
    # C-MOVE sub-associations propose their own contexts (handlers._storage_contexts);
    # callers are admitted by handlers.handle_requested (AE title and host)
    return ae


class SharedContexts(list[PresentationContext]):
    """The acceptor's presentation contexts, shared by every association, not copied.

    pynetdicom deep-copies the server's supported contexts for each association it
    accepts. With every storage class times every transfer syntax (~170 × 35) that copy
    took most of an association's setup (about 0.5 s on a busy 2-core machine, more
    than Orthanc needs for a whole C-FIND). Negotiation only reads these contexts (it
    builds new ones for its results; pynetdicom ``negotiate_as_acceptor``), so one
    shared list is safe.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        return self


@dataclass
class Server:
    """A running DIMSE server; `stop` ends it."""

    ae: AE
    server: ThreadedAssociationServer
    archive: Archive
    port: int
    workflow: Workflow | None = None

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop accepting, let running associations finish for `grace` seconds, close.

        Each acknowledged C-STORE is durable already, so aborting a slow association
        after the grace period loses nothing that was confirmed. The archive stays open:
        it belongs to whoever started the door.
        """
        self.server.shutdown()
        deadline = time.monotonic() + grace
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ae.shutdown()
        if self.workflow is not None:
            self.workflow.stop()


def start(config: ServerConfig, archive: Archive) -> Server:
    """Start listening for DIMSE over `archive`; returns once the port is bound."""
    ae = build_ae(config)
    workflow = Workflow(archive, config)
    server = ae.start_server(
        (config.bind, config.dimse_port),
        block=False,
        evt_handlers=[*handlers_for(archive, config), *workflow.bindings()],
        ssl_context=config.ssl_context(),
    )
    if server is None:  # only with block=True
        raise RuntimeError("pynetdicom returned no server")
    server.contexts = SharedContexts(server.contexts)
    port = int(server.server_address[1])
    workflow.start()
    return Server(ae=ae, server=server, archive=archive, port=port, workflow=workflow)
