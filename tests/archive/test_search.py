"""Paged searches (archive/search.py), fuzzy names (archive/names.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from archive.factory import Spec, make_bytes
from medbridge.archive import Archive, Level, Search
from medbridge.archive.names import fuzzy_key, fuzzy_words
from medbridge.archive.search import FIRST_FILE


def rows(archive: Archive, search: Search, page_size: int = 1000) -> list:
    return [row for page in archive.search(search, page_size=page_size) for row in page.rows]


class TestNames:
    def test_fold_accents_case_and_separators(self):
        assert fuzzy_words("Müller^Hans-Jürgen=Mü") == ["MULLER", "HANS", "JURGEN", "MU"]
        assert fuzzy_key("Doe^Zoé") == " DOE ZOE"
        assert fuzzy_key("") == ""


class TestSearch:
    def test_pages_limit_offset_and_count(self, filled_archive):
        """Pages come from one cursor; limit/offset are SQL's; count ignores the page."""
        search = Search(Level.IMAGE, columns=("SOPInstanceUID",))
        everything = rows(filled_archive, search, page_size=4)
        assert len(everything) == 13
        assert [r[0] for r in everything] == sorted(r[0] for r in everything)
        page = rows(
            filled_archive, Search(Level.IMAGE, columns=("SOPInstanceUID",), limit=5, offset=10)
        )
        assert [r[1] for r in page] == [r[1] for r in everything[10:]]
        assert filled_archive.search_count(Search(Level.IMAGE, limit=1)) == 13

    def test_computed_columns_and_modalities(self, filled_archive):
        search = Search(
            Level.STUDY,
            matches=(("PatientID", "PAT2"),),
            columns=(
                "NumberOfStudyRelatedSeries",
                "NumberOfStudyRelatedInstances",
                "ModalitiesInStudy",
            ),
        )
        (page,) = list(filled_archive.search(search))
        (row,) = page.rows
        assert row[1:3] == (2, 4)
        assert page.modalities[row[3]] == ["CT", "PT"]

    def test_first_file_of_a_series(self, filled_archive):
        search = Search(
            Level.SERIES,
            matches=(("SeriesInstanceUID", Spec(series=2).series_uid),),
            columns=(FIRST_FILE,),
        )
        (row,) = rows(filled_archive, search)
        assert filled_archive.storage.path(row[1]) == filled_archive.open(
            Spec(series=2, number=1).sop_uid
        )

    def test_fuzzy_person_names(self, filled_archive):
        """Fuzzy matching: any word of the name, case-insensitive, as a prefix; wildcards."""

        def found(value: str) -> int:
            return filled_archive.search_count(
                Search(Level.STUDY, matches=(("PatientName", value),), fuzzy=True)
            )

        assert found("jane") == 2
        assert found("JOHN^smith") == 1
        assert found("smi") == 2  # Smith^John and smithers^waylon
        assert found("w?ylon") == 1
        assert found("doe%") == 0  # SQL LIKE characters are literal
        assert found("ane") == 0  # a word's start, not any substring
        referring = Search(Level.STUDY, matches=(("ReferringPhysicianName", "doc"),), fuzzy=True)
        assert filled_archive.search_count(referring) == 4

    def test_image_attributes_are_indexed(self, filled_archive):
        search = Search(Level.IMAGE, columns=("Rows", "Columns", "BitsAllocated"), limit=1)
        assert rows(filled_archive, search)[0][1:] == (16, 16, 16)

    def test_delete_matching(self, empty_archive):
        for spec in (Spec(number=1), Spec(number=2), Spec(series=2, number=1)):
            empty_archive.store(make_bytes(spec))
        deleted = empty_archive.delete_matching(
            (("StudyInstanceUID", Spec().study_uid), ("SeriesInstanceUID", Spec().series_uid))
        )
        assert sorted(deleted) == sorted([Spec(number=1).sop_uid, Spec(number=2).sop_uid])
        assert empty_archive.search_count(Search(Level.IMAGE)) == 1
        assert empty_archive.search_count(Search(Level.SERIES)) == 1


class TestMigration:
    def test_old_index_gets_new_columns_and_fuzzy_keys(self, tmp_path):
        """An index made before the fuzzy and image columns existed is upgraded on open."""
        with Archive(tmp_path) as archive:
            archive.store(make_bytes(Spec(patient_name="Müller^Zoé")))
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE patient DROP COLUMN patient_name_fuzzy"))
            conn.execute(sa.text('ALTER TABLE instance DROP COLUMN "rows"'))
        engine.dispose()
        with Archive(tmp_path) as archive:
            search = Search(Level.STUDY, matches=(("PatientName", "zoe"),), fuzzy=True)
            assert archive.search_count(search) == 1
            assert rows(archive, Search(Level.IMAGE, columns=("Rows",)))[0][1] is None


class TestImageAttributesInCFind:
    def test_returned_and_matched_from_the_index(self, empty_archive):
        """C-FIND IMAGE keys Rows/NumberOfFrames come from the index and can match."""
        from pydicom.dataset import Dataset

        empty_archive.store(make_bytes(Spec(extra={"NumberOfFrames": 1})))
        empty_archive.store(make_bytes(Spec(number=2, size=32)))
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.SOPInstanceUID = ""
        query.NumberOfFrames = None
        query.Rows = 16
        (answer,) = empty_archive.find(query)
        assert answer.SOPInstanceUID == Spec(number=1).sop_uid
        assert answer.Rows == 16 and answer.NumberOfFrames == 1


class TestRelational:
    def test_lower_level_keys_match_relationally(self, filled_archive):
        """A study matches a series or instance key when one of its series/instances does."""

        def count(level, keyword, value):
            return filled_archive.search_count(Search(level, matches=((keyword, value),)))

        assert count(Level.STUDY, "Modality", "PT") == 1
        assert count(Level.STUDY, "SOPInstanceUID", Spec(study=2, number=2).sop_uid) == 1
        assert count(Level.STUDY, "Modality", "XA") == 0
        assert count(Level.SERIES, "InstanceNumber", "3") == 2  # two series have a third image
        assert count(Level.PATIENT, "Modality", "MR") == 1
