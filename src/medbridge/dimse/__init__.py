"""DICOM networking on pynetdicom: SCP handlers that call `Archive`, SCU helpers, config."""

from medbridge.dimse.config import KnownAE, ServerConfig, load_config
from medbridge.dimse.scu import Peer, RetrieveResult, SendResult
from medbridge.dimse.server import Server, build_ae, run, start

__all__ = [
    "KnownAE",
    "Peer",
    "RetrieveResult",
    "SendResult",
    "Server",
    "ServerConfig",
    "build_ae",
    "load_config",
    "run",
    "start",
]
