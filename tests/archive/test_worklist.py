"""The worklist, MPPS and commitment state in the index, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset

from archive.factory import Spec, make_bytes
from dimse.peers import fresh_database, pg_server  # noqa: F401 (a fixture)
from medbridge.archive import Archive
from medbridge.archive.commitment import CommitmentStore
from medbridge.archive.mpps import MppsStore
from medbridge.archive.worklist import Worklist, item_from_json, new_item
from medbridge.errors import InvalidDicomError, NotFoundError, QueryError, ServiceRequestError

_databases = itertools.count()

#: malformed dates and times are the point of some tests; pydicom warns when given them
pytestmark = [
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
    pytest.mark.filterwarnings("ignore:The value length"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path) -> Iterator[Archive]:
    url = None
    if request.param == "postgresql":
        url = fresh_database(request.getfixturevalue("pg_server"), f"wl{next(_databases)}")
    with Archive(tmp_path / "var", index_url=url) as arc:
        yield arc


def schedule(wl: Worklist) -> list[int]:
    """Five steps on two stations over two days."""
    rows = [
        ("P1", "DOE^JANE", "CT", "CT1", "20260110", "080000", "A1", "RP1"),
        ("P2", "DOE^JOHN", "CT", "CT1", "20260110", "093000", "A2", "RP2"),
        ("P3", "ROE^RICHARD", "MR", "MR1", "20260110", "100000", "A3", "RP3"),
        ("P4", "Müller^Jörg", "CT", "CT1", "20260111", "080000", "A4", "RP4"),
        ("P5", "DOE^ANNA", "MR", "MR1", "20260111", "140000", "A5", "RP5"),
    ]
    return [
        wl.add(
            new_item(
                patient_id=pid,
                patient_name=name,
                modality=mod,
                station_ae=station,
                start_date=date,
                start_time=time,
                accession=acc,
                requested_procedure_id=rp,
                physician="HOUSE^GREGORY",
            )
        )
        for pid, name, mod, station, date, time, acc, rp in rows
    ]


def query(**keys: str) -> Dataset:
    """An MWL identifier with the usual return keys and the given matching keys."""
    step_keys = {
        "ScheduledStationAETitle",
        "Modality",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledPerformingPhysicianName",
    }
    ds = Dataset()
    sps = Dataset()
    for kw in step_keys:
        setattr(sps, kw, keys.get(kw, ""))
    for kw in ("PatientName", "PatientID", "AccessionNumber", "RequestedProcedureID"):
        setattr(ds, kw, keys.get(kw, ""))
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def ids(answers: Iterator[Dataset]) -> list[str]:
    return [str(a.PatientID) for a in answers]


class TestWorklistMatching:
    def test_station_and_date(self, archive):
        """A station's query for its day returns its steps in start order (K.6.1.2.1)."""
        wl = Worklist(archive.index)
        schedule(wl)
        got = ids(
            wl.find(
                query(ScheduledStationAETitle="CT1", ScheduledProcedureStepStartDate="20260110")
            )
        )
        assert got == ["P1", "P2"]

    def test_date_and_time_ranges(self, archive):
        """Date ranges a-b, a-, -b and a time range inside the sequence (C.2.2.2.5)."""
        wl = Worklist(archive.index)
        schedule(wl)
        assert ids(wl.find(query(ScheduledProcedureStepStartDate="20260111-"))) == ["P4", "P5"]
        assert ids(wl.find(query(ScheduledProcedureStepStartDate="-20260110"))) == [
            "P1",
            "P2",
            "P3",
        ]
        assert ids(
            wl.find(
                query(
                    ScheduledProcedureStepStartDate="20260110-20260111",
                    ScheduledProcedureStepStartTime="0900-1000",
                )
            )
        ) == ["P2", "P3"]

    def test_names_wildcards_case_insensitive(self, archive):
        """PatientName with * and ?, case-insensitively; non-ASCII names match too."""
        wl = Worklist(archive.index)
        schedule(wl)
        assert ids(wl.find(query(PatientName="doe*"))) == ["P1", "P2", "P5"]
        assert ids(wl.find(query(PatientName="DOE^J?H*"))) == ["P2"]
        assert ids(wl.find(query(PatientName="MÜLLER*"))) == ["P4"]

    def test_single_value_keys(self, archive):
        """PatientID, AccessionNumber, RequestedProcedureID, Modality: exact match."""
        wl = Worklist(archive.index)
        schedule(wl)
        assert ids(wl.find(query(PatientID="P3"))) == ["P3"]
        assert ids(wl.find(query(AccessionNumber="A4"))) == ["P4"]
        assert ids(wl.find(query(RequestedProcedureID="RP5"))) == ["P5"]
        assert ids(wl.find(query(Modality="MR"))) == ["P3", "P5"]
        assert ids(wl.find(query(Modality="US"))) == []

    def test_key_without_column_matches_the_item(self, archive):
        """A key the index has no column for is matched on the stored item."""
        wl = Worklist(archive.index)
        schedule(wl)
        ident = query()
        ident.PatientBirthDate = "19000101"
        assert ids(wl.find(ident)) == []
        ident = query()
        ident.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus = "SCHEDULED"
        assert len(ids(wl.find(ident))) == 5

    def test_return_keys(self, archive):
        """Every requested key comes back: stored values, empty ones, sub-keys of the item."""
        wl = Worklist(archive.index)
        schedule(wl)
        ident = query(PatientID="P1")
        ident.PatientSex = ""
        ident.AdmissionID = ""
        ident.ReferencedStudySequence = []
        (answer,) = wl.find(ident)
        assert answer.PatientName == "DOE^JANE"
        assert answer.RequestedProcedureID == "RP1"
        assert "PatientSex" in answer and "AdmissionID" in answer
        sps = answer.ScheduledProcedureStepSequence[0]
        assert sps.ScheduledStationAETitle == "CT1"
        assert sps.ScheduledPerformingPhysicianName == "HOUSE^GREGORY"
        assert set(sps.dir()) == {
            "ScheduledStationAETitle",
            "Modality",
            "ScheduledProcedureStepStartDate",
            "ScheduledProcedureStepStartTime",
            "ScheduledPerformingPhysicianName",
        }
        assert "StudyInstanceUID" not in answer  # not asked for

    def test_malformed_date_is_a_query_error(self, archive):
        wl = Worklist(archive.index)
        schedule(wl)
        ident = query(ScheduledProcedureStepStartDate="2026-01-10")
        with pytest.raises(QueryError, match="not a date"):
            list(wl.find(ident))

    def test_cancelled_steps_are_not_offered(self, archive):
        wl = Worklist(archive.index)
        pks = schedule(wl)
        wl.cancel(pks[0])
        assert ids(wl.find(query(ScheduledStationAETitle="CT1"))) == ["P2", "P4"]
        with pytest.raises(QueryError, match="CANCELLED"):
            wl.cancel(pks[0])
        with pytest.raises(NotFoundError):
            wl.cancel(9999)


class TestWorklistItems:
    def test_json_item_round_trip(self, archive):
        """An item in DICOM JSON (PS3.18 F) is stored and answered as given."""
        item = new_item(patient_id="J1", patient_name="JSON^ITEM", modality="US", station_ae="US1")
        item.StudyInstanceUID = "1.2.3.4"
        wl = Worklist(archive.index)
        wl.add(item_from_json(item.to_json()))
        (answer,) = wl.find(query(Modality="US"))
        assert answer.PatientName == "JSON^ITEM"

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (lambda i: delattr(i, "PatientID"), "Patient ID"),
            (lambda i: setattr(i.ScheduledProcedureStepSequence[0], "Modality", ""), "Modality"),
            (
                lambda i: setattr(
                    i.ScheduledProcedureStepSequence[0],
                    "ScheduledProcedureStepStartDate",
                    "20261332",
                ),
                "calendar date",
            ),
            (
                lambda i: setattr(
                    i.ScheduledProcedureStepSequence[0], "ScheduledProcedureStepStartTime", "2561"
                ),
                "time of day",
            ),
            (lambda i: setattr(i, "ScheduledProcedureStepSequence", []), "exactly one"),
            (lambda i: setattr(i, "AccessionNumber", "A" * 17), "AccessionNumber .* longer"),
        ],
        ids=["no-patient-id", "no-modality", "bad-date", "bad-time", "no-step", "too-long"],
    )
    def test_bad_items_are_refused(self, archive, change, message):
        item = new_item(patient_id="X", modality="CT")
        change(item)
        with pytest.raises(InvalidDicomError, match=message):
            Worklist(archive.index).add(item)

    def test_duplicate_step_is_refused(self, archive):
        wl = Worklist(archive.index)
        item = new_item(patient_id="X", modality="CT", study_uid="1.2.3", step_id="S1")
        wl.add(item)
        with pytest.raises(QueryError, match="scheduled already"):
            wl.add(new_item(patient_id="X", modality="CT", study_uid="1.2.3", step_id="S1"))


def mpps_dataset(study_uid: str, step_id: str, state: str = "IN PROGRESS") -> Dataset:
    ds = Dataset()
    ds.PatientID = "P1"
    step = Dataset()
    step.StudyInstanceUID = study_uid
    step.ScheduledProcedureStepID = step_id
    step.AccessionNumber = "A1"
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedProcedureStepID = "PPS1"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedProcedureStepStartDate = "20260110"
    ds.PerformedProcedureStepStartTime = "081000"
    ds.PerformedProcedureStepStatus = state
    ds.Modality = "CT"
    return ds


def completion(series_uids: list[str]) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = "20260110"
    ds.PerformedProcedureStepEndTime = "083000"
    items = []
    for uid in series_uids:
        item = Dataset()
        item.SeriesInstanceUID = uid
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ref.ReferencedSOPInstanceUID = uid + ".1"
        item.ReferencedImageSequence = [ref]
        items.append(item)
    ds.PerformedSeriesSequence = items
    return ds


class TestMpps:
    def test_life_cycle_links_the_step(self, archive):
        """IN PROGRESS then COMPLETED: the step shows both, with its performed series."""
        wl = Worklist(archive.index)
        pk = wl.add(new_item(patient_id="P1", modality="CT", study_uid="1.2.3", step_id="S1"))
        store = MppsStore(archive.index)
        store.create("1.2.9.1", mpps_dataset("1.2.3", "S1"), calling_ae="CT1")
        (entry,) = wl.entries()
        assert (entry.pk, entry.state, entry.mpps_uid) == (pk, "IN PROGRESS", "1.2.9.1")
        assert list(wl.find(query())) == []  # no longer offered to the modality
        store.set("1.2.9.1", completion(["1.2.3.7"]))
        (entry,) = wl.entries()
        assert entry.state == "COMPLETED"
        assert entry.performed_series == ("1.2.3.7",)
        assert store.series_held("1.2.9.1") == {"1.2.3.7": (1, 0)}

    @pytest.mark.parametrize(
        ("setup", "uid", "changes", "status"),
        [
            ("none", "1.2.9.9", completion([]), 0x0112),
            ("completed", "1.2.9.1", completion([]), 0x0110),
            ("created", "1.2.9.1", Dataset(), 0),
        ],
        ids=["unknown-instance", "after-final", "empty-set-is-fine"],
    )
    def test_set_statuses(self, archive, setup, uid, changes, status):
        store = MppsStore(archive.index)
        if setup != "none":
            store.create("1.2.9.1", mpps_dataset("1.2.3", "S1"))
        if setup == "completed":
            store.set("1.2.9.1", completion([]))
        if status == 0:
            store.set(uid, changes)
            return
        with pytest.raises(ServiceRequestError) as info:
            store.set(uid, changes)
        assert info.value.status == status

    def test_create_statuses(self, archive):
        store = MppsStore(archive.index)
        with pytest.raises(ServiceRequestError) as info:
            store.create("1.2.9.2", mpps_dataset("1.2.3", "S1", state="COMPLETED"))
        assert info.value.status == 0x0106
        missing = mpps_dataset("1.2.3", "S1")
        del missing.PerformedProcedureStepStartDate
        with pytest.raises(ServiceRequestError) as info:
            store.create("1.2.9.2", missing)
        assert info.value.status == 0x0120
        bad_date = mpps_dataset("1.2.3", "S1")
        bad_date.PerformedProcedureStepStartDate = "20261399"
        with pytest.raises(ServiceRequestError) as info:
            store.create("1.2.9.2", bad_date)
        assert info.value.status == 0x0106
        store.create("1.2.9.2", mpps_dataset("1.2.3", "S1"))
        with pytest.raises(ServiceRequestError) as info:
            store.create("1.2.9.2", mpps_dataset("1.2.3", "S1"))
        assert info.value.status == 0x0111

    def test_bad_final_state(self, archive):
        store = MppsStore(archive.index)
        store.create("1.2.9.1", mpps_dataset("1.2.3", "S1"))
        changes = Dataset()
        changes.PerformedProcedureStepStatus = "DONE"
        with pytest.raises(ServiceRequestError) as info:
            store.set("1.2.9.1", changes)
        assert info.value.status == 0x0106
        changes.PerformedProcedureStepStatus = "DISCONTINUED"
        with pytest.raises(ServiceRequestError) as info:
            store.set("1.2.9.1", changes)
        assert info.value.status == 0x0121  # no end date and time
        assert store.get("1.2.9.1").state == "IN PROGRESS"


class TestCommitment:
    def test_only_durable_instances_are_committed(self, archive):
        """Held: committed; unknown: 0x0112; other class: 0x0119; damaged file: 0x0110."""
        specs = [Spec(number=n) for n in (1, 2, 3)]
        for spec in specs:
            archive.store(make_bytes(spec))
        ct = "1.2.840.10008.5.1.4.1.1.2"
        path = archive.open(specs[2].sop_uid)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size, other content
        path.write_bytes(bytes(data))
        store = CommitmentStore(archive)
        refs = [
            (ct, specs[0].sop_uid),
            ("1.2.840.10008.5.1.4.1.1.4", specs[1].sop_uid),
            (ct, specs[2].sop_uid),
            (ct, "1.2.3.4.5.6"),
        ]
        assert store.request("1.2.5.1", "MOD", refs)
        assert [p.transaction_uid for p in store.pending()] == ["1.2.5.1"]
        result = store.evaluate("1.2.5.1", refs)
        assert result.committed == [refs[0]]
        assert result.failed == [
            (*refs[1], 0x0119),
            (*refs[2], 0x0110),
            (*refs[3], 0x0112),
        ]
        assert result.event_type == 2
        unverified = store.evaluate("1.2.5.1", refs, verify=False)  # size checked only
        assert [f[1] for f in unverified.failed] == [refs[1][1], refs[3][1]]
        store.reported(result)
        assert store.pending() == []


class TestPrintStore:
    def test_session_box_images_print(self, archive):
        """A film session, a 1x2 box with one image set, printed: PNG and PDF listed."""
        import numpy as np
        from PIL import Image

        from medbridge.archive.printing import PrintStore

        store = PrintStore(archive.index, archive.data_dir)
        store.create_session("1.2.7.1", Dataset(), calling_ae="PRN")
        box = Dataset()
        box.ImageDisplayFormat = "STANDARD\\1,2"
        ref = Dataset()
        ref.ReferencedSOPInstanceUID = "1.2.7.1"
        box.ReferencedFilmSessionSequence = [ref]
        reply = store.create_film_box("1.2.7.2", box, color=False, calling_ae="PRN")
        first, second = (r.ReferencedSOPInstanceUID for r in reply.ReferencedImageBoxSequence)
        image = Dataset()
        image.SamplesPerPixel = 1
        image.PhotometricInterpretation = "MONOCHROME1"  # printed inverted: 0 is white
        image.Rows = image.Columns = 10
        image.BitsAllocated = 16
        image.BitsStored = 12
        image.HighBit = 11
        image.PixelRepresentation = 0
        image.PixelData = np.zeros(100, "<u2").tobytes()
        changes = Dataset()
        changes.BasicGrayscaleImageSequence = [image]
        assert store.set(first, changes) == "image_box"
        (film,) = store.print("1.2.7.2")
        assert [f.film_box_uid for f in store.films()] == ["1.2.7.2"]
        assert film.images == 1 and film.layout == "STANDARD\\1,2"
        assert film.pdf.read_bytes()[:5] == b"%PDF-"
        with Image.open(film.png) as page:
            assert page.size == (800, 1000)
            assert page.getpixel((400, 250)) == 255  # the image, white
            assert page.getpixel((400, 750)) == 0  # the empty second box
        store.delete("1.2.7.1")
        with pytest.raises(ServiceRequestError) as info:
            store.set(second, changes)
        assert info.value.status == 0x0112
