"""QIDO-RS (web/dicomweb/qido.py): dicomweb-client for every resource, raw HTTP for errors.

The `web` fixture holds the factory corpus: PAT1 Doe^Jane (study 1: CT series 1 of 3
and CT series 2 of 2, 2024-01-15; study 2: MR, 2024-03-01), PAT2 Smith^John (study 3:
CT 3 + PT 1, 2023-12-24), PAT3 smithers^waylon (study 4: CT 2, 2024-01-15).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from archive.factory import Spec, make_bytes
from medbridge.web.dicomweb import qido

STUDY1 = Spec(study=1).study_uid
STUDY2 = Spec(study=2).study_uid
STUDY3 = Spec(study=3).study_uid
SERIES11 = Spec(study=1, series=1).series_uid
NATIVE = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"


def value(result: dict, tag: str):
    element = result.get(tag, {})
    values = element.get("Value", [])
    return values[0] if values else None


def study_uids(results: list[dict]) -> set[str]:
    return {value(r, "0020000D") for r in results}


@pytest.fixture
def client(web) -> DICOMwebClient:
    return DICOMwebClient(web.url)


class TestSearchForStudies:
    def test_all_studies_with_table_10_6_3_3_attributes(self, client, web):
        """Every study comes back with the required attributes, computed ones included."""
        results = {value(r, "0020000D"): r for r in client.search_for_studies()}
        assert set(results) == {Spec(study=n).study_uid for n in (1, 2, 3, 4)}
        one = results[STUDY1]
        assert value(one, "00100010") == {"Alphabetic": "Doe^Jane"}
        assert value(one, "00080020") == "20240115"
        assert value(one, "00201206") == 2  # NumberOfStudyRelatedSeries
        assert value(one, "00201208") == 5  # NumberOfStudyRelatedInstances
        assert one["00080061"]["Value"] == ["CT"]
        assert results[STUDY3]["00080061"]["Value"] == ["CT", "PT"]
        assert value(one, "00081190") == f"{web.url}/studies/{STUDY1}"
        assert value(one, "00080005") == "ISO_IR 192"

    def test_percent_encoded_person_name_matches(self, client):
        """dicomweb-client sends Doe^Jane as Doe%5EJane: it must be decoded (Orthanc doesn't)."""
        found = client.search_for_studies(search_filters={"PatientName": "Doe^Jane"})
        assert study_uids(found) == {STUDY1, STUDY2}

    def test_person_name_is_case_insensitive(self, client):
        """PN single value matching ignores case (PS3.4 C.2.2.2.1 allows it)."""
        found = client.search_for_studies(search_filters={"PatientName": "DOE^JANE"})
        assert study_uids(found) == {STUDY1, STUDY2}

    def test_wildcard(self, client):
        """``*`` and ``?`` per C.2.2.2.4."""
        found = client.search_for_studies(search_filters={"PatientName": "smith*"})
        assert study_uids(found) == {STUDY3, Spec(study=4).study_uid}
        found = client.search_for_studies(search_filters={"AccessionNumber": "ACC?"})
        assert len(found) == 4

    def test_uid_list_comma_or_backslash(self, client):
        """A UID list matches any of its UIDs, separated by ',' or '\\'."""
        for sep in (",", "\\"):
            found = client.search_for_studies(
                search_filters={"StudyInstanceUID": f"{STUDY1}{sep}{STUDY3}"}
            )
            assert study_uids(found) == {STUDY1, STUDY3}

    @pytest.mark.parametrize(
        ("dates", "expected"),
        [
            ("20240115", {1, 4}),
            ("20240101-20240131", {1, 4}),
            ("20240101-", {1, 2, 4}),
            ("-20231231", {3}),
        ],
    )
    def test_date_range(self, client, dates, expected):
        """DA single value and ranges (C.2.2.2.5)."""
        found = client.search_for_studies(search_filters={"StudyDate": dates})
        assert study_uids(found) == {Spec(study=n).study_uid for n in expected}

    def test_time_range(self, client):
        """TM ranges compare times of day."""
        found = client.search_for_studies(search_filters={"StudyTime": "0800-1100"})
        assert study_uids(found) == {STUDY1, STUDY2}

    def test_modalities_in_study(self, client):
        """ModalitiesInStudy matches a study having any series of the modality."""
        found = client.search_for_studies(search_filters={"ModalitiesInStudy": "PT"})
        assert study_uids(found) == {STUDY3}

    def test_key_by_tag(self, client):
        """A matching key may be given as a hex tag."""
        found = client.search_for_studies(search_filters={"00100020": "PAT2"})
        assert study_uids(found) == {STUDY3}

    def test_empty_result_is_200_and_empty_array(self, web):
        """No match: 200 with [] (what dicomweb-client and viewers read)."""
        response = httpx.get(f"{web.url}/studies", params={"PatientID": "NOBODY"})
        assert response.status_code == 200
        assert response.json() == []
        assert response.headers["X-Total-Count"] == "0"


class TestFuzzyMatching:
    def test_accents_case_and_components(self, empty_web):
        """fuzzymatching=true ignores accents and case; a word may be any component."""
        empty_web.archive.store(make_bytes(Spec(patient_id="Z", patient_name="Müller^Zoé")))
        client = DICOMwebClient(empty_web.url)
        for name in ("muller", "MÜLLER", "zoe", "zo*", "Muller^Zoe"):
            found = client.search_for_studies(
                fuzzymatching=True, search_filters={"PatientName": name}
            )
            assert len(found) == 1, name
        assert client.search_for_studies(search_filters={"PatientName": "muller"}) == []
        assert (
            client.search_for_studies(fuzzymatching=True, search_filters={"PatientName": "zoey"})
            == []
        )


class TestIncludeField:
    def test_keyword_tag_repeated_and_comma(self, web):
        """includefield by keyword and tag, repeated and comma-separated."""
        response = httpx.get(
            f"{web.url}/studies/{STUDY1}/series/{SERIES11}/instances",
            params=[("includefield", "ImageType,00280030"), ("includefield", "SliceThickness")],
        )
        assert response.status_code == 200
        first = response.json()[0]
        assert first["00080008"]["Value"] == ["ORIGINAL", "PRIMARY", "AXIAL"]  # from the file
        assert first["00280030"]["Value"] == [0.5, 0.5]
        assert first["00180050"]["Value"] == [1]
        assert list(first) == sorted(first)  # attributes in tag order, file ones included

    def test_series_level_attribute_from_a_file(self, client):
        """An attribute the index lacks is read from a stored file of the series."""
        found = client.search_for_series(STUDY1, fields=["PixelSpacing"])
        assert all(r["00280030"]["Value"] == [0.5, 0.5] for r in found)

    def test_all(self, web):
        """includefield=all returns every indexed attribute of the level and above."""
        response = httpx.get(f"{web.url}/series", params={"includefield": "all", "limit": 1})
        first = response.json()[0]
        for tag in ("00100030", "00081030", "00180015", "00201209", "00080061"):
            assert tag in first

    def test_unknown_field_is_400(self, web):
        response = httpx.get(f"{web.url}/studies", params={"includefield": "NoSuchThing"})
        assert response.status_code == 400
        assert "NoSuchThing" in response.json()["detail"]


class TestPaging:
    def test_limit_offset_total_and_warning(self, web):
        """limit/offset page in SQL; X-Total-Count and a 299 Warning when cut."""
        response = httpx.get(f"{web.url}/instances", params={"limit": 5, "offset": 10})
        assert response.status_code == 200
        assert len(response.json()) == 3
        assert response.headers["X-Total-Count"] == "13"
        assert "Warning" not in response.headers
        response = httpx.get(f"{web.url}/instances", params={"limit": 5, "offset": 5})
        assert len(response.json()) == 5
        assert response.headers["Warning"].startswith("299 ")
        assert "additional results" in response.headers["Warning"]

    def test_pages_are_disjoint_and_complete(self, web):
        seen = []
        for offset in range(0, 13, 4):
            page = httpx.get(f"{web.url}/instances", params={"limit": 4, "offset": offset})
            seen += [value(r, "00080018") for r in page.json()]
        assert len(seen) == len(set(seen)) == 13

    def test_client_get_remaining(self, client):
        """dicomweb-client's get_remaining pages with offset until an empty page."""
        found = client.search_for_instances(limit=3, get_remaining=True)
        assert len(found) == 13

    def test_streamed_answer_equals_whole_answer(self, web, monkeypatch):
        """An answer longer than a page streams in chunks; the JSON is the same."""
        whole = httpx.get(f"{web.url}/instances").json()
        monkeypatch.setattr(qido, "PAGE_ROWS", 2)
        response = httpx.get(f"{web.url}/instances")
        assert response.headers.get("transfer-encoding") == "chunked"
        assert response.json() == whole
        assert response.headers["X-Total-Count"] == "13"


class TestNestedResources:
    def test_study_series(self, client):
        found = client.search_for_series(STUDY1)
        assert sorted(value(r, "00200011") for r in found) == [1, 2]
        assert all(value(r, "00201209") in (2, 3) for r in found)
        assert "00100010" not in found[0]  # study attributes only when not scoped

    def test_all_series_carry_study_attributes(self, client):
        found = client.search_for_series(search_filters={"Modality": "MR"})
        assert len(found) == 1
        assert value(found[0], "00100010") == {"Alphabetic": "Doe^Jane"}

    def test_study_instances(self, client):
        assert len(client.search_for_instances(STUDY1)) == 5

    def test_series_instances(self, client, web):
        found = client.search_for_instances(STUDY1, SERIES11)
        assert sorted(value(r, "00200013") for r in found) == [1, 2, 3]
        first = found[0]
        assert value(first, "00280010") == 16  # Rows, from the index
        sop = value(first, "00080018")
        assert value(first, "00081190") == (
            f"{web.url}/studies/{STUDY1}/series/{SERIES11}/instances/{sop}"
        )

    def test_series_of_another_study_is_empty(self, client):
        assert client.search_for_instances(STUDY2, SERIES11) == []


class TestXml:
    def test_multipart_dicom_xml(self, web):
        """Accept multipart/related; type=application/dicom+xml: one PS3.19 part per match."""
        response = httpx.get(
            f"{web.url}/studies",
            params={"PatientID": "PAT2"},
            headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
        )
        assert response.status_code == 200
        ctype = response.headers["content-type"]
        assert ctype.startswith("multipart/related") and "application/dicom+xml" in ctype
        boundary = ctype.split("boundary=")[1]
        parts = [p for p in response.content.split(b"--" + boundary.encode())[1:-1]]
        assert len(parts) == 1
        root = ET.fromstring(parts[0].split(b"\r\n\r\n", 1)[1].strip())
        name = root.find(f"{NATIVE}DicomAttribute[@tag='00100010']")
        assert (
            name.find(f"{NATIVE}PersonName/{NATIVE}Alphabetic/{NATIVE}FamilyName").text == "Smith"
        )

    def test_no_match_is_204(self, web):
        response = httpx.get(
            f"{web.url}/studies",
            params={"PatientID": "NOBODY"},
            headers={"Accept": 'multipart/related; type="application/dicom+xml"'},
        )
        assert response.status_code == 204


class TestErrors:
    @pytest.mark.parametrize(
        "params",
        [
            {"NoSuchKeyword": "1"},
            {"StudyDate": "2024"},
            {"StudyDate": "20241301"},
            {"StudyDate": "20240201-20240101"},
            {"StudyTime": "2500"},
            {"StudyDate": "20240101-20240131\\20240301"},
            {"StudyInstanceUID": "1.2.abc"},
            {"StudyInstanceUID": "1.2.*"},
            {"SeriesNumber": "one"},
            {"limit": "-1"},
            {"limit": "ten"},
            {"offset": "99999999999999999999"},
            {"fuzzymatching": "maybe"},
            {"PatientName": "a\x00b"},
            {"PixelData": "1"},
        ],
    )
    def test_malformed_query_is_400_with_a_reason(self, web, params):
        response = httpx.get(f"{web.url}/studies", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["detail"]

    def test_malformed_uid_in_path_is_400(self, web):
        response = httpx.get(f"{web.url}/studies/1.2.x/series")
        assert response.status_code == 400

    def test_unsupported_accept_is_406(self, web):
        response = httpx.get(f"{web.url}/studies", headers={"Accept": "image/png"})
        assert response.status_code == 406

    def test_json_accept_forms(self, web):
        for accept in ("application/json", "application/*", "*/*", "application/dicom+json"):
            response = httpx.get(f"{web.url}/studies", headers={"Accept": accept})
            assert response.status_code == 200, accept
            assert response.headers["content-type"] == "application/dicom+json"

    def test_key_not_indexed_is_ignored_with_a_warning(self, web):
        """A valid keyword the index cannot match is ignored and named in a 299 Warning."""
        response = httpx.get(f"{web.url}/studies", params={"InstitutionName": "X"})
        assert response.status_code == 200
        assert len(response.json()) == 4
        assert "InstitutionName" in response.headers["Warning"]


class TestLevels:
    def test_lower_level_attributes_are_not_returned(self, web):
        """includefield=SOPInstanceUID on studies names no one value: it is left out."""
        response = httpx.get(
            f"{web.url}/studies",
            params={"includefield": "SOPInstanceUID,NumberOfSeriesRelatedInstances"},
        )
        assert response.status_code == 200
        first = response.json()[0]
        assert "00080018" not in first and "00201209" not in first

    def test_relational_series_and_instance_keys(self, client):
        """Studies match a series or instance key relationally (PS3.18 8.3.4.1)."""
        found = client.search_for_studies(search_filters={"Modality": "PT"})
        assert study_uids(found) == {STUDY3}
        sop = Spec(study=2, number=1).sop_uid
        found = client.search_for_studies(search_filters={"SOPInstanceUID": sop})
        assert study_uids(found) == {STUDY2}
