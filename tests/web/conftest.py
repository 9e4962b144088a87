"""Fixtures of the HTTP door's tests: a real uvicorn server over a real archive.

The door runs in-process (``medbridge.web.door.start``, the same code ``medbridge
serve`` runs) on a free loopback port, one per test module, so dicomweb-client and raw
HTTP talk to it over real sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from archive.factory import corpus, make_bytes
from medbridge.archive import Archive
from medbridge.server.config import ServerConfig
from medbridge.web.door import HttpDoor, start


@dataclass
class WebServer:
    """A running HTTP door over `archive`; `url` is its DICOMweb root."""

    archive: Archive
    door: HttpDoor
    data_dir: Path

    @property
    def base(self) -> str:
        return self.door.url

    @property
    def url(self) -> str:
        return f"{self.door.url}/dicom-web"


def serve_archive(data_dir: Path, **settings: object) -> WebServer:
    """Open an archive under `data_dir` and serve it on a free loopback port.

    `settings` override `ServerConfig` fields (tokens, cors_origins, max_body, ...).
    """
    config = ServerConfig(data_dir=data_dir, http_host="127.0.0.1", http_port=0)
    config = replace(config, **settings)  # type: ignore[arg-type]
    archive = config.open_archive()
    return WebServer(archive, start(config, archive), data_dir)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """A door over an archive holding the factory corpus (3 patients, 13 instances)."""
    data_dir = tmp_path_factory.mktemp("web") / "var"
    server = serve_archive(data_dir)
    for spec in corpus():
        server.archive.store(make_bytes(spec))
    yield server
    server.door.stop()
    server.archive.close()


@pytest.fixture
def empty_web(tmp_path: Path) -> Iterator[WebServer]:
    """A door over an empty archive of the test's own."""
    server = serve_archive(tmp_path / "var")
    yield server
    server.door.stop()
    server.archive.close()
