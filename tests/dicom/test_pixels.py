"""Pixel decoding in every transfer syntax, compared with uncompressed twins.

Twins come from three places: pairs pydicom ships (the same image in several
syntaxes), DCMTK's own decompressors (an independent decoder writing native pixels),
and dcm2niix's dcm_qa_ts set (one MR slice in nine syntaxes).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from conftest import require_tool
from medbridge.dicom import InstanceRecord, load_pixels, scan
from medbridge.errors import InvalidDicomError, UnsupportedTransferSyntax


@dataclass(frozen=True)
class TwinPair:
    """A compressed (or re-encoded) file and its uncompressed twin, both from pydicom."""

    encoded: str
    native: str

    @property
    def id(self) -> str:
        return self.encoded.removesuffix(".dcm")


PYDICOM_TWINS = [
    TwinPair("MR_small_RLE.dcm", "MR_small.dcm"),
    TwinPair("MR_small_bigendian.dcm", "MR_small.dcm"),
    TwinPair("MR_small_expb.dcm", "MR_small.dcm"),
    TwinPair("MR_small_implicit.dcm", "MR_small.dcm"),
    TwinPair("MR_small_jp2klossless.dcm", "MR_small.dcm"),
    TwinPair("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
    TwinPair("MR_small_padded.dcm", "MR_small.dcm"),
    TwinPair("rtdose_expb.dcm", "rtdose.dcm"),
    TwinPair("rtdose_rle.dcm", "rtdose.dcm"),
    TwinPair("rtdose_expb_1frame.dcm", "rtdose_1frame.dcm"),
    TwinPair("rtdose_rle_1frame.dcm", "rtdose_1frame.dcm"),
    TwinPair("liver_expb_1frame.dcm", "liver_1frame.dcm"),
    TwinPair("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm"),
]

# DCMTK decompressor for each transfer syntax family, writing Explicit VR Little Endian.
DCMTK_DECODERS = {
    "1.2.840.10008.1.2.5": ["dcmdrle"],
    "1.2.840.10008.1.2.4.50": ["dcmdjpeg"],
    "1.2.840.10008.1.2.4.51": ["dcmdjpeg"],
    "1.2.840.10008.1.2.4.57": ["dcmdjpeg"],
    "1.2.840.10008.1.2.4.70": ["dcmdjpeg"],
    "1.2.840.10008.1.2.4.80": ["dcmdjpls"],
    "1.2.840.10008.1.2.4.81": ["dcmdjpls"],
    "1.2.840.10008.1.2.1.99": ["dcmconv", "+te"],
    "1.2.840.10008.1.2.2": ["dcmconv", "+te"],
}
LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}

# pydicom samples that no installed decoder reads, for the reason pydicom's own tests give.
UNDECODABLE = {
    "JPEG-lossy.dcm": "misplaced marker segment",  # needs GDCM in pydicom's tests too
    "JPEG2000-embedded-sequence-delimiter.dcm": "failed to read the header",
}


# Samples DCMTK cannot serve as a twin for, and why; their pixels are checked elsewhere.
NO_DCMTK_TWIN = {
    "SC_rgb_jpeg.dcm": "mixes implicit-VR elements into explicit VR; dcmdjpeg refuses it",
    # 32-bit samples in an OW element: dcmconv swaps 16-bit words, pydicom swaps 32-bit
    # samples; pydicom's LE twin rtdose.dcm decides (TestPydicomTwins).
    "rtdose_expb.dcm": "OW with 32-bit samples",
    "rtdose_expb_1frame.dcm": "OW with 32-bit samples",
}


def _compressed_samples(root: Path) -> list[InstanceRecord]:
    return [
        r
        for r in scan([root])
        if isinstance(r, InstanceRecord)
        and r.has_pixels
        and r.transfer_syntax_uid in DCMTK_DECODERS
        and Path(r.path).name not in UNDECODABLE
        and Path(r.path).name not in NO_DCMTK_TWIN
        and "dicomdirtests" not in r.path
    ]


class TestPydicomTwins:
    """Each re-encoded sample decodes to exactly its uncompressed twin."""

    @pytest.mark.parametrize("pair", PYDICOM_TWINS, ids=lambda p: p.id)
    def test_same_pixels(self, pydicom_data: Path, pair: TwinPair) -> None:
        """Decoded arrays are equal in shape and value (byte order aside)."""
        encoded = load_pixels(pydicom_data / pair.encoded)
        native = load_pixels(pydicom_data / pair.native)
        assert encoded.shape == native.shape
        np.testing.assert_array_equal(encoded, native)


class TestDcmtkTwins:
    """DCMTK decompresses every compressed sample; medbridge must agree with it."""

    def test_every_family_is_covered(self, pydicom_data: Path) -> None:
        """The samples span every syntax family DCMTK can decode."""
        seen = {r.transfer_syntax_uid for r in _compressed_samples(pydicom_data)}
        assert seen == set(DCMTK_DECODERS) - {"1.2.840.10008.1.2.4.57"}

    def test_same_pixels_as_dcmtk(self, pydicom_data: Path, tmp_path: Path) -> None:
        """Lossless syntaxes match exactly; lossy JPEG within the IDCT rounding of two libraries."""
        for record in _compressed_samples(pydicom_data):
            tool = DCMTK_DECODERS[record.transfer_syntax_uid]
            require_tool(tool[0])
            twin = tmp_path / f"{Path(record.path).name}.native.dcm"
            subprocess.run([*tool, record.path, str(twin)], check=True, capture_output=True)
            expected = pydicom.dcmread(twin).pixel_array
            got = load_pixels(record)
            assert got.shape == expected.shape, record.path
            if record.transfer_syntax_uid in LOSSY:
                diff = np.abs(got.astype(np.int32) - expected.astype(np.int32))
                assert diff.mean() < 0.2 and diff.max() <= 4, (record.path, diff.max())
            else:
                np.testing.assert_array_equal(got, expected, err_msg=record.path)


class TestDcmQaTransferSyntaxes:
    """dcm_qa_ts: one slice in nine syntaxes decodes nine times to the same pixels."""

    def test_all_syntaxes_agree(self, dcm_qa: Path) -> None:
        """Every file of the set decodes to the pixels of the uncompressed one."""
        records = [r for r in scan([dcm_qa / "dcm_qa_ts" / "In"]) if isinstance(r, InstanceRecord)]
        assert len(records) == 9
        syntaxes = {r.transfer_syntax_uid for r in records}
        assert len(syntaxes) >= 7
        reference = next(r for r in records if r.transfer_syntax_uid == "1.2.840.10008.1.2.1")
        expected = load_pixels(reference)
        for record in records:
            np.testing.assert_array_equal(
                load_pixels(record), expected, err_msg=UID(record.transfer_syntax_uid).name
            )


class TestDecodingErrors:
    """What cannot be decoded is refused with the reason."""

    @pytest.mark.parametrize("name", sorted(UNDECODABLE))
    def test_corrupt_codestreams(self, pydicom_data: Path, name: str) -> None:
        """pydicom's undecodable samples raise InvalidDicomError naming the file."""
        with pytest.raises(InvalidDicomError, match=UNDECODABLE[name]) as info:
            load_pixels(pydicom_data / name)
        assert info.value.path == str(pydicom_data / name)

    def test_syntax_without_decoder(self, pydicom_data: Path, tmp_path: Path) -> None:
        """A video syntax has no image decoder: UnsupportedTransferSyntax says which."""
        ds = pydicom.dcmread(pydicom_data / "JPEG2000.dcm")
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile
        ds.save_as(tmp_path / "video.dcm")
        with pytest.raises(UnsupportedTransferSyntax, match="MPEG2"):
            load_pixels(tmp_path / "video.dcm")

    def test_no_pixel_data(self, pydicom_data: Path) -> None:
        """A structured report has no pixels to decode."""
        with pytest.raises(InvalidDicomError, match="no pixel data"):
            load_pixels(pydicom_data / "test-SR.dcm")

    def test_single_frame_of_multiframe(self, pydicom_data: Path) -> None:
        """frame= decodes one frame, equal to that frame of the whole."""
        whole = load_pixels(pydicom_data / "rtdose_rle.dcm")
        np.testing.assert_array_equal(
            load_pixels(pydicom_data / "rtdose_rle.dcm", frame=3), whole[3]
        )
