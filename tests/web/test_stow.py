"""STOW-RS (web/dicomweb/stow.py) and DELETE (web/dicomweb/delete.py).

dicomweb-client stores and deletes; raw HTTP sends the bodies a client should not
(empty, form-data, broken multipart, wrong study) and checks the statuses.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind
from requests import HTTPError

from archive.factory import Spec, make_bytes, make_dataset
from dimse.peers import MedbridgeServer
from medbridge.server.config import Role, Token
from web.conftest import serve_archive

DICOM = 'multipart/related; type="application/dicom"; boundary=XyZ'


def multipart(*bodies: bytes, part_type: str = "application/dicom") -> bytes:
    out = b""
    for body in bodies:
        out += b"--XyZ\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--XyZ--\r\n"


def post(url: str, body: bytes, content_type: str = DICOM, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/studies", content=body, headers={"Content-Type": content_type, **headers}
    )


class TestStore:
    def test_store_instances_and_find_them(self, empty_web):
        """store_instances: 200, ReferencedSOPSequence with RetrieveURLs, durable and indexed."""
        client = DICOMwebClient(empty_web.url)
        datasets = [make_dataset(Spec(number=n)) for n in (1, 2, 3)]
        answer = client.store_instances(datasets)
        assert answer.RetrieveURL == f"{empty_web.url}/studies/{Spec().study_uid}"
        refs = {item.ReferencedSOPInstanceUID: item for item in answer.ReferencedSOPSequence}
        assert set(refs) == {ds.SOPInstanceUID for ds in datasets}
        assert refs[Spec(number=2).sop_uid].RetrieveURL.endswith(
            f"/series/{Spec().series_uid}/instances/{Spec(number=2).sop_uid}"
        )
        assert "FailedSOPSequence" not in answer
        assert len(client.search_for_instances(Spec().study_uid)) == 3
        stored = dcmread(empty_web.archive.open(Spec(number=1).sop_uid), force=True)
        assert stored.PixelData == datasets[0].PixelData

    def test_store_into_the_url_study(self, empty_web):
        """POST /studies/{study}: an instance of another study fails (0xA900), 202."""
        client = DICOMwebClient(empty_web.url)
        mine = make_dataset(Spec(study=5))
        other = make_dataset(Spec(study=6))
        response = httpx.post(
            f"{empty_web.url}/studies/{Spec(study=5).study_uid}",
            content=multipart(make_bytes(Spec(study=5)), make_bytes(Spec(study=6))),
            headers={"Content-Type": DICOM},
        )
        assert response.status_code == 202
        answer = Dataset.from_json(response.json())
        assert answer.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == mine.SOPInstanceUID
        failed = answer.FailedSOPSequence[0]
        assert failed.ReferencedSOPInstanceUID == other.SOPInstanceUID
        assert failed.FailureReason == 0xA900
        assert (
            client.search_for_studies(search_filters={"StudyInstanceUID": other.StudyInstanceUID})
            == []
        )

    def test_none_stored_is_409(self, empty_web):
        response = post(empty_web.url, multipart(b"not dicom at all"))
        assert response.status_code == 409
        failed = Dataset.from_json(response.json()).FailedSOPSequence[0]
        assert failed.FailureReason == 0xC000

    def test_duplicate_with_other_content_follows_keep_policy(self, empty_web):
        """A resend with other content fails 0x0111 under `keep`; an identical one succeeds."""
        first = make_bytes(Spec(number=1))
        assert post(empty_web.url, multipart(first)).status_code == 200
        assert post(empty_web.url, multipart(first)).status_code == 200
        changed = make_bytes(Spec(number=1, description="OTHER"))
        response = post(empty_web.url, multipart(changed))
        assert response.status_code == 409
        assert Dataset.from_json(response.json()).FailedSOPSequence[0].FailureReason == 0x0111

    def test_xml_answer(self, empty_web):
        response = post(
            empty_web.url, multipart(make_bytes(Spec())), Accept="application/dicom+xml"
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/dicom+xml"
        assert b'tag="00081199"' in response.content

    def test_body_split_in_small_chunks(self, empty_web):
        """The multipart reader finds delimiters that straddle network chunks."""
        body = multipart(*(make_bytes(Spec(number=n)) for n in range(1, 6)))

        def chunks():
            for i in range(0, len(body), 7):
                yield body[i : i + 7]

        response = httpx.post(
            f"{empty_web.url}/studies", content=chunks(), headers={"Content-Type": DICOM}
        )
        assert response.status_code == 200
        assert len(Dataset.from_json(response.json()).ReferencedSOPSequence) == 5

    def test_dicom_json_with_bulk_data(self, empty_web):
        """type=application/dicom+json: metadata part plus a pixel data part by BulkDataURI."""
        ds = make_dataset(Spec(number=7))
        ds["PixelData"].VR = "OW"
        pixels = ds.PixelData
        meta = ds.to_json_dict(bulk_data_threshold=256, bulk_data_element_handler=lambda e: "px")
        assert meta["7FE00010"] == {"vr": "OW", "BulkDataURI": "px"}
        body = (
            b"--XyZ\r\nContent-Type: application/dicom+json\r\n\r\n"
            + json.dumps([meta]).encode()
            + b"\r\n--XyZ\r\nContent-Type: application/octet-stream\r\nContent-Location: px\r\n\r\n"
            + pixels
            + b"\r\n--XyZ--"
        )
        ctype = 'multipart/related; type="application/dicom+json"; boundary=XyZ'
        response = post(empty_web.url, body, ctype)
        assert response.status_code == 200, response.text
        stored = dcmread(empty_web.archive.open(ds.SOPInstanceUID))
        assert stored.PixelData == pixels
        assert stored.PatientName == ds.PatientName

    def test_dicom_json_missing_bulk_part_fails_the_instance(self, empty_web):
        ds = make_dataset(Spec())
        ds["PixelData"].VR = "OW"
        meta = ds.to_json_dict(
            bulk_data_threshold=256, bulk_data_element_handler=lambda e: "nowhere"
        )
        body = multipart(json.dumps(meta).encode(), part_type="application/dicom+json")
        ctype = 'multipart/related; type="application/dicom+json"; boundary=XyZ'
        response = post(empty_web.url, body, ctype)
        assert response.status_code == 409

    def test_dicom_json_inline_binary(self, empty_web):
        ds = make_dataset(Spec(number=8))
        ds["PixelData"].VR = "OW"
        meta = ds.to_json_dict(bulk_data_threshold=10**9)
        assert base64.b64decode(meta["7FE00010"]["InlineBinary"]) == ds.PixelData
        body = multipart(json.dumps([meta]).encode(), part_type="application/dicom+json")
        ctype = 'multipart/related; type="application/dicom+json"; boundary=XyZ'
        assert post(empty_web.url, body, ctype).status_code == 200


class TestRefusals:
    @pytest.mark.parametrize(
        "content_type",
        [
            "multipart/form-data; boundary=XyZ",
            "application/dicom",
            'multipart/related; type="application/dicom+xml"; boundary=XyZ',
            "",
        ],
    )
    def test_wrong_media_type_is_415(self, empty_web, content_type):
        response = post(empty_web.url, multipart(make_bytes(Spec())), content_type)
        assert response.status_code == 415
        assert response.json()["detail"]

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"no delimiter anywhere",
            b"--XyZ\r\nContent-Type: application/dicom\r\n\r\nunterminated",
            b"--XyZ--\r\n",
            b"--XyZ\r\nbroken header line\r\n\r\nx\r\n--XyZ--",
        ],
    )
    def test_bad_body_is_400(self, empty_web, body):
        response = post(empty_web.url, body)
        assert response.status_code == 400, response.text

    def test_no_boundary_is_400(self, empty_web):
        response = post(empty_web.url, b"x", 'multipart/related; type="application/dicom"')
        assert response.status_code == 400

    def test_malformed_study_uid_is_400(self, empty_web):
        response = httpx.post(
            f"{empty_web.url}/studies/1.2.x",
            content=multipart(b"x"),
            headers={"Content-Type": DICOM},
        )
        assert response.status_code == 400

    def test_unsupported_accept_is_406(self, empty_web):
        response = post(empty_web.url, multipart(make_bytes(Spec())), Accept="text/html")
        assert response.status_code == 406

    def test_body_over_max_body_is_413(self, tmp_path):
        server = serve_archive(tmp_path / "var", max_body=4096)
        try:
            body = multipart(make_bytes(Spec(size=64)))
            assert post(server.url, body).status_code == 413

            def chunked():  # no Content-Length: counted as it arrives
                yield body

            response = httpx.post(
                f"{server.url}/studies", content=chunked(), headers={"Content-Type": DICOM}
            )
            assert response.status_code == 413
        finally:
            server.door.stop()
            server.archive.close()


TOKENS = (
    Token("reader", "r-secret", Role.READ),
    Token("writer", "w-secret", Role.WRITE),
    Token("admin", "a-secret", Role.ADMIN),
)


@pytest.fixture
def guarded(tmp_path):
    server = serve_archive(tmp_path / "var", tokens=TOKENS)
    server.archive.store(make_bytes(Spec()))
    yield server
    server.door.stop()
    server.archive.close()


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class TestAccess:
    def test_search_needs_a_token(self, guarded):
        assert httpx.get(f"{guarded.url}/studies").status_code == 401
        assert httpx.get(f"{guarded.url}/studies", headers=auth("wrong")).status_code == 401
        response = httpx.get(f"{guarded.url}/studies", headers=auth("r-secret"))
        assert response.status_code == 200 and len(response.json()) == 1

    def test_store_needs_write(self, guarded):
        body = multipart(make_bytes(Spec(number=2)))
        assert post(guarded.url, body, **auth("r-secret")).status_code == 403
        assert post(guarded.url, body, **auth("w-secret")).status_code == 200

    def test_delete_needs_admin(self, guarded):
        url = f"{guarded.url}/studies/{Spec().study_uid}"
        assert httpx.delete(url).status_code == 401
        assert httpx.delete(url, headers=auth("w-secret")).status_code == 403
        assert httpx.delete(url, headers=auth("a-secret")).status_code == 204

    def test_client_with_token(self, guarded):
        client = DICOMwebClient(guarded.url, headers=auth("r-secret"))
        assert len(client.search_for_studies()) == 1


class TestDelete:
    def test_delete_instance_series_study(self, empty_web, caplog):
        """dicomweb-client deletes; rows and files go; the log says who and what."""
        client = DICOMwebClient(empty_web.url)
        specs = [Spec(number=1), Spec(number=2), Spec(series=2, number=1)]
        client.store_instances([make_dataset(s) for s in specs])
        path = empty_web.archive.open(specs[0].sop_uid)
        with caplog.at_level("WARNING", logger="medbridge.web.dicomweb.delete"):
            client.delete_instance(specs[0].study_uid, specs[0].series_uid, specs[0].sop_uid)
        assert not path.exists()
        assert "DELETE by anonymous" in caplog.text and specs[0].sop_uid in caplog.text
        assert len(client.search_for_instances(specs[0].study_uid)) == 2
        client.delete_series(specs[0].study_uid, specs[0].series_uid)
        assert len(client.search_for_series(specs[0].study_uid)) == 1
        client.delete_study(specs[0].study_uid)
        assert client.search_for_studies() == []

    def test_unknown_is_404(self, empty_web):
        client = DICOMwebClient(empty_web.url)
        with pytest.raises(HTTPError, match="404"):
            client.delete_study("1.2.3.4")
        assert httpx.delete(f"{empty_web.url}/studies/1.2.x").status_code == 400

    def test_series_of_another_study_is_404(self, empty_web):
        empty_web.archive.store(make_bytes(Spec()))
        url = f"{empty_web.url}/studies/{Spec(study=2).study_uid}/series/{Spec().series_uid}"
        assert httpx.delete(url).status_code == 404
        assert empty_web.archive.open(Spec().sop_uid).exists()


class TestBothDoors:
    def test_stow_is_seen_by_c_find_and_c_store_by_qido(self, tmp_path):
        """One process, one archive: STOW'd instances answer C-FIND at once, and back."""
        with MedbridgeServer(tmp_path / "var") as server:
            client = DICOMwebClient(f"{server.http_url}/dicom-web")
            client.store_instances([make_dataset(Spec(number=1))])
            ae = AE(ae_title="FINDER")
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
            assoc = ae.associate("127.0.0.1", server.port, ae_title="MEDBRIDGE")
            assert assoc.is_established
            query = Dataset()
            query.QueryRetrieveLevel = "IMAGE"
            query.StudyInstanceUID = Spec().study_uid
            query.SeriesInstanceUID = Spec().series_uid
            query.SOPInstanceUID = ""
            answers = [
                ident
                for status, ident in assoc.send_c_find(
                    query, StudyRootQueryRetrieveInformationModelFind
                )
                if status and status.Status in (0xFF00, 0xFF01)
            ]
            assert [a.SOPInstanceUID for a in answers] == [Spec(number=1).sop_uid]
            from pynetdicom.sop_class import CTImageStorage

            ae.add_requested_context(CTImageStorage)
            assoc.release()
            assoc = ae.associate("127.0.0.1", server.port, ae_title="MEDBRIDGE")
            status = assoc.send_c_store(make_dataset(Spec(number=2)))
            assoc.release()
            assert status.Status == 0
            found = client.search_for_instances(Spec().study_uid)
            assert len(found) == 2


def test_deleting_a_study_removes_its_derived_files(empty_web) -> None:
    """/metadata's precomputed files leave with the study's last instance."""
    import httpx

    from archive.factory import Spec, make_bytes
    from medbridge.archive.derived import DerivedFiles

    spec = Spec(study=611)
    empty_web.archive.store(make_bytes(spec))
    url = f"{empty_web.url}/studies/{spec.study_uid}"
    assert httpx.get(f"{url}/series/{spec.series_uid}/metadata").status_code == 200
    folder = DerivedFiles(empty_web.archive.storage).folder(spec.study_uid)
    assert any(folder.iterdir())
    assert httpx.delete(url).status_code == 204
    assert not folder.exists() or not any(folder.iterdir())
