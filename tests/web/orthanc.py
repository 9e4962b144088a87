"""Orthanc with its DICOMweb plugin (Debian ``orthanc``, ``orthanc-dicomweb``) as a peer.

Orthanc serves DICOMweb at ``/dicom-web`` and DIMSE on its own port over the same
store, so one process is both the DICOMweb peer of ``medbridge find|get|send URL`` and
the DIMSE peer they are compared with. Configured with remote DICOMweb servers
(``DicomWeb.Servers``), it is also a DICOMweb *client* of medbridge's door, driven
through its REST API (``/dicom-web/servers/NAME/qido|retrieve|stow``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dimse.peers import need, orthanc

__all__ = ["DICOMWEB_PLUGIN", "OrthancPeer", "orthanc_dicomweb"]

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
HOST = "127.0.0.1"


def need_dicomweb_plugin() -> Path:
    """The plugin's path; fail under CI, skip otherwise, when it is not installed."""
    need("Orthanc")
    if DICOMWEB_PLUGIN.exists():
        return DICOMWEB_PLUGIN
    if os.environ.get("CI"):
        pytest.fail("orthanc-dicomweb is not installed (CI must have it: see .ci/run)")
    pytest.skip("orthanc-dicomweb is not installed")


@dataclass(frozen=True)
class OrthancPeer:
    """A running Orthanc: its REST API, DICOMweb root and DIMSE port."""

    http_port: int
    dicom_port: int
    aet: str

    @property
    def rest(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.rest}/dicom-web"

    def request(
        self, method: str, path: str, body: bytes | str | None = None, timeout: float = 120
    ) -> tuple[int, bytes]:
        """One REST request; returns (status, body)."""
        conn = http.client.HTTPConnection(HOST, self.http_port, timeout=timeout)
        try:
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data)
            rsp = conn.getresponse()
            return rsp.status, rsp.read()
        finally:
            conn.close()

    def post_json(self, path: str, payload: object, timeout: float = 120) -> object:
        """POST a JSON body to the REST API and return the decoded answer (2xx only)."""
        status, body = self.request("POST", path, json.dumps(payload), timeout)
        assert 200 <= status < 300, f"POST {path}: {status} {body[:500]!r}"
        return json.loads(body) if body.strip() else None

    def get_json(self, path: str) -> object:
        status, body = self.request("GET", path)
        assert status == 200, f"GET {path}: {status} {body[:500]!r}"
        return json.loads(body)

    def upload(self, data: bytes) -> None:
        """Store one instance through ``POST /instances`` (Orthanc's own ingest)."""
        status, body = self.request("POST", "/instances", data)
        assert status == 200, f"POST /instances: {status} {body[:300]!r}"


@contextlib.contextmanager
def orthanc_dicomweb(
    work: Path,
    *,
    aet: str = "ORTHANC",
    modalities: dict[str, tuple[str, str, int]] | None = None,
    servers: dict[str, str] | None = None,
) -> Iterator[OrthancPeer]:
    """Run Orthanc with its DICOMweb plugin at ``/dicom-web``.

    `servers` names remote DICOMweb roots Orthanc may query, retrieve from and store
    to (``DicomWeb.Servers``).
    """
    plugin = need_dicomweb_plugin()
    settings: dict[str, object] = {
        "Plugins": [str(plugin)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "Servers": {name: [url.rstrip("/") + "/"] for name, url in (servers or {}).items()},
        },
    }
    with orthanc(work, aet=aet, modalities=modalities, settings=settings) as (http_port, dicom):
        yield OrthancPeer(http_port, dicom, aet)
