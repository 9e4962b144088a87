"""The HTTP door: the ASGI app of `medbridge.web.app` served by uvicorn in a thread.

`medbridge serve` runs this beside the DIMSE door in one process over one `Archive`. The
app itself does not depend on it: ``create_app`` can be served by any ASGI server, with
several workers, as long as each worker opens the archive itself.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from dataclasses import dataclass

import uvicorn

from medbridge.archive import Archive
from medbridge.errors import ArchiveError
from medbridge.server.config import ServerConfig
from medbridge.web.app import create_app

__all__ = ["HttpDoor", "start"]

LOGGER = logging.getLogger(__name__)


@dataclass
class HttpDoor:
    """A running HTTP door; `stop` ends it."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        """The door's base URL, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop accepting, let running requests finish for `grace` seconds, then close."""
        self.server.should_exit = True
        self.thread.join(grace)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(5)


def start(config: ServerConfig, archive: Archive, *, timeout: float = 30.0) -> HttpDoor:
    """Serve the HTTP door of `archive` on ``config.http_host:http_port`` in a thread.

    Returns once the port is bound (port 0 picks a free one, reported in ``port``).

    Raises
    ------
    ArchiveError
        If the port cannot be bound or the TLS files cannot be loaded.
    """
    tls = config.tls_cert is not None
    uv_config = uvicorn.Config(
        create_app(archive, config),
        host=config.http_host,
        port=config.http_port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=10,
        ssl_certfile=str(config.tls_cert) if tls else None,
        ssl_keyfile=str(config.tls_key) if tls and config.tls_key else None,
        ssl_ca_certs=str(config.tls_ca) if tls and config.tls_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls and config.tls_ca else ssl.CERT_NONE,
    )
    server = uvicorn.Server(uv_config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # reported to start() below; SystemExit included
            failure.append(exc)

    thread = threading.Thread(target=serve, name="medbridge-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if failure or not thread.is_alive():
            reason = failure[0] if failure else "the server thread ended"
            raise ArchiveError(
                f"cannot serve HTTP on {config.http_host}:{config.http_port}: {reason}"
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise ArchiveError(f"HTTP door not listening after {timeout:.0f} s")
        time.sleep(0.01)
    sockets = [s for srv in server.servers for s in srv.sockets]
    port = int(sockets[0].getsockname()[1]) if sockets else config.http_port
    return HttpDoor(server, thread, config.http_host, port, "https" if tls else "http")
