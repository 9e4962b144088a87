"""Two ``medbridge serve`` nodes on one PostgreSQL index and one storage folder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydicom.dataset import Dataset

from archive.factory import Spec, make_bytes, write_files
from dimse.conftest import dataset_body
from dimse.peers import MedbridgeServer, fresh_database
from medbridge.dimse import scu

HOST = "127.0.0.1"


def study_rows(port: int) -> dict[str, tuple[int, int]]:
    """StudyInstanceUID → (related instances, related series), by C-FIND at `port`."""
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = ""
    ident.NumberOfStudyRelatedInstances = None
    ident.NumberOfStudyRelatedSeries = None
    answers = scu.find(scu.Peer(HOST, port, ae_title="MEDBRIDGE"), ident)
    return {
        ds.StudyInstanceUID: (
            int(ds.NumberOfStudyRelatedInstances),
            int(ds.NumberOfStudyRelatedSeries),
        )
        for ds in answers
    }


class TestTwoNodes:
    def test_concurrent_ingest_on_both_is_seen_by_both(self, tmp_path, pg_server):
        """Four senders split over two nodes write the same studies; each node sees all."""
        url = fresh_database(pg_server, "nodes")
        specs = [
            Spec(patient_id=f"PG{study % 2}", study=100 + study, series=series, number=n)
            for study in range(3)
            for series in (1, 2)
            for n in range(1, 13)
        ]
        folders = [tmp_path / f"sender{k}" for k in range(4)]
        for k, folder in enumerate(folders):  # interleaved: every sender hits every series
            write_files(folder, specs[k::4])
        env = {"MEDBRIDGE_INDEX_URL": url}
        data = tmp_path / "shared"
        with MedbridgeServer(data, env=env) as a, MedbridgeServer(data, env=env) as b:
            assert "postgresql index" in a.log and "postgresql index" in b.log
            ports = [a.port, b.port, a.port, b.port]
            peers = [scu.Peer(HOST, port, ae_title="MEDBRIDGE") for port in ports]
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda k: scu.send(peers[k], [folders[k]]), range(4)))
            assert [r.failed for r in results] == [[]] * 4
            assert sum(r.sent for r in results) == len(specs)
            expected = {f"{Spec(study=100 + s).study_uid}": (24, 2) for s in range(3)}
            assert study_rows(a.port) == expected
            assert study_rows(b.port) == expected
            out = tmp_path / "got"
            ident = Dataset()
            ident.QueryRetrieveLevel = "STUDY"
            ident.StudyInstanceUID = Spec(study=101).study_uid
            got = scu.get(scu.Peer(HOST, b.port, ae_title="MEDBRIDGE"), ident, out)
        assert (got.status, len(got.received)) == (0x0000, 24)
        wanted = {s.sop_uid: s for s in specs if s.study == 101}
        for path in got.received:
            spec = wanted[Path(path).stem]
            assert dataset_body(path.read_bytes()) == dataset_body(make_bytes(spec))
