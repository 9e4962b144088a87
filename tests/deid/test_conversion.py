"""De-identified research data still converts (issue 6).

Every dcm_qa series (all eight sets), de-identified with shifted dates and the safe
private elements kept, converts to as many outputs as before, with the same voxels,
affine, scaling, bval/bvec and sidecar, except the fields de-identification changes by
design (``conversion_check.BY_DESIGN``, each with its reason) and the few listed with
their reason in ``conversion_check.REMAINING``. Identity planted in a Siemens CSA header
is overwritten there without changing the conversion, and the kept private elements hold
none of the input's identity, planted or real.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
from conversion_check import BY_DESIGN, POLICY, REMAINING, UNITS, converted, differences
from planted_data import KEY
from pydicom import dcmread

from medbridge.convert import ConvertOptions, convert, convert_files
from medbridge.deid import Policy, anonymize_paths, deidentify
from medbridge.deid.table import profile_for

SERIES = (
    "dcm_qa_mosaic/In/ep2d_Asc_2",  # Siemens EPI mosaic: CSA image and series headers
    "dcm_qa_mosaic/In/cmrr_Int_8",  # Siemens multiband mosaic: slice timing from CSA
    "dcm_qa_philips/In/Magdeburg_2014/fmri",  # Philips classic: private scale slope
    "dcm_qa_philips/In/Vanderbilt_2018/601_WIP_dti_ax",  # Philips DTI: b-values, vectors
    "dcm_qa_enh/In/Philips",  # Philips enhanced: scale slope in private per-frame items
)
PLANTED_NAME = "Zyxwert^Plantedfirst"
PLANTED_ID = "PLANTID-93847"
PLANTED_CSA = b"PLANTID-93847 Zyxwert"
_CSA_FIELD = b'tdefaultEVAProt\t = \t""'
IDENTITY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "DeviceSerialNumber",
    "StudyDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)


def _plant(source: Path, target: Path) -> None:
    """Copy a series with identity planted in its names, IDs and Siemens CSA header.

    In the CSA series header the value of ``tdefaultEVAProt`` (an evaluation protocol
    path, which conversion does not read) starts with the planted ID and name, as a
    protocol saved under a patient's name would.
    """
    target.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        ds = dcmread(path)
        ds.PatientName = PLANTED_NAME
        ds.PatientID = PLANTED_ID
        csa = ds.get((0x0029, 0x1020))
        if csa is not None:
            blob = bytes(csa.value)
            at = blob.index(_CSA_FIELD) + len(_CSA_FIELD)
            csa.value = blob[:at] + PLANTED_CSA + blob[at + len(PLANTED_CSA) :]
        ds.save_as(target / path.name)


def _identity(folder: Path) -> set[bytes]:
    found: set[bytes] = {PLANTED_ID.encode(), b"Zyxwert"}
    for path in sorted(folder.iterdir()):
        ds = dcmread(path, stop_before_pixels=True)
        for keyword in IDENTITY:
            value = str(ds.get(keyword, "") or "").strip()
            if len(value) >= 4:
                found.add(value.encode("latin-1", "replace"))
    return found


def _private_bytes(folder: Path) -> list[tuple[str, bytes]]:
    kept = []
    for path in sorted(folder.rglob("*.dcm")):
        ds = dcmread(path, stop_before_pixels=True)
        for elem in ds.iterall():
            if elem.tag.is_private and isinstance(elem.value, bytes | str):
                value = elem.value if isinstance(elem.value, bytes) else elem.value.encode()
                kept.append((f"{path.name} {elem.tag}", value))
    return kept


def _assert_same_conversion(before: Path, after: Path) -> None:
    """Same outputs from both folders, apart from the fields changed by design."""
    found = differences(converted(before), converted(after))
    assert [k for k in found if k[0] not in BY_DESIGN] == [], found


@pytest.mark.slow
class TestEveryDcmQaSeries:
    @pytest.mark.parametrize("unit", UNITS)
    def test_converts_the_same(self, original_conversion, deidentified_conversion, unit):
        """Same outputs, voxels, affine, scaling, bval/bvec and sidecar after
        de-identification, except the fields changed by design and those listed."""
        before, _reads = original_conversion(unit)
        found = differences(before, deidentified_conversion(unit))
        listed = {d[1:]: r for d, r in REMAINING.items() if d[0] == unit}
        unexpected = {k: v for k, v in found.items() if k[0] not in BY_DESIGN and k not in listed}
        assert unexpected == {}, "de-identification changed the conversion"
        assert sorted(set(listed) - set(found)) == [], "listed differences gone: remove them"

    def test_by_design_fields_removed_by_the_profile(self):
        """Each by-design field comes from an attribute the policy removes or replaces."""
        profile = profile_for(POLICY.options)
        for field, (tag, _why) in BY_DESIGN.items():
            action = profile.action(int(tag[1:5] + tag[6:10], 16))
            assert action is not None and action[0] in "XZD", (field, tag, action)


@pytest.mark.slow
class TestConversionAfterDeidentification:
    @pytest.mark.parametrize("series", SERIES[:2])
    def test_planted_identity_cleaned_converts_the_same(self, dcm_qa_sets, tmp_path, series):
        """Identity planted in the CSA header is overwritten without changing the output."""
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / series, planted)
        summary = anonymize_paths([planted], tmp_path / "out", POLICY, jobs=1)
        assert summary.count("written") == len(list(planted.iterdir()))
        _assert_same_conversion(planted, tmp_path / "out")

    @pytest.mark.parametrize("series", SERIES)
    def test_kept_private_values_hold_no_identity(self, dcm_qa_sets, tmp_path, series):
        """Private values kept as safe hold none of the input's identifying values."""
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / series, planted)
        needles = _identity(planted)
        anonymize_paths([planted], tmp_path / "out", POLICY, jobs=1)
        kept = _private_bytes(tmp_path / "out")
        assert kept, "Retain Safe Private kept no private element"
        leaks = [(where, n) for where, value in kept for n in needles if n in value]
        assert leaks == []

    def test_planted_csa_value_is_cleaned_not_dropped(self, dcm_qa_sets, tmp_path):
        """The CSA header holding the planted ID is kept, the ID overwritten in place."""
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / SERIES[0], planted)
        before = dcmread(next(planted.iterdir()))[0x00291020].value
        assert PLANTED_CSA in before
        anonymize_paths([planted], tmp_path / "out", POLICY, jobs=1)
        after = dcmread(next((tmp_path / "out").rglob("*.dcm")))[0x00291020].value
        assert len(after) == len(before) and PLANTED_CSA not in after
        assert b"X" * len(PLANTED_ID) in after

    def test_basic_profile_loses_the_mosaic(self, dcm_qa_sets, tmp_path):
        """Control: without Retain Safe Private the mosaic does not convert the same."""
        source = dcm_qa_sets / SERIES[0]
        copy = tmp_path / "in"
        shutil.copytree(source, copy)
        anonymize_paths([copy], tmp_path / "out", Policy(key=KEY), jobs=1)
        before = convert([copy])
        after = convert([tmp_path / "out"])
        assert [v.array.shape for v in after] != [v.array.shape for v in before]


def _plant_more(folder: Path) -> None:
    """Add identity where research exports often leak it: institution, station, text."""
    for path in sorted(folder.iterdir()):
        ds = dcmread(path)
        ds.InstitutionName = "Planted General Hospital"
        ds.StationName = "PLANTSTATION9"
        ds.ReferringPhysicianName = "Refdocplant^Plantedfirst"
        ds.StudyDescription = "MR head for Zyxwert"
        ds.save_as(path)


def _sidecar_leaks(out: Path, needles: set[bytes]) -> list[tuple[str, str]]:
    leaks = []
    for path in sorted(out.iterdir()):
        leaks += [(path.name, "name") for n in needles if n in path.name.encode()]
        if path.suffix == ".json":
            for key, value in json.loads(path.read_text()).items():
                text = json.dumps(value).encode()
                leaks += [(path.name, key) for n in needles if n in text]
    return leaks


@pytest.mark.slow
class TestSidecarConsistency:
    """Conversion outputs carry no more identity than de-identified files (issue 6)."""

    def test_converted_after_deidentification(self, dcm_qa_sets, tmp_path):
        """NIfTI names and JSON sidecars of a de-identified series hold no planted value."""
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / SERIES[0], planted)
        _plant_more(planted)
        needles = _identity(planted) | {b"Planted", b"PLANTSTATION9", b"Refdocplant"}
        anonymize_paths([planted], tmp_path / "deid", POLICY, jobs=1)
        report = convert_files([tmp_path / "deid"], tmp_path / "nii")
        assert report.outputs and not report.errors
        assert _sidecar_leaks(tmp_path / "nii", needles) == []

    def test_convert_with_deidentify_option(self, dcm_qa_sets, tmp_path):
        """Conversion that de-identifies its headers itself leaks as little as the files.

        ``--anonymize-sidecar`` (on by default) drops names, IDs and birth dates as
        dcm2niix's ``-ba y`` does, and keeps institution and station as its references
        do; the Basic Profile for conversion outputs is the ``deidentify`` option.
        """
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / SERIES[0], planted)
        _plant_more(planted)
        needles = _identity(planted) | {b"Planted", b"PLANTSTATION9", b"Refdocplant"}
        options = ConvertOptions(deidentify=functools.partial(deidentify, policy=POLICY))
        report = convert_files([planted], tmp_path / "nii", options)
        assert report.outputs and not report.errors
        assert _sidecar_leaks(tmp_path / "nii", needles) == []
        # the same images as converting the de-identified files
        anonymize_paths([planted], tmp_path / "deid", POLICY, jobs=1)
        assert differences(converted(tmp_path / "deid"), converted(planted, options)) == {}

    def test_anonymize_sidecar_alone_keeps_no_names_or_ids(self, dcm_qa_sets, tmp_path):
        """Control: the default sidecar anonymisation drops names, IDs and birth dates."""
        planted = tmp_path / "planted"
        _plant(dcm_qa_sets / SERIES[0], planted)
        report = convert_files([planted], tmp_path / "nii", ConvertOptions())
        assert report.outputs
        for path in (tmp_path / "nii").glob("*.json"):
            text = path.read_bytes()
            assert PLANTED_NAME.encode() not in text and PLANTED_ID.encode() not in text
