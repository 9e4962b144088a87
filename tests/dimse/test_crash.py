"""kill -9 during a multi-association ingest: nothing acknowledged is lost or half-written.

Four pynetdicom senders store into one server; the server is killed with SIGKILL at a
random moment, restarted on the same data, and the senders resend what was not yet
acknowledged. After every crash each acknowledged instance must be on disk under its
final name with exactly the bytes sent, and every visible ``.dcm`` file must be whole;
after the restart each one must be found by C-FIND and returned by C-GET; at the end
``medbridge archive check`` must find the index and the files in agreement (after
``--repair`` has swept the temporaries of interrupted writes).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE

from archive.factory import Spec, make_bytes, write_files
from dimse.conftest import dataset_body
from dimse.peers import MedbridgeServer, medbridge
from medbridge.dimse import scu

HOST = "127.0.0.1"
SENDERS = 4
ROUNDS = 3  # crashes; a last round without a crash completes the ingest


def send_until_failure(
    port: int, todo: list[tuple[Path, str]], acked: set[str], k: int, timeout: float
) -> None:
    """Send each file on one association; record the UIDs that got status 0x0000.

    pynetdicom notices a dead peer only when its DIMSE wait times out, so crash rounds
    use a short `timeout`; a timeout while the server lives only means "not acked".
    """
    ae = AE(ae_title=f"SENDER{k}")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.dimse_timeout = ae.network_timeout = ae.acse_timeout = timeout
    assoc = ae.associate(HOST, port, ae_title="MEDBRIDGE")
    try:
        for path, uid in todo:
            if not assoc.is_established:
                return
            status = assoc.send_c_store(path)
            if int(status.get("Status", 0xFFFF)) == 0x0000:
                acked.add(uid)
        assoc.release()
    except (OSError, RuntimeError):  # the server died under us: that is the test
        return
    finally:
        if assoc.dul.socket is not None:
            assoc.dul.socket.close()


def ingest(
    port: int, queues: list[list[tuple[Path, str]]], acked: list[set[str]], timeout: float
) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=send_until_failure, args=(port, [*q], acked[k], k, timeout))
        for k, q in enumerate(queues)
    ]
    for t in threads:
        t.start()
    return threads


def assert_durable(data_dir: Path, acked: set[str], bodies: dict[str, bytes], seed: int) -> None:
    """Every acknowledged instance is intact; every visible .dcm file is whole."""
    visible = {p.stem: p for p in data_dir.glob("objects/*/*/*.dcm") if not p.name.startswith(".")}
    lost = acked - visible.keys()
    assert not lost, f"seed {seed}: acknowledged but missing: {sorted(lost)[:5]}"
    for uid, path in visible.items():
        assert dataset_body(path.read_bytes()) == bodies[uid], f"seed {seed}: {path} damaged"


class TestCrash:
    # sockets of associations the crash aborted are closed by the garbage collector
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    @pytest.mark.filterwarnings("ignore::ResourceWarning")
    def test_kill_9_during_ingest_loses_nothing_acknowledged(self, tmp_path):
        """SIGKILL at random moments of a 4-association ingest; restart; all acked is there."""
        seed = int.from_bytes(os.urandom(4), "big")
        rng = random.Random(seed)
        specs = [
            Spec(patient_id="CRASH", study=900 + s, series=1, number=n, size=64)
            for s in range(4)
            for n in range(1, 41)
        ]
        paths = write_files(tmp_path / "in", specs)
        bodies = {s.sop_uid: dataset_body(make_bytes(s)) for s in specs}
        files = list(zip(paths, (s.sop_uid for s in specs), strict=True))
        acked: list[set[str]] = [set() for _ in range(SENDERS)]
        data = tmp_path / "var"
        crashes = 0
        for round_ in range(ROUNDS + 1):
            done = set().union(*acked)
            queues = [[f for f in files[k::SENDERS] if f[1] not in done] for k in range(SENDERS)]
            srv = MedbridgeServer(data).start()
            if round_ > 0:  # what survived the last crash is served after the restart
                ident = Dataset()
                ident.QueryRetrieveLevel = "IMAGE"
                ident.SOPInstanceUID = ""
                found = scu.find(scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE"), ident)
                missing = done - {ds.SOPInstanceUID for ds in found}
                assert not missing, f"seed {seed}: acked, not found: {sorted(missing)[:5]}"
            threads = ingest(srv.port, queues, acked, 2 if round_ < ROUNDS else 60)
            if round_ < ROUNDS:
                # kill once a random number of further instances is acknowledged, a
                # random few milliseconds later: somewhere inside the next stores
                target = len(done) + rng.randint(1, (len(files) - len(done)) // 2)
                while len(set().union(*acked)) < target and any(t.is_alive() for t in threads):
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.03))
                crashes += any(t.is_alive() for t in threads)
                srv.kill()
                for t in threads:
                    t.join(60)
                assert_durable(data, set().union(*acked), bodies, seed)
            else:
                for t in threads:
                    t.join(120)
                out = tmp_path / "got"
                ident = Dataset()
                ident.QueryRetrieveLevel = "PATIENT"
                ident.PatientID = "CRASH"
                got = scu.get(
                    scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE"),
                    ident,
                    out,
                    model=scu.QueryModel.PATIENT_ROOT,
                )
                assert srv.stop() == 0
        assert crashes > 0, f"seed {seed}: the ingest finished before any kill"
        assert set().union(*acked) == set(bodies), f"seed {seed}: the last round left some"
        assert (got.status, len(got.received)) == (0x0000, len(specs))
        for path in got.received:
            assert dataset_body(path.read_bytes()) == bodies[dcmread(path).SOPInstanceUID]
        first = medbridge("archive", "check", "--data-dir", str(data))
        assert "missing files: 0" in first.stdout, first.stdout
        assert "checksum mismatches: 0" in first.stdout, first.stdout
        repaired = medbridge("archive", "check", "--repair", "--data-dir", str(data))
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        clean = medbridge("archive", "check", "--data-dir", str(data))
        assert clean.returncode == 0, clean.stdout + clean.stderr
