"""``medbridge find|get|send URL`` against ``medbridge serve``: both doors answer alike.

One server process, both doors over one archive: every DICOMweb answer is compared with
the DIMSE answer to the same request. Also the door's access rules as the client meets
them (``--token`` / ``MEDBRIDGE_TOKEN``) and https with ``--ca``. These need the door's
QIDO-RS, WADO-RS and STOW-RS routes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import Spec, corpus, write_files
from conftest import require_tool
from dimse.peers import MedbridgeServer, medbridge, run
from medbridge.archive import QueryModel
from medbridge.archive.keys import identifier_from_keys
from medbridge.dimse import scu
from medbridge.web import client
from web.test_client_orthanc import FIND_CASES, GET_CASES, datasets, rows

HOST = "127.0.0.1"
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedbridgeServer]:
    """``medbridge serve`` holding the corpus (sent over DIMSE), a write token configured."""
    work = tmp_path_factory.mktemp("medbridge")
    config = work / "medbridge.toml"
    config.write_text(f'[tokens.tester]\ntoken = "{TOKEN}"\nrole = "write"\n')
    paths = write_files(work / "corpus", corpus())
    with MedbridgeServer(work / "var", config=config) as srv:
        sent = scu.send(scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE"), paths)
        assert (sent.sent, sent.failed) == (len(paths), [])
        yield srv


def dimse(srv: MedbridgeServer) -> scu.Peer:
    return scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE")


def web(srv: MedbridgeServer) -> client.WebPeer:
    return client.WebPeer(f"{srv.http_url}/dicom-web", token=TOKEN)


class TestBothDoors:
    @pytest.mark.parametrize("case", list(FIND_CASES), ids=list(FIND_CASES))
    def test_find(self, server, case):
        """QIDO-RS answers equal C-FIND answers of the same server."""
        level, keys = FIND_CASES[case]
        over_dimse = scu.find(dimse(server), identifier_from_keys(keys, level))
        over_web = client.find(web(server), identifier_from_keys(keys, level))
        assert over_dimse
        assert rows(over_web, keys) == rows(over_dimse, keys)

    def test_find_patients(self, server):
        keys = ["PatientID", "PatientName", "NumberOfPatientRelatedStudies"]
        model = QueryModel.PATIENT_ROOT
        over_dimse = scu.find(dimse(server), identifier_from_keys(keys, "PATIENT"), model=model)
        over_web = client.find(web(server), identifier_from_keys(keys, "PATIENT"), model=model)
        assert rows(over_web, keys) == rows(over_dimse, keys)

    def test_find_person_name_with_caret(self, server):
        """``Smith^John`` reaches the door intact (the caret of a PN value)."""
        keys = ["PatientName=Smith^John", "PatientID"]
        found = client.find(web(server), identifier_from_keys(keys, "STUDY"))
        assert rows(found, keys) == [("Smith^John", "PAT2")]

    @pytest.mark.parametrize("case", list(GET_CASES), ids=list(GET_CASES))
    def test_get(self, server, tmp_path, case):
        """WADO-RS writes the files C-GET writes."""
        level, keys = GET_CASES[case]
        by_dimse = scu.get(dimse(server), identifier_from_keys(keys, level), tmp_path / "d")
        by_web = client.get(web(server), identifier_from_keys(keys, level), tmp_path / "w")
        assert (by_web.status, by_web.completed, by_web.failed) == (0, by_dimse.completed, 0)
        assert datasets(tmp_path / "w") == datasets(tmp_path / "d")

    def test_send_then_find_over_dimse(self, server, tmp_path: Path):
        """``medbridge send URL`` stores; C-FIND sees the instances at once."""
        specs = [Spec(patient_id="PAT5", study=5, number=n) for n in range(1, 6)]
        write_files(tmp_path / "in", specs)
        result = medbridge(
            "send", "--token", TOKEN, f"{server.http_url}/dicom-web", str(tmp_path / "in")
        )
        assert (result.returncode, result.stdout) == (0, "sent 5, failed 0\n"), result.stderr
        found = scu.find(
            dimse(server), identifier_from_keys(["PatientID=PAT5", "SOPInstanceUID"], "IMAGE")
        )
        assert sorted(str(ds.SOPInstanceUID) for ds in found) == sorted(s.sop_uid for s in specs)


class TestAccess:
    def test_token_from_environment(self, server):
        url = f"{server.http_url}/dicom-web"
        result = run(
            ["env", f"MEDBRIDGE_TOKEN={TOKEN}", *_medbridge_cmd(),
             "find", "-k", "PatientID=PAT1", "-k", "StudyInstanceUID", url]
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "2 matches" in result.stdout

    def test_missing_token_is_one_line(self, server):
        result = medbridge("find", "-k", "PatientID", f"{server.http_url}/dicom-web")
        assert result.returncode == 1
        assert result.stderr.startswith("error: QIDO-RS /studies at ")
        assert "HTTP 401" in result.stderr and "check --token" in result.stderr


def _medbridge_cmd() -> list[str]:
    return [sys.executable, "-m", "medbridge"]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[MedbridgeServer, Path]]:
    """``medbridge serve`` over TLS with a certificate for 127.0.0.1; yields it and ca.pem."""
    openssl = require_tool("openssl")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "2", "-subj", "/CN=medbridge web test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
         "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"],
    ]  # fmt: skip
    for step in steps:
        done = run([openssl, *step], cwd=folder)
        assert done.returncode == 0, done.stderr
    config = folder / "medbridge.toml"
    config.write_text(f'[tls]\ncert = "{folder / "server.pem"}"\nkey = "{folder / "server.key"}"\n')
    with MedbridgeServer(folder / "var", config=config) as srv:
        yield srv, folder / "ca.pem"


class TestHttps:
    def test_ca_verifies_the_server(self, tls_server):
        srv, ca = tls_server
        assert srv.http_url.startswith("https://")
        result = medbridge("find", "--ca", str(ca), "-k", "PatientID", f"{srv.http_url}/dicom-web")
        assert result.returncode == 0, result.stderr
        assert "0 matches" in result.stdout

    def test_unknown_ca_is_refused(self, tls_server):
        srv, _ca = tls_server
        result = medbridge("find", "-k", "PatientID", f"{srv.http_url}/dicom-web")
        assert result.returncode == 1
        assert "cannot reach" in result.stderr and "--ca" in result.stderr
        assert "Traceback" not in result.stderr
