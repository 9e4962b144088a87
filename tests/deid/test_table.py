"""Tests for medbridge.deid.table and _actions: Table E.1-1 as data, options, compounds."""

from __future__ import annotations

import re

import pytest
from pydicom.datadict import dictionary_description, dictionary_has_tag
from pydicom.dataset import Dataset

from medbridge.deid._actions import required_type, resolve
from medbridge.deid.policy import Option, Policy
from medbridge.deid.table import ACTIONS, load_table, profile_for


def _norm(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower().replace("(see note 12)", ""))


class TestTableData:
    def test_whole_table_loaded(self):
        """All 656 rows of the current Table E.1-1 load, each tag once."""
        rules = load_table()
        assert len(rules) == 656
        assert len({r.tag for r in rules}) == 656

    @pytest.mark.parametrize(
        ("tag", "basic", "options"),
        [
            # rows of the current standard that the 2020 transcription lacked
            ("(0008,0012)", "X/D", {"rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C"}),
            ("(0008,0013)", "X/Z/D", {"rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C"}),
            ("(0008,0017)", "U", {"rtnUIDsOpt": "K"}),  # Acquisition UID
            ("(0008,0055)", "X", {"rtnDevIdOpt": "C"}),  # Station AE Title
            ("(0010,0012)", "X", {}),  # Name to Use
            ("(0018,1042)", "X", {"rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C"}),
            ("(0018,9074)", "D", {"rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C"}),
            ("(0042,0011)", "D", {}),  # Encapsulated Document
            ("(0064,0003)", "U", {"rtnUIDsOpt": "K"}),  # Source Frame of Reference UID
            ("(0018,1010)", "X", {"rtnDevIdOpt": "K"}),  # Secondary Capture Device ID
            ("(0040,E012)", "X", {}),  # Display URI
            # rows whose actions changed since then
            ("(0010,0020)", "Z/D", {}),  # Patient ID
            ("(3006,0009)", "Z", {"rtnLongFullDatesOpt": "K", "rtnLongModifDatesOpt": "C"}),
            ("(0008,1120)", "X", {"rtnUIDsOpt": "K"}),  # Referenced Patient Sequence
            ("(0040,0241)", "X", {"rtnDevIdOpt": "C"}),  # Performed Station AE Title
            # rows unchanged, for the option columns
            ("(0010,1010)", "X", {"rtnPatCharsOpt": "K"}),  # Patient's Age
            ("(0008,103E)", "X", {"cleanDescOpt": "C"}),  # Series Description
            ("(0040,A730)", "D", {"cleanStructContOpt": "C"}),  # Content Sequence
            ("(60XX,3000)", "X", {"cleanGraphOpt": "C"}),  # Overlay Data
            ("(GGGG,EEEE)", "X", {"rtnSafePrivOpt": "C"}),
        ],
    )
    def test_rows_as_the_standard_gives_them(self, tag, basic, options):
        """A sample of rows with the actions PS3.15 (2026c) gives them, every column."""
        (rule,) = [r for r in load_table() if r.tag == tag]
        assert rule.basic == basic
        assert {o.column: a for o, a in rule.options.items()} == options

    def test_names_match_data_dictionary(self):
        """Each fixed tag's name is pydicom's name for that tag: no transcription slip."""
        wrong = [
            (r.tag, r.name)
            for r in load_table()
            if r.tag_int is not None
            and dictionary_has_tag(r.tag_int)
            and _norm(dictionary_description(r.tag_int)) != _norm(r.name)
        ]
        assert wrong == []

    def test_attributes_newer_than_pydicom_listed(self):
        """Rows pydicom does not know yet (2024-2026 additions) are there, by tag."""
        unknown = {
            r.tag
            for r in load_table()
            if r.tag_int is not None and not dictionary_has_tag(r.tag_int)
        }
        assert {"(0010,0011)", "(0010,0012)", "(0010,0016)", "(0040,E012)"} <= unknown

    def test_actions_are_the_standards(self):
        """Every basic and option action is one Table E.1-1's legend defines."""
        for r in load_table():
            assert r.basic in ACTIONS, r
            assert set(r.options.values()) <= {"K", "C"}, r

    def test_patterns_present(self):
        """Curves, overlays and private attributes are rows of their own."""
        tags = {r.tag for r in load_table()}
        assert {"(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", "(GGGG,EEEE)"} <= tags


class TestProfile:
    @pytest.mark.parametrize(
        ("tag", "policy", "action"),
        [
            (0x00100010, Policy(), "Z"),  # Patient's Name
            (0x00101010, Policy(), "X"),  # Patient's Age
            (0x00101010, Policy(retain_patient_characteristics=True), "K"),
            (0x00080020, Policy(dates="shift"), "C"),  # Study Date
            (0x00080020, Policy(dates="keep"), "K"),
            (0x0020000D, Policy(), "U"),  # Study Instance UID
            (0x0020000D, Policy(retain_uids=True), "K"),
            (0x00081120, Policy(retain_uids=True), "K"),  # Referenced Patient Sequence
            (0x00181002, Policy(retain_device_identity=True), "K"),  # Device UID
            (0x00080080, Policy(retain_institution_identity=True), "K"),
            (0x0008103E, Policy(clean_descriptors=True), "C"),  # Series Description
            (0x00091010, Policy(), "X"),  # private
            (0x00091010, Policy(retain_safe_private=True), "C"),
            (0x50023000, Policy(), "X"),  # curve data
            (0x60023000, Policy(clean_graphics=True), "C"),
            (0x00280010, Policy(), None),  # Rows: not listed
        ],
    )
    def test_action_under_options(self, tag, policy, action):
        """An option's column replaces the Basic Profile action only where it has one."""
        assert profile_for(policy.options).action(tag) == action

    def test_policy_options(self):
        """A policy names the options it applies."""
        policy = Policy(dates="shift", retain_uids=True)
        assert policy.options == {Option.RETAIN_LONG_MODIFIED_DATES, Option.RETAIN_UIDS}


class TestCompound:
    @pytest.mark.parametrize(
        ("action", "required", "chosen"),
        [
            ("X/Z", None, "X"),
            ("X/Z", 2, "Z"),
            ("X/D", 1, "D"),
            ("Z/D", None, "Z"),
            ("Z/D", 1, "D"),
            ("X/Z/D", None, "X"),
            ("X/Z/D", 2, "Z"),
            ("X/Z/D", 1, "D"),
            ("X/Z/U*", None, "U"),
            ("K", 1, "K"),
        ],
    )
    def test_resolve(self, action, required, chosen):
        """The strictest alternative unless the IOD needs the attribute present."""
        assert resolve(action, required) == chosen

    def test_required_type_from_modules(self):
        """Content Date is Type 1 in a multi-frame (functional groups) or SR dataset."""
        ds = Dataset()
        assert required_type(0x00080023, ds) is None
        assert required_type(0x00400555, ds) is None
        ds.SharedFunctionalGroupsSequence = [Dataset()]
        assert required_type(0x00080023, ds) == 1
        assert required_type(0x00400555, ds) == 2  # Acquisition Context Sequence
        assert required_type(0x00181000, ds) == 1  # Device Serial Number
