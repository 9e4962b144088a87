"""Worklist, MPPS, Storage Commitment and Print against ``medbridge serve``, with real peers.

DCMTK's ``findscu -W`` queries the worklist and ``dcmpsprt``/``dcmprscu`` print to it;
pynetdicom SCUs report MPPS and request storage commitment; medbridge's own SCU
commands do the same from the command line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from archive.factory import Spec, write_files
from dimse.peers import MedbridgeServer, free_port, need, run
from medbridge.dimse import scu

HOST = "127.0.0.1"
MPPS = "1.2.840.10008.3.1.2.3.3"
COMMIT = "1.2.840.10008.1.20.1"
COMMIT_INSTANCE = "1.2.840.10008.1.20.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def medbridge(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m medbridge ARGS`` (the command line as a user types it)."""
    return subprocess.run(
        [sys.executable, "-m", "medbridge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def config_text(report_port: int) -> str:
    return (
        '[server]\nae_title = "MEDBRIDGE"\n\n'
        f'[aes.MODALITY]\nae_title = "MODALITY"\nhost = "127.0.0.1"\nport = {report_port}\n\n'
        '[aes.STOREONLY]\nae_title = "STOREONLY"\nhost = "127.0.0.1"\nport = 1\n'
        'services = ["store", "find"]\n'
    )


@pytest.fixture(scope="module")
def report_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, report_port: int) -> Iterator[MedbridgeServer]:
    work = tmp_path_factory.mktemp("workflow")
    config = work / "medbridge.toml"
    config.write_text(config_text(report_port))
    with MedbridgeServer(work / "var", config=config) as srv:
        yield srv


def schedule(srv: MedbridgeServer, *args: str) -> int:
    result = medbridge("worklist", "add", "--data-dir", str(srv.data_dir), *args)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


def listing(srv: MedbridgeServer) -> list[dict[str, object]]:
    result = medbridge("worklist", "list", "--data-dir", str(srv.data_dir), "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def findscu_worklist(port: int, out: Path, *keys: str, aet: str = "MODALITY") -> list[Dataset]:
    """``findscu -W`` with the given -k keys; the answers it extracted (-X)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["findscu", "-W", "-aet", aet, "-aec", "MEDBRIDGE", "-X", "-od", str(out)]
    for key in keys:
        cmd += ["-k", key]
    result = run([*cmd, HOST, str(port)])
    assert result.returncode == 0, result.stderr
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


SPS = "ScheduledProcedureStepSequence[0]"
RETURN_KEYS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "RequestedProcedureID",
    "StudyInstanceUID",
    f"{SPS}.ScheduledStationAETitle",
    f"{SPS}.ScheduledProcedureStepStartTime",
    f"{SPS}.ScheduledProcedureStepID",
    f"{SPS}.ScheduledPerformingPhysicianName",
)


class TestWorklistWithFindscu:
    def test_station_query(self, server, tmp_path):
        """Steps scheduled from options and from DICOM JSON answer findscu -W by station/date."""
        need("findscu")
        schedule(
            server,
            *("--patient-id", "W1", "--patient-name", "WORK^ONE", "--modality", "CT"),
            *("--station-ae", "CTSTATION", "--start-date", "20270301", "--start-time", "0800"),
            *("--accession", "WACC1", "--requested-procedure-id", "WRP1"),
        )
        schedule(
            server,
            *("--patient-id", "W2", "--patient-name", "WORK^TWO", "--modality", "MR"),
            *("--station-ae", "MRSTATION", "--start-date", "20270301", "--start-time", "0900"),
        )
        # the same item shape findscu -W receives, as DICOM JSON
        item = Dataset()
        item.PatientID = "W3"
        item.PatientName = "WORK^THREE"
        item.PatientBirthDate = "19800101"
        item.AccessionNumber = "WACC3"
        item.StudyInstanceUID = "1.2.826.0.1.3680043.10.1337.77.3"
        sps = Dataset()
        sps.Modality = "CT"
        sps.ScheduledStationAETitle = "CTSTATION"
        sps.ScheduledProcedureStepStartDate = "20270302"
        sps.ScheduledProcedureStepStartTime = "101500"
        sps.ScheduledProcedureStepID = "SPS3"
        sps.ScheduledPerformingPhysicianName = "HOUSE^GREGORY"
        item.ScheduledProcedureStepSequence = [sps]
        item_file = tmp_path / "item.json"
        item_file.write_text(item.to_json())
        schedule(server, "--json", str(item_file))

        answers = findscu_worklist(
            server.port,
            tmp_path / "ct",
            *RETURN_KEYS,
            f"{SPS}.Modality=CT",
            f"{SPS}.ScheduledProcedureStepStartDate=20270301-20270302",
        )
        assert [a.PatientID for a in answers] == ["W1", "W3"]
        first, third = answers
        assert first.AccessionNumber == "WACC1" and first.RequestedProcedureID == "WRP1"
        assert first.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CTSTATION"
        assert third.PatientBirthDate == "19800101"
        assert third.StudyInstanceUID == item.StudyInstanceUID
        step = third.ScheduledProcedureStepSequence[0]
        assert step.ScheduledProcedureStepID == "SPS3"
        assert step.ScheduledPerformingPhysicianName == "HOUSE^GREGORY"
        assert step.ScheduledProcedureStepStartTime == "101500"

        by_name = findscu_worklist(
            server.port, tmp_path / "name", *RETURN_KEYS, "PatientName=work^t*"
        )
        assert sorted(a.PatientID for a in by_name) == ["W2", "W3"]

    def test_unauthorised_station_is_refused(self, server, tmp_path):
        """An AE without the worklist service gets a failure and a log line; no answers."""
        need("findscu")
        schedule(server, "--patient-id", "W9", "--modality", "CT")
        out = tmp_path / "refused"
        out.mkdir()
        result = run(
            [
                "findscu",
                "-v",
                "-W",
                "-aet",
                "STOREONLY",
                "-aec",
                "MEDBRIDGE",
                "-X",
                "-od",
                str(out),
                "-k",
                "PatientID",
                HOST,
                str(server.port),
            ]
        )
        assert list(out.glob("rsp*.dcm")) == []
        assert "Final Find Response (Unknown Status: 0x124)" in result.stderr  # not authorised
        assert "not allowed the worklist service" in server.log
        assert scu.echo(scu.Peer(HOST, server.port, ae_title="MEDBRIDGE")) == 0

    def test_medbridge_worklist_query(self, server):
        """medbridge's own SCU: worklist query, answers as DICOM JSON."""
        schedule(server, "--patient-id", "Q1", "--modality", "US", "--station-ae", "USQ")
        result = medbridge(
            "worklist",
            "query",
            "--aet",
            "MODALITY",
            "--aec",
            "MEDBRIDGE",
            "--json",
            "-k",
            "ScheduledStationAETitle=USQ",
            HOST,
            str(server.port),
        )
        assert result.returncode == 0, result.stderr
        answers = [Dataset.from_json(line) for line in result.stdout.splitlines()]
        assert [a.PatientID for a in answers] == ["Q1"]


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll `condition` (a log line written just after a reply) until true or timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def mpps_create_dataset(study_uid: str, step_id: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = "M1"
    ds.PatientName = "MPPS^ONE"
    step = Dataset()
    step.StudyInstanceUID = study_uid
    step.ScheduledProcedureStepID = step_id
    step.AccessionNumber = ""
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "MODALITY"
    ds.PerformedProcedureStepStartDate = "20270301"
    ds.PerformedProcedureStepStartTime = "080500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    ds.PerformedSeriesSequence = []
    return ds


def completed(series_uid: str, sop_uids: list[str]) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20270301"
    ds.PerformedProcedureStepEndTime = "083000"
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    refs = []
    for uid in sop_uids:
        ref = Dataset()
        ref.ReferencedSOPClassUID = CT
        ref.ReferencedSOPInstanceUID = uid
        refs.append(ref)
    series.ReferencedImageSequence = refs
    ds.PerformedSeriesSequence = [series]
    return ds


class TestMppsWithPynetdicom:
    def test_in_progress_then_completed(self, server):
        """N-CREATE, N-SET COMPLETED; the listing shows the state and the series."""
        study = "1.2.826.0.1.3680043.10.1337.88.1"
        schedule(
            server,
            "--patient-id",
            "M1",
            "--modality",
            "CT",
            "--study-uid",
            study,
            "--step-id",
            "MS1",
        )
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(MPPS)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        try:
            uid = "1.2.826.0.1.3680043.10.1337.99.1"
            status, _ = assoc.send_n_create(mpps_create_dataset(study, "MS1"), MPPS, uid)
            assert status.Status == 0x0000
            (step,) = [e for e in listing(server) if e["StudyInstanceUID"] == study]
            assert (step["State"], step["MPPS"]) == ("IN PROGRESS", uid)
            status, _ = assoc.send_n_set(completed(study + ".1", [study + ".1.1"]), MPPS, uid)
            assert status.Status == 0x0000
            # invalid transition: a completed step may no longer be updated
            status, _ = assoc.send_n_set(completed(study + ".1", []), MPPS, uid)
            assert status.Status == 0x0110
            # unknown instance
            status, _ = assoc.send_n_set(completed(study + ".1", []), MPPS, "1.2.3.999")
            assert status.Status == 0x0112
            # duplicate, and a create that is not IN PROGRESS
            status, _ = assoc.send_n_create(mpps_create_dataset(study, "MS1"), MPPS, uid)
            assert status.Status == 0x0111
            bad = mpps_create_dataset(study, "MS1")
            bad.PerformedProcedureStepStatus = "COMPLETED"
            status, _ = assoc.send_n_create(bad, MPPS, "1.2.3.998")
            assert status.Status == 0x0106
            missing = mpps_create_dataset(study, "MS1")
            del missing.Modality
            status, _ = assoc.send_n_create(missing, MPPS, "1.2.3.997")
            assert status.Status == 0x0120
        finally:
            assoc.release()
        (step,) = [e for e in listing(server) if e["StudyInstanceUID"] == study]
        assert step["State"] == "COMPLETED"
        assert step["PerformedSeries"] == [study + ".1"]
        assert "MPPS N-SET 1.2.3.999 from MODALITY refused" in server.log
        assert scu.echo(scu.Peer(HOST, server.port, ae_title="MEDBRIDGE")) == 0

    def test_scp_assigns_the_uid(self, server):
        """An N-CREATE without Affected SOP Instance UID gets one in the response."""
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(MPPS)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        try:
            status, _ = assoc.send_n_create(mpps_create_dataset("1.2.3.4", "X"), MPPS, None)
        finally:
            assoc.release()
        assert status.Status == 0x0000
        assert re.search(r"MPPS [0-9.]{10,64} from MODALITY: IN PROGRESS", server.log)

    def test_unauthorised_caller(self, server):
        ae = AE(ae_title="STOREONLY")
        ae.add_requested_context(MPPS)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        try:
            status, _ = assoc.send_n_create(mpps_create_dataset("1.2.3.4", "X"), MPPS, "1.2.3.5")
        finally:
            assoc.release()
        assert status.Status == 0x0124

    def test_medbridge_mpps_commands(self, server, tmp_path):
        """medbridge mpps start, then complete with the performed series' files."""
        study = "1.2.826.0.1.3680043.10.1337.88.2"
        schedule(
            server,
            "--patient-id",
            "M2",
            "--modality",
            "CT",
            "--study-uid",
            study,
            "--step-id",
            "MS2",
        )
        peer = ("--aet", "MODALITY", "--aec", "MEDBRIDGE", HOST, str(server.port))
        started = medbridge(
            "mpps",
            "start",
            "--patient-id",
            "M2",
            "--study-uid",
            study,
            "--step-id",
            "MS2",
            "--modality",
            "CT",
            *peer,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        uid = started.stdout.split()[0]
        files = write_files(
            tmp_path / "series", [Spec(study=88, series=2, number=n) for n in (1, 2)]
        )
        done = medbridge("mpps", "complete", *peer, uid, *map(str, files))
        assert done.returncode == 0, done.stdout + done.stderr
        (step,) = [e for e in listing(server) if e["StudyInstanceUID"] == study]
        assert step["State"] == "COMPLETED"
        assert step["PerformedSeries"] == [Spec(study=88, series=2).series_uid]
        again = medbridge("mpps", "discontinue", *peer, uid)
        assert again.returncode == 1 and "0x0110" in again.stdout


def stored_specs(server: MedbridgeServer, tmp_path: Path, study: int) -> list[Spec]:
    specs = [Spec(study=study, number=n) for n in (1, 2)]
    folder = tmp_path / f"send{study}"
    write_files(folder, specs)
    sent = scu.send(scu.Peer(HOST, server.port, ae_title="MEDBRIDGE"), [folder])
    assert sent.failed == []
    return specs


def action_info(transaction: str, refs: list[tuple[str, str]]) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction
    items = []
    for sop_class, uid in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


class Reports:
    """N-EVENT-REPORTs received, by Transaction UID."""

    def __init__(self) -> None:
        self.got: dict[str, tuple[int, Dataset]] = {}
        self.arrived = threading.Event()

    def __call__(self, event):
        info = event.event_information
        self.got[str(info.TransactionUID)] = (int(event.request.EventTypeID), info)
        self.arrived.set()
        return 0x0000, None


@pytest.fixture
def listener(report_port: int) -> Iterator[Reports]:
    """The requester's own port, where reports on a new association arrive."""
    reports = Reports()
    ae = AE(ae_title="MODALITY")
    ae.add_supported_context(COMMIT, scu_role=True, scp_role=True)
    srv = ae.start_server(
        (HOST, report_port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports)]
    )
    yield reports
    srv.shutdown()


class TestStorageCommitment:
    def test_report_on_the_same_association(self, server, tmp_path):
        """The requester waits: the report comes on its association, with failures."""
        specs = stored_specs(server, tmp_path, 201)
        reports = Reports()
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(COMMIT)
        assoc = ae.associate(
            HOST,
            server.port,
            ae_title="MEDBRIDGE",
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports)],
        )
        refs = [(CT, specs[0].sop_uid), (CT, specs[1].sop_uid), (CT, "1.2.3.4.404")]
        try:
            status, _ = assoc.send_n_action(
                action_info("1.2.3.77.1", refs), 1, COMMIT, COMMIT_INSTANCE
            )
            assert status.Status == 0x0000
            assert reports.arrived.wait(30)
        finally:
            assoc.release()
        event_type, info = reports.got["1.2.3.77.1"]
        assert event_type == 2
        assert [i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence] == [
            specs[0].sop_uid,
            specs[1].sop_uid,
        ]
        (failed,) = info.FailedSOPSequence
        assert (failed.ReferencedSOPInstanceUID, failed.FailureReason) == ("1.2.3.4.404", 0x0112)
        assert wait_for(lambda: "on the same association" in server.log)

    def test_report_on_a_new_association(self, server, tmp_path, listener):
        """The requester releases at once: the report goes to its configured address."""
        specs = stored_specs(server, tmp_path, 202)
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(COMMIT)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        refs = [(CT, s.sop_uid) for s in specs]
        status, _ = assoc.send_n_action(action_info("1.2.3.77.2", refs), 1, COMMIT, COMMIT_INSTANCE)
        assoc.release()
        assert status.Status == 0x0000
        assert listener.arrived.wait(30)
        event_type, info = listener.got["1.2.3.77.2"]
        assert event_type == 1
        assert "FailedSOPSequence" not in info
        assert len(info.ReferencedSOPSequence) == 2

    def test_bad_requests(self, server):
        """Wrong action type, no references, a caller without the commit service."""
        for title, action, info, expected in [
            ("MODALITY", 2, action_info("1.2.3.77.3", [(CT, "1.2.3")]), 0x0123),
            ("MODALITY", 1, action_info("1.2.3.77.4", []), 0x0115),
            ("STOREONLY", 1, action_info("1.2.3.77.5", [(CT, "1.2.3")]), 0x0124),
        ]:
            ae = AE(ae_title=title)
            ae.add_requested_context(COMMIT)
            assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
            try:
                status, _ = assoc.send_n_action(info, action, COMMIT, COMMIT_INSTANCE)
            finally:
                assoc.release()
            assert status.Status == expected

    def test_medbridge_commit_against_medbridge(self, server, tmp_path):
        """medbridge commit: the report on the same association; exit 3 with a failure."""
        specs = stored_specs(server, tmp_path, 203)
        folder = tmp_path / "c203"
        files = write_files(folder, [*specs, Spec(study=203, number=9)])
        result = medbridge(
            "commit",
            "--aet",
            "MODALITY",
            "--aec",
            "MEDBRIDGE",
            "--timeout",
            "30",
            HOST,
            str(server.port),
            *map(str, files),
        )
        assert result.returncode == 3, result.stdout + result.stderr
        assert "committed 2, failed 1" in result.stdout
        assert f"failed {Spec(study=203, number=9).sop_uid}" in result.stdout

    def test_pending_commitment_survives_kill(self, tmp_path, report_port):
        """Requested while the requester is away, kill -9, restart: reported after all."""
        config = tmp_path / "medbridge.toml"
        config.write_text(config_text(report_port))
        data = tmp_path / "var"
        srv = MedbridgeServer(data, config=config).start()
        try:
            specs = stored_specs(srv, tmp_path, 204)
            ae = AE(ae_title="MODALITY")
            ae.add_requested_context(COMMIT)
            assoc = ae.associate(HOST, srv.port, ae_title="MEDBRIDGE")
            refs = [(CT, s.sop_uid) for s in specs]
            status, _ = assoc.send_n_action(
                action_info("1.2.3.77.6", refs), 1, COMMIT, COMMIT_INSTANCE
            )
            assoc.release()
            assert status.Status == 0x0000
            # a scheduled step and its MPPS in progress are durable too
            schedule(
                srv,
                "--patient-id",
                "K1",
                "--modality",
                "CT",
                "--study-uid",
                "1.2.3.66",
                "--step-id",
                "K1",
            )
            ae = AE(ae_title="MODALITY")
            ae.add_requested_context(MPPS)
            assoc = ae.associate(HOST, srv.port, ae_title="MEDBRIDGE")
            status, _ = assoc.send_n_create(
                mpps_create_dataset("1.2.3.66", "K1"), MPPS, "1.2.3.66.9"
            )
            assoc.release()
            assert status.Status == 0x0000
        finally:
            assert srv.proc is not None
            os.kill(srv.proc.pid, signal.SIGKILL)
            srv.kill()
        reports = Reports()
        ae = AE(ae_title="MODALITY")
        ae.add_supported_context(COMMIT, scu_role=True, scp_role=True)
        listening = ae.start_server(
            (HOST, report_port), block=False, evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports)]
        )
        try:
            with MedbridgeServer(data, config=config) as again:
                assert reports.arrived.wait(60), again.log
                assert "pending since before this start" in again.log
        finally:
            listening.shutdown()
        event_type, info = reports.got["1.2.3.77.6"]
        assert event_type == 1 and len(info.ReferencedSOPSequence) == 2
        (step,) = [e for e in listing(srv) if e["StudyInstanceUID"] == "1.2.3.66"]
        assert (step["State"], step["MPPS"]) == ("IN PROGRESS", "1.2.3.66.9")


PRINTER_CFG = """[[GENERAL]]
[APPLICATION]
LogDirectory = {work}/log
LogFile = general.log
LogLevel = INFO
[PRINT]
Spooler = dcmprscu
Directory = {work}/spool
DeletePrintJobs = false
[DATABASE]
Directory = {work}/database
[NETWORK]
aetitle = {aet}
[[COMMUNICATION]]
[MEDBRIDGE]
Aetitle = MEDBRIDGE
Description = medbridge print SCP
Hostname = 127.0.0.1
Port = {port}
Type = PRINTER
DisplayFormat=1,1\\2,1\\1,2\\2,2
FilmSizeID = 8INX10IN\\14INX17IN
MagnificationType = REPLICATE\\BILINEAR\\CUBIC\\NONE
MaxPDU = 32768
Supports12Bit = true
ImplicitOnly = false
SupportsPresentationLUT = false
"""


class TestPrintWithDcmprscu:
    def _print(
        self, server, tmp_path, *options: str, aet: str = "MODALITY", spooler: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        need("dcmpsprt")
        need("dcmprscu")
        work = tmp_path
        for sub in ("log", "spool", "database"):
            (work / sub).mkdir(exist_ok=True)
        cfg = work / "printer.cfg"
        cfg.write_text(PRINTER_CFG.format(work=work, port=server.port, aet=aet))
        images = [get_testdata_file("MR_small.dcm"), get_testdata_file("CT_small.dcm")]
        made = run(["dcmpsprt", "-c", str(cfg), "-p", "MEDBRIDGE", *options, *map(str, images)])
        assert made.returncode == 0, made.stderr
        (job,) = list((work / "database").glob("SP_*.dcm"))
        return run(["dcmprscu", "-c", str(cfg), "-p", "MEDBRIDGE", "-v", *spooler, str(job)])

    def test_two_images_landscape(self, server, tmp_path):
        """STANDARD\\2,1 on 14x17 landscape: a 1700x1400 page, one image in each half."""
        before = len(json_films(server))
        result = self._print(
            server,
            tmp_path,
            "--layout",
            "2",
            "1",
            "--landscape",
            "--filmsize",
            "14INX17IN",
            "--magnification",
            "REPLICATE",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        films = json_films(server)
        assert len(films) == before + 1
        film = films[-1]
        assert film["ImageDisplayFormat"] == "STANDARD\\2,1"
        assert film["FilmOrientation"] == "LANDSCAPE"
        assert film["Images"] == 2 and film["CallingAE"] == "MODALITY"
        assert Path(str(film["PDF"])).read_bytes()[:5] == b"%PDF-"
        with Image.open(str(film["PNG"])) as page:
            assert page.size == (1700, 1400)
            left = page.crop((0, 0, 850, 1400)).getbbox()
            right = page.crop((850, 0, 1700, 1400)).getbbox()
        # each image fills its half's width (scaled up by replication), centred vertically
        assert left is not None and right is not None
        assert left[2] - left[0] >= 840 and right[2] - right[0] >= 840

    def test_portrait_column_no_magnification(self, server, tmp_path):
        """STANDARD\\1,2 portrait, NONE: images at their own size in the upper and lower cells."""
        result = self._print(
            server,
            tmp_path,
            "--layout",
            "1",
            "2",
            "--portrait",
            "--filmsize",
            "8INX10IN",
            "--magnification",
            "NONE",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        film = json_films(server)[-1]
        with Image.open(str(film["PNG"])) as page:
            assert page.size == (800, 1000)
            top = page.crop((0, 0, 800, 500)).getbbox()
            bottom = page.crop((0, 500, 800, 1000)).getbbox()
        assert top is not None and bottom is not None
        assert top[2] - top[0] <= 300  # not scaled to the 800-pixel cell

    def test_session_print(self, server, tmp_path):
        """N-ACTION on the film session (dcmprscu --session-print) prints its film box."""
        before = len(json_films(server))
        result = self._print(server, tmp_path, "--layout", "2", "2", spooler=("--session-print",))
        assert result.returncode == 0, result.stdout + result.stderr
        films = json_films(server)
        assert len(films) == before + 1
        assert films[-1]["ImageDisplayFormat"] == "STANDARD\\2,2" and films[-1]["Images"] == 2

    def test_unauthorised_printer_user(self, server, tmp_path):
        before = len(json_films(server))
        self._print(server, tmp_path, "--layout", "1", "1", aet="STOREONLY")
        assert len(json_films(server)) == before
        assert "not allowed the print service" in server.log


def json_films(server: MedbridgeServer) -> list[dict[str, object]]:
    result = medbridge("print", "list", "--data-dir", str(server.data_dir), "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


class TestCommitAgainstOrthanc:
    def test_medbridge_commit_to_orthanc(self, tmp_path):
        """medbridge commit against Orthanc's Storage Commitment SCP: report on our port."""
        from dimse.peers import orthanc

        listen = free_port()
        held = write_files(tmp_path / "held", [Spec(study=301, number=n) for n in (1, 2)])
        absent = write_files(tmp_path / "absent", [Spec(study=301, number=3)])
        with orthanc(tmp_path / "orthanc", modalities={"MB": ("MBSCU", HOST, listen)}) as ports:
            _http, dicom = ports
            sent = scu.send(
                scu.Peer(HOST, dicom, ae_title="ORTHANC", calling_ae_title="MBSCU"), held
            )
            assert sent.failed == []
            result = medbridge(
                "commit",
                "--aet",
                "MBSCU",
                "--aec",
                "ORTHANC",
                "--listen-port",
                str(listen),
                "--timeout",
                "60",
                HOST,
                str(dicom),
                *map(str, held + absent),
            )
        assert result.returncode == 3, result.stdout + result.stderr
        assert "committed 2, failed 1" in result.stdout
        assert f"failed {Spec(study=301, number=3).sop_uid}" in result.stdout


COLOR_META = "1.2.840.10008.5.1.1.18"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"
PRINTER = "1.2.840.10008.5.1.1.16"


def color_image(rgb: tuple[int, int, int], size: int = 40) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 3
    item.PhotometricInterpretation = "RGB"
    item.PlanarConfiguration = 0
    item.Rows = item.Columns = size
    item.PixelAspectRatio = [1, 1]
    item.BitsAllocated = item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    item.PixelData = bytes(rgb) * (size * size)
    return item


class TestColorPrintWithPynetdicom:
    def test_two_by_two_color_film(self, server):
        """Color meta class: a 2x2 film box, four image boxes set, printed, then deleted."""
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(COLOR_META)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        try:
            status, printer = assoc.send_n_get(
                [0x21100010], PRINTER, "1.2.840.10008.5.1.1.17", meta_uid=COLOR_META
            )
            assert status.Status == 0x0000 and printer.PrinterStatus == "NORMAL"
            session = Dataset()
            session.NumberOfCopies = 1
            status, _ = assoc.send_n_create(
                session, FILM_SESSION, "1.2.3.55.1", meta_uid=COLOR_META
            )
            assert status.Status == 0x0000
            box = Dataset()
            box.ImageDisplayFormat = "STANDARD\\2,2"
            box.FilmOrientation = "PORTRAIT"
            box.FilmSizeID = "8INX10IN"
            box.MagnificationType = "REPLICATE"
            box.BorderDensity = "WHITE"
            ref = Dataset()
            ref.ReferencedSOPClassUID = FILM_SESSION
            ref.ReferencedSOPInstanceUID = "1.2.3.55.1"
            box.ReferencedFilmSessionSequence = [ref]
            status, created = assoc.send_n_create(box, FILM_BOX, "1.2.3.55.2", meta_uid=COLOR_META)
            assert status.Status == 0x0000
            boxes = created.ReferencedImageBoxSequence
            assert [b.ReferencedSOPClassUID for b in boxes] == [COLOR_IMAGE_BOX] * 4
            colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
            for position, (image_box, rgb) in enumerate(zip(boxes, colors, strict=True), 1):
                ds = Dataset()
                ds.ImageBoxPosition = position
                if position == 4:
                    ds.Polarity = "REVERSE"
                ds.BasicColorImageSequence = [color_image(rgb)]
                status, _ = assoc.send_n_set(
                    ds, COLOR_IMAGE_BOX, image_box.ReferencedSOPInstanceUID, meta_uid=COLOR_META
                )
                assert status.Status == 0x0000
            status, _ = assoc.send_n_action(None, 1, FILM_BOX, "1.2.3.55.2", meta_uid=COLOR_META)
            assert status.Status == 0x0000
            # a layout other than STANDARD\C,R, and a film box of an unknown session
            bad = Dataset()
            bad.ImageDisplayFormat = "ROW\\2,1"
            bad.ReferencedFilmSessionSequence = [ref]
            status, _ = assoc.send_n_create(bad, FILM_BOX, "1.2.3.55.3", meta_uid=COLOR_META)
            assert status.Status == 0x0106
            orphan = Dataset()
            orphan.ImageDisplayFormat = "STANDARD\\1,1"
            lost = Dataset()
            lost.ReferencedSOPClassUID = FILM_SESSION
            lost.ReferencedSOPInstanceUID = "1.2.3.55.404"
            orphan.ReferencedFilmSessionSequence = [lost]
            status, _ = assoc.send_n_create(orphan, FILM_BOX, "1.2.3.55.4", meta_uid=COLOR_META)
            assert status.Status == 0x0112
            status = assoc.send_n_delete(FILM_SESSION, "1.2.3.55.1", meta_uid=COLOR_META)
            assert status.Status == 0x0000
            status = assoc.send_n_delete(FILM_SESSION, "1.2.3.55.1", meta_uid=COLOR_META)
            assert status.Status == 0x0112
        finally:
            assoc.release()
        (film,) = [f for f in json_films(server) if f["FilmBoxUID"] == "1.2.3.55.2"]
        assert film["Color"] is True and film["Images"] == 4
        with Image.open(str(film["PNG"])) as page:
            assert page.size == (800, 1000) and page.mode == "RGB"
            centres = [
                page.getpixel((200, 250)),
                page.getpixel((600, 250)),
                page.getpixel((200, 750)),
                page.getpixel((600, 750)),
            ]
            corner = page.getpixel((1, 1))
        # row-major: positions 1, 2 on top, 3, 4 below; the 4th printed in reverse polarity
        assert centres == [*colors[:3], (0, 0, 255)]
        assert corner == (255, 255, 255)  # Border Density WHITE


class TestWorklistCommands:
    def test_cancel_and_bad_input(self, server):
        """worklist cancel hides a step from queries; bad input exits 1 with one line."""
        step = schedule(server, "--patient-id", "C1", "--modality", "CT", "--station-ae", "CANC")
        data = ("--data-dir", str(server.data_dir))
        assert medbridge("worklist", "cancel", *data, str(step)).returncode == 0
        (entry,) = [e for e in listing(server) if e["id"] == step]
        assert entry["State"] == "CANCELLED"
        again = medbridge("worklist", "cancel", *data, str(step))
        assert again.returncode == 1 and "CANCELLED, not SCHEDULED" in again.stderr
        bad = medbridge(
            "worklist",
            "add",
            *data,
            "--patient-id",
            "C2",
            "--modality",
            "CT",
            "--start-date",
            "20271340",
        )
        assert bad.returncode == 1 and "not a calendar date" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
        query = medbridge(
            "worklist",
            "query",
            "--aet",
            "MODALITY",
            "--aec",
            "MEDBRIDGE",
            "--json",
            "-k",
            "ScheduledStationAETitle=CANC",
            HOST,
            str(server.port),
        )
        assert query.returncode == 0 and query.stdout.strip() == ""
