"""Tests for medbridge.deid.instance: one instance in memory, de-identified as files are."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from planted_data import KEY, build_planted, find_planted
from pydicom import dcmread

from medbridge.deid import Policy, anonymize_bytes, anonymize_paths
from medbridge.errors import DeidentificationError, InvalidDicomError

POLICY = Policy(key=KEY, dates="shift", retain_safe_private=True)


def _file_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class TestAnonymizeBytes:
    def test_same_bytes_as_the_file_runner(self, tmp_path):
        """An export de-identified in memory equals what `medbridge anonymize` writes."""
        data = _file_bytes(build_planted())
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.dcm").write_bytes(data)
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", POLICY, jobs=1)
        (result,) = summary.results
        assert anonymize_bytes(data, POLICY) == Path(result.output).read_bytes()

    def test_no_planted_value_left(self):
        """The returned file holds no planted name, ID, place, date or UID."""
        out = anonymize_bytes(_file_bytes(build_planted()), POLICY)
        kept = ("names", "ids", "places", "device", "dates", "uids")
        assert find_planted(out, kept) == []
        assert dcmread(io.BytesIO(out)).PatientIdentityRemoved == "YES"

    def test_truncated_refused(self):
        """A truncated file raises InvalidDicomError instead of a half-read export."""
        data = _file_bytes(build_planted())
        with pytest.raises(InvalidDicomError, match="cannot read"):
            anonymize_bytes(data[: len(data) // 3], POLICY)
        with pytest.raises(InvalidDicomError):
            anonymize_bytes(b"not dicom at all", POLICY)

    def test_burned_in_refused(self):
        """Burned-in annotation without a mask raises DeidentificationError."""
        ds = build_planted()
        ds.BurnedInAnnotation = "YES"
        with pytest.raises(DeidentificationError, match="Burned In Annotation"):
            anonymize_bytes(_file_bytes(ds), POLICY)
