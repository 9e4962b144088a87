"""OHIF Viewer v3's request sequence, replayed byte for byte against the door.

The DICOMweb data source of OHIF (``extensions/default/src/DicomWebDataSource``, with
``qidoSupportsIncludeField: true, supportsFuzzyMatching: true, supportsWildcard: true,
imageRendering: "wadors", thumbnailRendering: "thumbnail"``) and dicomweb-client-js
send, in this order: the study list (``qido.js`` ``mapParams``: the typed name wrapped
in ``*``, ``fuzzymatching=true``, ``limit=101&offset=0``, four ``includefield`` tags,
comma-joined and percent-encoded by ``encodeURIComponent``); the series of the opened
study (``seriesInStudy``, then the metadata loader's own ``searchForSeries``); each
series' ``/metadata``; the frames through cornerstone's ``wadors:`` loader (``Accept:
multipart/related; type=application/octet-stream; transfer-syntax=*``); and the
thumbnails (``/thumbnail?accept=image/jpeg``, ``Accept: image/jpeg``). A browser sends
``Accept-Encoding: gzip`` with each. Each answer is checked for what OHIF reads from it.
"""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from archive.factory import corpus, make_dataset
from medbridge.web._related import boundary_of, iter_parts

BROWSER = {"Accept-Encoding": "gzip, deflate"}
JSON = {**BROWSER, "Accept": "application/dicom+json"}
FRAMES = {
    **BROWSER,
    "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*",
}
THUMBNAIL = {**BROWSER, "Accept": "image/jpeg"}
STUDY_FIELDS = "00081030%2C00080060%2C00080090%2C00100030"  # encodeURIComponent of the commas
SERIES_FIELDS = "0008103E%2C00080021"
PAT1 = [s for s in corpus() if s.patient_id == "PAT1"]
STUDY1 = PAT1[0].study_uid


def first(item: dict, tag: str) -> object:
    """What OHIF's ``getString``/``getName`` read: the first Value (PS3.18 F.2)."""
    values = item.get(tag, {}).get("Value", [])
    return values[0] if values else None


def get_json(client: httpx.Client, url: str) -> list[dict]:
    rsp = client.get(url, headers=JSON)
    assert rsp.status_code == 200, (url, rsp.status_code, rsp.text[:300])
    assert rsp.headers["content-type"].startswith("application/dicom+json")
    body = rsp.json()
    assert isinstance(body, list)
    for item in body:
        for tag, attr in item.items():
            assert len(tag) == 8 and "vr" in attr, (tag, attr)  # dcmjs naturalizes by these
    return body


@pytest.fixture(scope="module")
def ohif(web):
    """One client for the whole session, as a browser keeps its connections."""
    with httpx.Client(base_url=web.url, timeout=30) as client:
        yield client


class TestOhifSession:
    def test_1_study_list(self, ohif):
        """The worklist: ``*doe*`` fuzzy and wildcard, includefield, limit and offset."""
        url = (
            f"/studies?PatientName=*doe*&limit=101&offset=0&fuzzymatching=true"
            f"&includefield={STUDY_FIELDS}"
        )
        rsp = ohif.get(url, headers=JSON)
        assert rsp.headers.get("content-encoding") == "gzip"
        studies = get_json(ohif, url)
        assert sorted(first(s, "0020000D") for s in studies) == sorted({s.study_uid for s in PAT1})
        for study in studies:
            assert first(study, "00100010") == {"Alphabetic": "Doe^Jane"}
            assert first(study, "00100020") == "PAT1"
            assert first(study, "00080020") in ("20240115", "20240301")
            assert first(study, "00081030") in ("CHEST", "BRAIN")  # an includefield
            assert first(study, "00100030") == "19700101"  # an includefield
            assert first(study, "00080090") == {"Alphabetic": "Ref^Doc"}  # an includefield
            uid = first(study, "0020000D")
            count = sum(1 for s in corpus() if s.study_uid == uid)
            assert first(study, "00201208") == count  # OHIF: Number(...) of instances
            modalities = study.get("00080061", {}).get("Value", [])
            assert modalities == sorted({s.modality for s in corpus() if s.study_uid == uid})

    def test_1_study_list_by_tag_and_date(self, ohif):
        """``00100020=*PAT1*`` by tag and a StudyDate range, as mapParams writes them."""
        url = (
            f"/studies?00100020=*PAT1*&limit=101&offset=0&fuzzymatching=true"
            f"&includefield={STUDY_FIELDS}&StudyDate=20240101-20240131"
        )
        studies = get_json(ohif, url)
        assert [first(s, "0020000D") for s in studies] == [STUDY1]

    def test_2_series_of_the_study(self, ohif):
        """``seriesInStudy`` and the metadata loader's plain series search."""
        for url in (
            f"/studies/{STUDY1}/series?includefield={SERIES_FIELDS}",
            f"/studies/{STUDY1}/series",
        ):
            series = get_json(ohif, url)
            want = {s.series_uid: s for s in PAT1 if s.study_uid == STUDY1}
            assert sorted(first(s, "0020000E") for s in series) == sorted(want)
            for item in series:
                spec = want[first(item, "0020000E")]
                assert first(item, "0020000D") == STUDY1
                assert first(item, "00080060") == spec.modality
                assert first(item, "00200011") == spec.series
                assert first(item, "0008103E") == f"series {spec.series}"
                count = sum(1 for s in corpus() if s.series_uid == spec.series_uid)
                assert first(item, "00201209") == count

    def test_3_series_metadata(self, ohif):
        """One object per instance with what OHIF builds image IDs and geometry from."""
        for series_uid in sorted({s.series_uid for s in PAT1 if s.study_uid == STUDY1}):
            url = f"/studies/{STUDY1}/series/{series_uid}/metadata"
            rsp = ohif.get(url, headers=JSON)
            assert rsp.headers.get("content-encoding") == "gzip"
            instances = get_json(ohif, url)
            want = sorted(s.sop_uid for s in corpus() if s.series_uid == series_uid)
            assert sorted(first(i, "00080018") for i in instances) == want
            for item in instances:
                assert first(item, "0020000D") == STUDY1
                assert first(item, "0020000E") == series_uid
                assert first(item, "00080016") == "1.2.840.10008.5.1.4.1.1.2"
                assert (first(item, "00280010"), first(item, "00280011")) == (16, 16)
                assert first(item, "00280100") == 16
                assert item["00200037"]["Value"] == [1, 0, 0, 0, 1, 0]
                assert len(item["00200032"]["Value"]) == 3
                pixel = item["7FE00010"]
                assert pixel["vr"] in ("OB", "OW")
                assert "BulkDataURI" in pixel and "InlineBinary" not in pixel

    @pytest.mark.parametrize("spec", PAT1[:3], ids=lambda s: f"instance{s.number}")
    def test_4_frames(self, ohif, spec):
        """cornerstone's wadors loader: frame 1 as octet-stream, the pixels as stored."""
        url = (
            f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}/frames/1"
        )
        rsp = ohif.get(url, headers=FRAMES)
        assert rsp.status_code == 200, rsp.text[:300]
        boundary = boundary_of(rsp.headers["content-type"])
        parts = list(iter_parts([rsp.content], boundary))
        assert len(parts) == 1
        headers, body = parts[0]
        part_type = headers.get("content-type", rsp.headers["content-type"])
        assert "application/octet-stream" in part_type
        if "transfer-syntax=" in part_type:  # cornerstone picks its decoder by it
            assert "transfer-syntax=1.2.840.10008.1.2.1" in part_type.replace('"', "")
        assert body == make_dataset(spec).PixelData

    @pytest.mark.parametrize("spec", PAT1[:2], ids=lambda s: f"instance{s.number}")
    def test_5_thumbnails(self, ohif, spec):
        """``thumbnailRendering: "thumbnail"``: a JPEG OHIF turns into an object URL."""
        url = (
            f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}"
            "/thumbnail?accept=image%2Fjpeg"
        )
        rsp = ohif.get(url, headers=THUMBNAIL)
        assert rsp.status_code == 200, rsp.text[:300]
        assert rsp.headers["content-type"].startswith("image/jpeg")
        image = Image.open(io.BytesIO(rsp.content))
        assert image.format == "JPEG" and min(image.size) > 0
