"""Tests of C-FIND matching (PS3.4 C.2.2.2) and return keys through Archive.find.

The corpus (archive/factory.py): PAT1 Doe^Jane (study 1: CT series 1 x3 + series 2 x2,
20240115 101500; study 2: MR x2, 20240301 083000), PAT2 Smith^John (study 3: CT x3 + PT
x1, 20231224 235959), PAT3 smithers^waylon (study 4: CT x2, 20240115 120000).
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from archive.factory import ROOT
from medbridge.archive import QueryModel
from medbridge.errors import ArchiveError


def query(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw, value in keys.items():
        setattr(ds, kw, value)
    return ds


def study_uids(archive, **keys) -> list[str]:
    found = archive.find(query("STUDY", **{"StudyInstanceUID": "", **keys}))
    return [ds.StudyInstanceUID.rsplit(".", 1)[1] for ds in found]


class TestSingleValueMatching:
    def test_exact_string(self, filled_archive):
        """AccessionNumber=ACC3 matches study 3 only."""
        assert study_uids(filled_archive, AccessionNumber="ACC3") == ["3"]

    def test_person_name_is_case_insensitive(self, filled_archive):
        """PN matching ignores case (PS3.4 C.2.2.2.1 allows it)."""
        assert study_uids(filled_archive, PatientName="SMITH^JOHN") == ["3"]

    def test_no_match(self, filled_archive):
        """An unknown value gives no answer."""
        assert study_uids(filled_archive, PatientID="NOPE") == []

    def test_integer_string_compares_as_number(self, filled_archive):
        """SeriesNumber=02 matches series number 2."""
        found = list(filled_archive.find(query("SERIES", SeriesNumber="02", SeriesInstanceUID="")))
        assert sorted(ds.SeriesInstanceUID for ds in found) == [f"{ROOT}.2.1.2", f"{ROOT}.2.3.2"]


class TestWildcardMatching:
    def test_star(self, filled_archive):
        """SMITH* matches Smith^John and smithers^waylon, case-insensitively."""
        assert study_uids(filled_archive, PatientName="smith*") == ["3", "4"]

    def test_question_mark(self, filled_archive):
        """ACC? matches every accession number of four characters."""
        assert study_uids(filled_archive, AccessionNumber="ACC?") == ["1", "2", "3", "4"]

    def test_sql_wildcards_are_literal(self, filled_archive):
        """% and _ in a key are not SQL wildcards."""
        assert study_uids(filled_archive, AccessionNumber="ACC_") == []
        assert study_uids(filled_archive, AccessionNumber="%") == []


class TestRangeMatching:
    def test_closed_date_range(self, filled_archive):
        """20240101-20240131 matches the two January studies."""
        assert study_uids(filled_archive, StudyDate="20240101-20240131") == ["1", "4"]

    def test_open_ranges(self, filled_archive):
        """-20231231 and 20240201- are open on one side."""
        assert study_uids(filled_archive, StudyDate="-20231231") == ["3"]
        assert study_uids(filled_archive, StudyDate="20240201-") == ["2"]

    def test_time_range_includes_upper_bound_period(self, filled_archive):
        """1000-1200 includes 10:15:00 and 12:00:00 but not 08:30 or 23:59:59."""
        assert study_uids(filled_archive, StudyTime="1000-1200") == ["1", "4"]

    def test_date_list(self, filled_archive):
        """A multi-valued DA key matches any of its dates."""
        assert study_uids(filled_archive, StudyDate="20231224\\20240301") == ["2", "3"]


class TestUidListMatching:
    def test_list_of_uids(self, filled_archive):
        """A backslash-separated UID list matches each listed study."""
        uids = f"{ROOT}.1.2\\{ROOT}.1.4\\1.2.3.999"
        assert study_uids(filled_archive, StudyInstanceUID=uids) == ["2", "4"]


class TestUniversalMatching:
    def test_empty_keys_match_everything(self, filled_archive):
        """Empty keys match all and come back filled."""
        found = list(
            filled_archive.find(query("STUDY", StudyInstanceUID="", PatientName="", StudyDate=""))
        )
        assert len(found) == 4
        assert [str(ds.PatientName) for ds in found] == [
            "Doe^Jane",
            "Doe^Jane",
            "Smith^John",
            "smithers^waylon",
        ]
        assert found[2].StudyDate == "20231224"

    def test_star_alone_matches_everything(self, filled_archive):
        """A lone * is universal matching too."""
        assert study_uids(filled_archive, PatientName="*") == ["1", "2", "3", "4"]


class TestReturnKeys:
    def test_study_computed_keys(self, filled_archive):
        """Series/instance counts and modalities are computed per study."""
        found = list(
            filled_archive.find(
                query(
                    "STUDY",
                    StudyInstanceUID=f"{ROOT}.1.3",
                    NumberOfStudyRelatedSeries=None,
                    NumberOfStudyRelatedInstances=None,
                    ModalitiesInStudy="",
                    SOPClassesInStudy="",
                )
            )
        )
        assert len(found) == 1
        ds = found[0]
        assert ds.NumberOfStudyRelatedSeries == 2
        assert ds.NumberOfStudyRelatedInstances == 4
        assert list(ds.ModalitiesInStudy) == ["CT", "PT"]
        assert ds.SOPClassesInStudy == "1.2.840.10008.5.1.4.1.1.2"
        assert ds.QueryRetrieveLevel == "STUDY"

    def test_modalities_in_study_matches_any_series(self, filled_archive):
        """ModalitiesInStudy=PT finds the study that has a PT series among others."""
        assert study_uids(filled_archive, ModalitiesInStudy="PT") == ["3"]
        assert study_uids(filled_archive, ModalitiesInStudy="MR\\PT") == ["2", "3"]

    def test_patient_level_counts(self, filled_archive):
        """Patient Root PATIENT level counts the patient's studies, series, instances."""
        found = list(
            filled_archive.find(
                query(
                    "PATIENT",
                    PatientID="PAT1",
                    NumberOfPatientRelatedStudies=None,
                    NumberOfPatientRelatedSeries=None,
                    NumberOfPatientRelatedInstances=None,
                ),
                model=QueryModel.PATIENT_ROOT,
            )
        )
        assert [
            (
                d.NumberOfPatientRelatedStudies,
                d.NumberOfPatientRelatedSeries,
                d.NumberOfPatientRelatedInstances,
            )
            for d in found
        ] == [(2, 3, 7)]

    def test_series_level_count(self, filled_archive):
        """NumberOfSeriesRelatedInstances counts each series."""
        found = list(
            filled_archive.find(
                query(
                    "SERIES",
                    StudyInstanceUID=f"{ROOT}.1.1",
                    SeriesInstanceUID="",
                    Modality="",
                    NumberOfSeriesRelatedInstances=None,
                )
            )
        )
        assert [(d.Modality, d.NumberOfSeriesRelatedInstances) for d in found] == [
            ("CT", 3),
            ("CT", 2),
        ]

    def test_image_level_reads_other_keys_from_file(self, filled_archive):
        """At IMAGE level, keys the index lacks come from the stored file."""
        found = list(
            filled_archive.find(
                query(
                    "IMAGE",
                    SeriesInstanceUID=f"{ROOT}.2.2.1",
                    SOPInstanceUID="",
                    InstanceNumber=None,
                    Rows=None,
                    ImageType=None,
                )
            )
        )
        assert [(d.InstanceNumber, d.Rows, list(d.ImageType)) for d in found] == [
            (1, 16, ["ORIGINAL", "PRIMARY", "AXIAL"]),
            (2, 16, ["ORIGINAL", "PRIMARY", "AXIAL"]),
        ]

    def test_unknown_key_comes_back_empty(self, filled_archive):
        """A study-level key the archive does not index is returned with no value."""
        found = list(
            filled_archive.find(
                query(
                    "STUDY",
                    StudyInstanceUID=f"{ROOT}.1.1",
                    PatientWeight=None,
                    OtherPatientIDsSequence=[],
                )
            )
        )
        assert "PatientWeight" in found[0] and found[0].PatientWeight is None
        assert len(found[0].OtherPatientIDsSequence) == 0

    def test_keys_below_level_do_not_match(self, filled_archive):
        """A SERIES key in a STUDY query takes no part in matching."""
        assert study_uids(filled_archive, Modality="MR") == ["1", "2", "3", "4"]


class TestLevels:
    def test_patient_level_needs_patient_root(self, filled_archive):
        """PATIENT is not a level of the Study Root model."""
        with pytest.raises(ArchiveError, match="Study Root"):
            list(filled_archive.find(query("PATIENT", PatientID="")))

    def test_missing_level_is_an_error(self, filled_archive):
        """Without (0008,0052) the identifier is refused."""
        ds = Dataset()
        ds.PatientID = ""
        with pytest.raises(ArchiveError, match="Query/Retrieve Level"):
            list(filled_archive.find(ds))

    def test_count_per_level(self, filled_archive):
        """4 studies, 6 series, 13 instances, 3 patients."""
        assert filled_archive.count(query("STUDY")) == 4
        assert filled_archive.count(query("SERIES")) == 6
        assert filled_archive.count(query("IMAGE")) == 13
        assert filled_archive.count(query("PATIENT"), model=QueryModel.PATIENT_ROOT) == 3
