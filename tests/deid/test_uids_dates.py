"""Tests for medbridge.deid.uids and dates: keyed, repeatable, valid, interval-preserving."""

from __future__ import annotations

import re
import uuid

import pytest

from medbridge.deid.dates import MAX_SHIFT_DAYS, date_offset_days, shift_da, shift_dt
from medbridge.deid.uids import remap_uid

KEY = b"k" * 32


class TestRemapUid:
    def test_deterministic_and_keyed(self):
        """Same UID and key give the same result; another key or UID another one."""
        uid = "1.3.12.2.1107.5.2.32.35131.2014031013014324219590803.0.0.0"
        assert remap_uid(uid, KEY) == remap_uid(uid, KEY)
        assert remap_uid(uid, KEY) != remap_uid(uid, b"j" * 32)
        assert remap_uid(uid, KEY) != remap_uid(uid + "1", KEY)

    def test_valid_uuid_derived_uid(self):
        """The result is a 2.25 UID of at most 64 characters holding a version-8 UUID."""
        new = remap_uid("1.2.3.4", KEY)
        assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", new) and len(new) <= 64
        assert uuid.UUID(int=int(new[5:])).version == 8

    @pytest.mark.parametrize("uid", ["1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.1", ""])
    def test_well_known_and_empty_kept(self, uid):
        """Standard UIDs name kinds, not instances, and are not remapped."""
        assert remap_uid(uid, KEY) == uid

    def test_padding_ignored(self):
        """A NUL-padded UID maps like the bare one."""
        assert remap_uid("1.2.3\0", KEY) == remap_uid("1.2.3", KEY)


class TestDates:
    def test_offset_per_patient(self):
        """One patient, one offset; within the documented range."""
        a = date_offset_days("PatientID=A", KEY)
        assert a == date_offset_days("PatientID=A", KEY)
        assert -MAX_SHIFT_DAYS <= a <= -1
        offsets = {date_offset_days(f"PatientID={i}", KEY) for i in range(50)}
        assert len(offsets) > 40

    def test_shift_da_and_dt(self):
        """DA moves by whole days, DT keeps its time and UTC offset; leap days handled."""
        assert shift_da("20200301", -1) == "20200229"
        assert shift_da("20200301\\20200302", -1) == "20200229\\20200301"
        assert shift_dt("20200301101010.5+0100", -1) == "20200229101010.5+0100"

    @pytest.mark.parametrize(
        ("value", "shifted"),
        [
            ("20200301101010-0500", "20200229101010-0500"),  # negative offset, not a range
            ("20200301-0500", "20200229-0500"),  # a date with an offset
            ("20200301101010+1400", "20200229101010+1400"),
            ("20200301101010-0500-20200302101010-0500", "20200229101010-0500-20200301101010-0500"),
            ("20200301-20200302", "20200229-20200301"),
            ("-20200302101010", "-20200301101010"),
        ],
    )
    def test_shift_dt_offsets_and_ranges(self, value, shifted):
        """A hyphen is a UTC offset or a range end; both keep what they are."""
        assert shift_dt(value, -1) == shifted

    def test_shift_da_ranges(self):
        """DA ranges move end by end, open ends stay open."""
        assert shift_da("20200301-20200310", -1) == "20200229-20200309"
        assert shift_da("-20200310", -1) == "-20200309"
        assert shift_da("20200301-", -1) == "20200229-"
        assert shift_da("-", -1) == ""

    @pytest.mark.parametrize("bad", ["2020", "20201340", "notadate", "2020-03-01", "2019.03.14"])
    def test_unparsable_dates_emptied(self, bad):
        """A value that cannot be shifted is emptied, never passed through."""
        assert shift_da(bad, -10) == ""
        assert shift_dt(bad, -10) == ""
