"""Broken files and impossible requests give a FormatError naming the file and the reason.

Each format's real file (written from a dcm_qa volume) is damaged the ways files get
damaged: a header cut short, data shorter or longer than the header says, a data type
the format or medbridge does not know. The error must be ours (not a numpy or zlib
exception), carry the path, and say what is wrong.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import nrrd
import numpy as np
import pytest

from formats.oracles import sitk_grid
from medbridge import formats
from medbridge.errors import FormatError, MedbridgeError
from medbridge.formats.analyze import AnalyzeOrientationWarning
from medbridge.volume import Volume

#: (extension, the file holding the voxels, relative to the header's stem).
LAYOUTS = [
    (".nii", ".nii"),
    (".nii.gz", ".nii.gz"),
    (".nrrd", ".nrrd"),
    (".nhdr", ".raw.gz"),
    (".mha", ".mha"),
    (".mhd", ".raw"),
    (".hdr", ".img"),
    (".mgh", ".mgh"),
    (".mgz", ".mgz"),
]
IDS = [ext for ext, _ in LAYOUTS]


@pytest.fixture
def written(sources: dict[str, Volume], tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The oblique axial case written in the requested format; returns the header path."""
    path = tmp_path / f"vol{request.param}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnalyzeOrientationWarning)
        formats.write(sources["axial_oblique_3d"], path)
    return path


def _read(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnalyzeOrientationWarning)
        formats.read(path)


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _assert_names_file(exc: pytest.ExceptionInfo[BaseException], path: Path) -> None:
    assert isinstance(exc.value, FormatError)
    assert exc.value.path is not None
    assert Path(exc.value.path).parent == path.parent
    assert str(path.parent) in str(exc.value)


class TestTruncatedHeader:
    """A header cut short is reported, never read as garbage."""

    @pytest.mark.parametrize("written", IDS, indirect=True)
    def test_cut_at_40_bytes(self, written: Path) -> None:
        """Only the first 40 bytes of the header file remain."""
        if written.name.endswith(".gz") or written.suffix == ".mgz":
            raw = gzip.decompress(written.read_bytes())[:40]
            written.write_bytes(gzip.compress(raw))
        else:
            _cut(written, 40)
        with pytest.raises(FormatError) as exc:
            _read(written)
        _assert_names_file(exc, written)

    @pytest.mark.parametrize("written", IDS, indirect=True)
    def test_empty_file(self, written: Path) -> None:
        """An empty header file: its first bytes are not the format it is named as."""
        written.write_bytes(b"")
        with pytest.raises(FormatError, match=r"first bytes|not a readable|header ends") as exc:
            _read(written)
        _assert_names_file(exc, written)


class TestWrongDataSize:
    """Data shorter or longer than the header says is refused."""

    @pytest.mark.parametrize(("written", "data_ext"), LAYOUTS, indirect=["written"], ids=IDS)
    def test_data_cut_short(self, written: Path, data_ext: str) -> None:
        """The last 1000 bytes of the voxel data are missing."""
        data = written.with_name("vol" + data_ext)
        _cut(data, data.stat().st_size - 1000)
        with pytest.raises(FormatError) as exc:
            _read(written)
        _assert_names_file(exc, written)

    @pytest.mark.parametrize("written", [".mhd"], indirect=True)
    def test_metaimage_data_too_long(self, written: Path) -> None:
        """Extra bytes after the voxels: the sizes are stated in the message."""
        data = written.with_suffix(".raw")
        data.write_bytes(data.read_bytes() + b"\0" * 10)
        with pytest.raises(FormatError, match=r"data file .*vol\.raw holds \d+ bytes.*needs \d+"):
            _read(written)

    @pytest.mark.parametrize("written", [".nhdr"], indirect=True)
    def test_nrrd_missing_data_file(self, written: Path) -> None:
        """A detached header whose data file is gone."""
        written.with_name("vol.raw.gz").unlink()
        with pytest.raises(FormatError) as exc:
            _read(written)
        _assert_names_file(exc, written)


class TestMalformedMetaImage:
    """MetaImage header values that cannot describe an image."""

    @pytest.mark.parametrize(
        ("field", "replacement", "pattern"),
        [
            (b"DimSize = 64 64 35", b"DimSize = 64 64", "'DimSize' has 2 values"),
            (b"DimSize = 64 64 35", b"DimSize = 64 x 35", "'DimSize' is not numeric"),
            (b"DimSize = 64 64 35", b"DimSize = 64 0 35", "'DimSize' must hold 3 positive"),
            (b"NDims = 3", b"NDims = 7", "NDims 7 is not supported"),
            (b"BinaryData = True", b"BinaryData = False", "ASCII data"),
            (
                b"ElementType = MET_SHORT",
                b"ElementNumberOfChannels = nan\nElementType = MET_SHORT",
                "'ElementNumberOfChannels' must hold 1 positive",
            ),
        ],
        ids=["dims-count", "dims-text", "dims-zero", "ndims", "ascii", "channels-nan"],
    )
    @pytest.mark.parametrize("written", [".mha"], indirect=True)
    def test_bad_field(self, written: Path, field: bytes, replacement: bytes, pattern: str) -> None:
        """Each bad value is named in the error."""
        raw = written.read_bytes()
        assert field in raw
        written.write_bytes(raw.replace(field, replacement, 1))
        with pytest.raises(FormatError, match=pattern) as exc:
            _read(written)
        _assert_names_file(exc, written)


class TestUnsupportedTypes:
    """Data types a format or medbridge does not know give a clear error."""

    @pytest.mark.parametrize("written", [".mha"], indirect=True)
    def test_metaimage_unknown_element_type(self, written: Path) -> None:
        """ElementType MET_STRING is not a voxel type."""
        raw = written.read_bytes().replace(b"ElementType = MET_SHORT", b"ElementType = MET_STRING")
        written.write_bytes(raw)
        with pytest.raises(FormatError, match="ElementType 'MET_STRING' is not supported"):
            _read(written)

    @pytest.mark.parametrize("written", [".nrrd"], indirect=True)
    def test_nrrd_unknown_type(self, written: Path) -> None:
        """A NRRD ``type`` field naming no known type."""
        raw = written.read_bytes().replace(b"type: int16", b"type: quaternion", 1)
        written.write_bytes(raw)
        with pytest.raises(FormatError, match="not a readable NRRD") as exc:
            _read(written)
        _assert_names_file(exc, written)

    @pytest.mark.parametrize("written", [".nii"], indirect=True)
    def test_nifti_unknown_datatype_code(self, written: Path) -> None:
        """NIfTI datatype code 1 (DT_BINARY), which no reader implements."""
        raw = bytearray(written.read_bytes())
        raw[70:72] = (1).to_bytes(2, "little")
        written.write_bytes(bytes(raw))
        with pytest.raises(FormatError) as exc:
            _read(written)
        _assert_names_file(exc, written)

    @pytest.mark.parametrize(
        ("ext", "dtype", "pattern"),
        [
            (".mgz", np.float64, "MGH cannot store float64"),
            (".mgh", np.int64, "MGH cannot store int64"),
            (".hdr", np.int64, "Analyze 7.5 cannot store int64"),
            (".nrrd", np.complex64, "NRRD cannot store complex64"),
            (".mha", np.complex64, "MetaImage cannot store complex64"),
            (".nii.gz", np.float16, "NIfTI cannot store float16"),
        ],
    )
    def test_write_refuses_type(
        self, ext: str, dtype: type, pattern: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """Writing voxels the format cannot hold exactly fails before any file appears."""
        source = sources["axial_oblique_3d"]
        volume = Volume(source.array.astype(dtype), source.affine_ras)
        with pytest.raises(FormatError, match=pattern):
            formats.write(volume, tmp_path / f"out{ext}")
        assert list(tmp_path.iterdir()) == []


class TestNames:
    """Unknown names and formats are refused with the list of known ones."""

    def test_unknown_extension(self, tmp_path: Path) -> None:
        """``.xyz`` has no format; the message lists the known extensions."""
        path = tmp_path / "a.xyz"
        path.write_bytes(b"data")
        with pytest.raises(FormatError, match=r"no known format.*\.nrrd"):
            formats.read(path)

    def test_unknown_format_name(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``format="tiff"`` is not a format medbridge knows."""
        with pytest.raises(FormatError, match="unknown format 'tiff'"):
            formats.write(sources["axial_oblique_3d"], tmp_path / "a.nii", format="tiff")

    @pytest.mark.parametrize("fmt", ["nrrd", "metaimage"])
    def test_content_identifies_unnamed_file(
        self, fmt: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """A self-describing file under a meaningless name is read by its magic bytes."""
        path = tmp_path / "volume.dat"
        formats.write(sources["axial_oblique_3d"], path, format=fmt)
        assert formats.detect(path) == fmt
        assert np.array_equal(formats.read(path).array, sources["axial_oblique_3d"].array)

    def test_format_overrides_extension(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A NRRD written under a ``.dat`` name reads back when the format is named."""
        path = tmp_path / "volume.dat"
        formats.write(sources["axial_oblique_3d"], path, format="nrrd")
        assert path.read_bytes().startswith(b"NRRD")
        back = formats.read(path, format="nrrd")
        assert np.array_equal(back.array, sources["axial_oblique_3d"].array)

    def test_analyze_by_data_file_name(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """An Analyze pair opens by its ``.img`` name too (the header is found beside it)."""
        with pytest.warns(AnalyzeOrientationWarning):
            formats.write(sources["axial_oblique_3d"], tmp_path / "pair.hdr")
        assert formats.detect(tmp_path / "pair.img") == "analyze"
        with pytest.warns(AnalyzeOrientationWarning):
            back = formats.read(tmp_path / "pair.img")
        assert np.array_equal(back.array, sources["axial_oblique_3d"].array)

    def test_dicom_is_not_a_volume_file(self, pydicom_data: Path) -> None:
        """DICOM files are never taken for research formats, whatever their name."""
        assert formats.detect(pydicom_data / "CT_small.dcm") is None

    def test_missing_file(self, tmp_path: Path) -> None:
        """A path that does not exist."""
        with pytest.raises(MedbridgeError, match="No such file"):
            formats.read(tmp_path / "absent.nrrd")


class TestNrrdWithoutSpace:
    """NRRD files with only ``spacings`` (no world space), as simple tools write them."""

    def test_plain_2d_reads_as_one_slice(self, tmp_path: Path) -> None:
        """A 2D image becomes one slice; its grid is what ITK makes of the same file."""
        path = tmp_path / "plain.nrrd"
        values = np.arange(12, dtype=np.int16).reshape(3, 4)
        nrrd.write(str(path), values, {"spacings": [0.5, 2.0]})
        volume = formats.read(path)
        assert volume.array.shape == (3, 4, 1)
        assert np.array_equal(volume.array[:, :, 0], values)
        itk = sitk_grid(path)
        np.testing.assert_allclose(volume.spacing[:2], itk.spacing[:2])
        np.testing.assert_allclose(-volume.affine_ras[:2, 3], itk.origin[:2])

    def test_4d_without_directions_refused(self, tmp_path: Path) -> None:
        """Four axes and no 'space directions': which are spatial cannot be known."""
        path = tmp_path / "plain4d.nrrd"
        nrrd.write(str(path), np.zeros((2, 3, 4, 5), dtype=np.int16))
        with pytest.raises(FormatError, match="cannot tell which axes are spatial"):
            formats.read(path)
