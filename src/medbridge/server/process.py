"""One ``medbridge serve`` process: the archive, the DIMSE door and the HTTP door.

This is the only module that knows both doors. It opens the `Archive` once, starts each
door over it, logs one ready line naming both, waits for the stop signal, and closes in
the reverse order: doors first (each lets its running requests finish), archive last.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from medbridge.archive import Archive
from medbridge.archive.accounts import has_users
from medbridge.dimse.server import Server as DimseDoor
from medbridge.dimse.server import start as start_dimse
from medbridge.errors import ArchiveError
from medbridge.server.config import ServerConfig
from medbridge.web.door import HttpDoor
from medbridge.web.door import start as start_http

__all__ = ["Process", "check_exposure", "run", "start"]

LOGGER = logging.getLogger(__name__)


@dataclass
class Process:
    """The running process's parts; `stop` closes them in order."""

    config: ServerConfig
    archive: Archive
    dimse: DimseDoor
    http: HttpDoor

    def stop(self) -> None:
        """Close both doors (running requests finish), then the archive."""
        self.http.stop()
        self.dimse.stop()
        self.archive.close()


def check_exposure(config: ServerConfig, archive: Archive) -> None:
    """Refuse an open HTTP door beyond loopback: without tokens anyone could read it.

    Raises
    ------
    ArchiveError
        If ``http_host`` is not a loopback address, neither tokens nor users are
        configured and ``insecure`` is not set.
    """
    if config.tokens or config.insecure or has_users(archive.index):
        return
    host = config.http_host.strip("[]")
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ArchiveError(
            f"the HTTP door would listen on {config.http_host} with no access control: "
            "add users (medbridge user add), configure [tokens.NAME], or pass --insecure"
        )


def start(config: ServerConfig) -> Process:
    """Open the archive and both doors; returns once both ports are bound."""
    archive = config.open_archive()
    try:
        check_exposure(config, archive)
    except BaseException:
        archive.close()
        raise
    try:
        dimse = start_dimse(config, archive)
    except OSError as exc:  # the port is taken or not ours to bind
        archive.close()
        where = f"{config.bind or '0.0.0.0'}:{config.dimse_port}"
        raise ArchiveError(f"cannot listen for DIMSE on {where}: {exc.strerror or exc}") from exc
    except BaseException:
        archive.close()
        raise
    try:
        http = start_http(config, archive)
    except BaseException:
        dimse.stop()
        archive.close()
        raise
    return Process(config, archive, dimse, http)


def run(
    config: ServerConfig,
    stop: threading.Event,
    *,
    on_ready: Callable[[Process], None] | None = None,
) -> None:
    """Serve until `stop` is set, then shut down cleanly.

    Logs one line when ready, naming the AE title and address, the HTTP URL, the data
    folder and the index.
    """
    process = start(config)
    backend = "sqlite" if process.archive.index.is_sqlite else "postgresql"
    LOGGER.info(
        "medbridge ready: DIMSE AE %s on %s:%d, HTTP on %s (DICOMweb at /dicom-web), "
        "data in %s, %s index%s",
        config.ae_title,
        config.bind or "0.0.0.0",
        process.dimse.port,
        process.http.url,
        process.archive.storage.describe(),
        backend,
        ", TLS" if config.tls_cert else "",
    )
    if on_ready is not None:
        on_ready(process)
    try:
        stop.wait()
    finally:
        LOGGER.info("medbridge stopping")
        process.stop()
        LOGGER.info("medbridge stopped")
