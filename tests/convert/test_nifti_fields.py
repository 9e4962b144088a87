"""NIfTI header text and slice fields (descrip, aux_file, slice_code) against dcm2niix.

The dcm_qa references keep no images, so the pinned dcm2niix converts the sets' inputs in
the same run and every header field it fills beyond geometry is compared byte for byte
(the synthetic cases compare the same fields in ``test_generality.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from conftest import require
from convert.dcm_qa import set_flags
from convert.test_generality import HEADER_FIELDS
from medbridge.convert._nifti_fields import slice_order_code
from medbridge.convert.cli import convert_command

#: Sets with Siemens mosaics (slice_code from MosaicRefAcqTimes, multiband), classic
#: Siemens and GE EPI with both phase polarities, Philips and enhanced field maps.
SETS = ("dcm_qa_mosaic", "dcm_qa_nih", "dcm_qa_enh", "dcm_qa_philips", "dcm_qa_12bit")


@pytest.fixture(scope="module")
def dcm2niix() -> str:
    path = Path(sys.executable).with_name("dcm2niix")
    require(path.exists(), "the pinned dcm2niix (pip install 'medbridge[test]')")
    return str(path)


class TestHeaderFields:
    @pytest.mark.parametrize("name", SETS)
    def test_same_header_text_and_slice_code_as_dcm2niix(
        self, name: str, dcm_qa: Path, dcm2niix: str, tmp_path: Path
    ) -> None:
        """descrip ("TE=..;Time=..;phase=..;mb=.."), aux_file (the image comments),
        slice_code (Siemens slice order), regular, dim_info and units as dcm2niix writes."""
        flags = set_flags(dcm_qa)[name]
        (tmp_path / "ref").mkdir()
        subprocess.run(
            [dcm2niix, *flags, "-o", str(tmp_path / "ref"), str(dcm_qa / name / "In")],
            check=True,
            capture_output=True,
        )
        (tmp_path / "ours").mkdir()
        convert_command.main(
            [*flags, "-q", "-o", str(tmp_path / "ours"), str(dcm_qa / name / "In")],
            standalone_mode=False,
        )
        refs = sorted((tmp_path / "ref").glob("*.nii"))
        assert refs
        for ref in refs:
            theirs, ours = nib.load(ref).header, nib.load(tmp_path / "ours" / ref.name).header
            for field in HEADER_FIELDS:
                assert np.array_equal(np.asarray(ours[field]), np.asarray(theirs[field])), (
                    ref.name,
                    field,
                    ours[field],
                    theirs[field],
                )


class TestSliceOrderCode:
    @pytest.mark.parametrize(
        ("times", "code"),
        [
            ([0, 1, 2, 3], 1),  # sequential, increasing
            ([3, 2, 1, 0], 2),  # sequential, decreasing
            ([0, 3, 1, 4, 2], 3),  # interleaved from the first slice
            ([2, 4, 1, 3, 0], 4),  # interleaved from the last slice
            ([2, 0, 3, 1], 5),  # interleaved from the second slice
            ([1, 3, 0, 2], 6),  # interleaved from the second-to-last slice
            ([-5, -4, -3], 1),  # negative CSA times are shifted first
            ([0, 1, 0, 1], 0),  # multiband
            ([0, 0, 0], 0),  # simultaneous (3D)
            ([0, 1], 0),  # too few slices to tell
        ],
    )
    def test_nifti_slice_code_from_slice_times(self, times: list[float], code: int) -> None:
        """The earliest slice's place decides the NIfTI code, as dcm2niix's checkSliceTimes."""
        assert slice_order_code(times) == code
