"""The workflow routes of the HTTP door: /api/worklist, /api/mpps, /api/commitments, /api/print."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset

from medbridge.archive.worklist import new_item
from medbridge.server.config import Role, Token
from web.conftest import WebServer, serve_archive

TOKENS = (
    Token("viewer", "read-secret", Role.READ),
    Token("ris", "write-secret", Role.WRITE),
    Token("boss", "admin-secret", Role.ADMIN),
)


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def door(tmp_path: Path) -> Iterator[WebServer]:
    server = serve_archive(tmp_path / "var", tokens=TOKENS)
    yield server
    server.door.stop()
    server.archive.close()


def item_json(patient_id: str, station: str = "CT1") -> dict[str, object]:
    return new_item(
        patient_id=patient_id,
        patient_name="WEB^PATIENT",
        modality="CT",
        station_ae=station,
        start_date="20270405",
        start_time="0930",
    ).to_json_dict()


def mpps_json(study_uid: str, step_id: str) -> dict[str, object]:
    ds = Dataset()
    ds.PatientID = "H1"
    step = Dataset()
    step.StudyInstanceUID = study_uid
    step.ScheduledProcedureStepID = step_id
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedProcedureStepID = "PPS"
    ds.PerformedStationAETitle = "CT1"
    ds.PerformedProcedureStepStartDate = "20270405"
    ds.PerformedProcedureStepStartTime = "093500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = "CT"
    return ds.to_json_dict()


class TestWorklistRoutes:
    def test_schedule_list_cancel_by_role(self, door):
        """read lists, write schedules, admin cancels; each lower role is refused."""
        with httpx.Client(base_url=door.base) as client:
            assert client.get("/api/worklist").status_code == 401
            refused = client.post(
                "/api/worklist", json=item_json("H1"), headers=auth("read-secret")
            )
            assert refused.status_code == 403
            added = client.post(
                "/api/worklist",
                json=[item_json("H1"), item_json("H2", "MR1")],
                headers=auth("write-secret"),
            )
            assert added.status_code == 201, added.text
            first, second = added.json()["ids"]
            listed = client.get("/api/worklist", headers=auth("read-secret")).json()
            assert [(r["PatientID"], r["State"]) for r in listed] == [
                ("H1", "SCHEDULED"),
                ("H2", "SCHEDULED"),
            ]
            by_station = client.get(
                "/api/worklist", params={"station": "MR1"}, headers=auth("read-secret")
            ).json()
            assert [r["id"] for r in by_station] == [second]
            assert (
                client.delete(f"/api/worklist/{first}", headers=auth("write-secret")).status_code
                == 403
            )
            assert (
                client.delete(f"/api/worklist/{first}", headers=auth("admin-secret")).status_code
                == 200
            )
            assert (
                client.delete(f"/api/worklist/{first}", headers=auth("admin-secret")).status_code
                == 400
            )
            assert (
                client.delete("/api/worklist/99999", headers=auth("admin-secret")).status_code
                == 404
            )
            states = client.get(
                "/api/worklist", params={"state": "CANCELLED"}, headers=auth("read-secret")
            ).json()
            assert [r["id"] for r in states] == [first]

    def test_bad_items(self, door):
        with httpx.Client(base_url=door.base, headers=auth("write-secret")) as client:
            no_id = item_json("X")
            del no_id["00100020"]
            got = client.post("/api/worklist", json=no_id)
            assert got.status_code == 400 and "Patient ID" in got.json()["detail"]
            assert client.post("/api/worklist", json={"zz": 1}).status_code == 400
            assert client.post("/api/worklist", content=b"not json").status_code in (400, 422)


class TestMppsRoutes:
    def test_life_cycle(self, door):
        with httpx.Client(base_url=door.base, headers=auth("write-secret")) as client:
            item = item_json("H1")
            item["0020000D"] = {"vr": "UI", "Value": ["1.2.3.44"]}
            seq = item["00400100"]["Value"][0]  # type: ignore[index]
            seq["00400009"] = {"vr": "SH", "Value": ["SPS44"]}
            assert client.post("/api/worklist", json=item).status_code == 201
            created = client.post("/api/mpps", json=mpps_json("1.2.3.44", "SPS44"))
            assert created.status_code == 201, created.text
            uid = created.json()["SOPInstanceUID"]
            done = Dataset()
            done.PerformedProcedureStepStatus = "COMPLETED"
            done.PerformedProcedureStepEndDate = "20270405"
            done.PerformedProcedureStepEndTime = "100000"
            series = Dataset()
            series.SeriesInstanceUID = "1.2.3.44.1"
            series.ReferencedImageSequence = []
            done.PerformedSeriesSequence = [series]
            got = client.post(f"/api/mpps/{uid}", json=done.to_json_dict())
            assert got.status_code == 200, got.text
            assert got.json()["State"] == "COMPLETED"
            again = client.post(f"/api/mpps/{uid}", json=done.to_json_dict())
            assert again.status_code == 409 and "0x0110" in again.json()["detail"]
            assert client.post("/api/mpps/1.2.3.999", json=done.to_json_dict()).status_code == 404
            assert client.get("/api/mpps/not-a-uid").status_code == 400
            detail = client.get(f"/api/mpps/{uid}").json()
            assert detail["State"] == "COMPLETED"
            assert detail["SeriesHeld"] == {"1.2.3.44.1": {"reported": 0, "held": 0}}
            (step,) = client.get("/api/worklist").json()
            assert (step["State"], step["MPPS"]) == ("COMPLETED", uid)
            assert step["PerformedSeries"] == ["1.2.3.44.1"]
            listed = client.get("/api/mpps", params={"state": "COMPLETED"}).json()
            assert [m["SOPInstanceUID"] for m in listed] == [uid]


class TestPrintAndCommitmentRoutes:
    def test_empty_listings_and_bad_names(self, door):
        with httpx.Client(base_url=door.base, headers=auth("read-secret")) as client:
            assert client.get("/api/print").json() == []
            assert client.get("/api/commitments").json() == []
            assert client.get("/api/print/1.2.3.png").status_code == 404
            assert client.get("/api/print/1.2.3.gif").status_code == 404
            assert client.get("/api/print/..%2F..%2Fetc.png").status_code in (400, 404)
