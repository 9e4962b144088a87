"""Hostile files over C-STORE (issue 13): a failure status, a one-line log, the server goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE, _config
from pynetdicom.sop_class import BasicTextSRStorage, MRImageStorage

from dicom import hostile
from dimse.peers import MedbridgeServer

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedbridgeServer]:
    with MedbridgeServer(tmp_path_factory.mktemp("hostile") / "var") as srv:
        yield srv


def send_files(port: int, paths: list[Path]) -> list[int]:
    """C-STORE each file's bytes as they are (pynetdicom's chunked send); the statuses."""
    ae = AE(ae_title="FUZZER")
    for sop_class in (BasicTextSRStorage, MRImageStorage):
        ae.add_requested_context(sop_class, "1.2.840.10008.1.2.1")
    previous = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    assoc = ae.associate(HOST, port, ae_title="MEDBRIDGE")
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(path).get("Status", -1)) for path in paths]
    finally:
        assoc.release()
        _config.STORE_SEND_CHUNKED_DATASET = previous


class TestHostileStore:
    @pytest.mark.parametrize(
        "name", ["deep-undefined", "deep-defined", "huge-length-in-item", "wrong-vr"]
    )
    def test_refused_with_a_status_and_no_traceback(
        self, server: MedbridgeServer, tmp_path: Path, name: str
    ) -> None:
        """0xC000 'cannot understand', the reason logged in one line, then a good store works."""
        bad = tmp_path / "bad.dcm"
        bad.write_bytes(hostile.cases()[name][0])
        good = tmp_path / "good.dcm"
        good.write_bytes(hostile.part10(hostile.base_dataset()))
        statuses = send_files(server.port, [bad, good])
        assert statuses == [0xC000, 0x0000]
        assert "Traceback" not in server.log
        assert "refused" in server.log
