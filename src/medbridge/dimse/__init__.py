"""The DIMSE door on pynetdicom: SCP handlers that call `Archive`, and SCU helpers."""

from medbridge.dimse.scu import Peer, RetrieveResult, SendResult
from medbridge.dimse.server import Server, build_ae, start

__all__ = [
    "Peer",
    "RetrieveResult",
    "SendResult",
    "Server",
    "build_ae",
    "start",
]
