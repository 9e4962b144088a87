"""NRRD files in the forms other programs write: other world spaces, a 4D space with
time, detached data in sub-folders or split over files, a time axis first.

The files are real volumes written with pynrrd or as header text following teem's
format definition; SimpleITK reads each one too (where ITK supports the form), so the
expected voxels and grid are ITK's, not our reader's.
"""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import pytest

from formats.oracles import assert_read_like_itk
from medbridge import formats
from medbridge.errors import FormatError
from medbridge.volume import Volume
from medbridge.volume._geometry import ras_to_lps, world_to_ras

#: Teem's space names and the axis codes of medbridge's geometry helpers.
SPACES = {
    "left-posterior-superior": "LPS",
    "right-anterior-superior": "RAS",
    "left-anterior-superior": "LAS",
}


def _vector(values: np.ndarray) -> str:
    return "(" + ",".join(repr(float(v)) for v in values) + ")"


def _detached_header(volume: Volume, data_file: str) -> str:
    """A ``.nhdr`` for a 3D int16 volume (LPS, raw little-endian), ``data file`` last."""
    lps = ras_to_lps(volume.affine_ras)
    sizes = " ".join(str(n) for n in volume.array.shape)
    return (
        "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {sizes}\nspace directions: "
        + " ".join(_vector(lps[:3, axis]) for axis in range(3))
        + f"\nspace origin: {_vector(lps[:3, 3])}\nendian: little\nencoding: raw\n"
        f"data file: {data_file}\n"
    )


def _slice_files(volume: Volume, folder: Path, template: str) -> list[str]:
    """One raw file per slice ``k``, named by ``template % k`` under ``folder/parts``."""
    array = np.asarray(volume.array)
    (folder / "parts").mkdir()
    names = []
    for k in range(array.shape[2]):
        name = f"parts/{template % k}"
        (folder / name).write_bytes(array[:, :, k].astype("<i2").tobytes(order="F"))
        names.append(name)
    return names


class TestWorldSpaces:
    """Files whose world is not LPS read as the same place in space."""

    @pytest.mark.parametrize("space", list(SPACES))
    def test_space(self, space: str, sources: dict[str, Volume], tmp_path: Path) -> None:
        """RAS and LAS directions and origin give the source's RAS+ affine."""
        source = sources["axial_oblique_3d"]
        world = np.diag([*(np.diag(world_to_ras(np.eye(4), SPACES[space]))[:3]), 1.0])
        affine = world @ source.affine_ras  # the flip is its own inverse
        path = tmp_path / "world.nrrd"
        header = {
            "space": space,
            "space directions": affine[:3, :3].T,
            "space origin": affine[:3, 3],
        }
        nrrd.write(str(path), np.asarray(source.array), header)
        assert_read_like_itk(path, source)

    def test_space_with_time(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``left-posterior-superior-time``: the fourth axis, moving in time only, is frames."""
        source = sources["coronal_oblique_4d"]
        lps = ras_to_lps(source.affine_ras)
        directions = np.zeros((4, 4))
        directions[:3, :3] = lps[:3, :3].T
        directions[3, 3] = 2.0
        path = tmp_path / "time.nrrd"
        header = {
            "space": "left-posterior-superior-time",
            "space directions": directions,
            "space origin": np.append(lps[:3, 3], 0.0),
            "kinds": ["domain"] * 4,
        }
        nrrd.write(str(path), np.asarray(source.array), header)
        assert_read_like_itk(path, source)

    def test_time_axis_first(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """An axis of kind ``time`` before the spatial ones is frames, not components."""
        source = sources["coronal_oblique_4d"]
        lps = ras_to_lps(source.affine_ras)
        path = tmp_path / "tfirst.nrrd"
        header = {
            "space": "left-posterior-superior",
            "space directions": np.vstack([np.full(3, np.nan), lps[:3, :3].T]),
            "space origin": lps[:3, 3],
            "kinds": ["time", "domain", "domain", "domain"],
        }
        nrrd.write(str(path), np.moveaxis(np.asarray(source.array), 3, 0), header)
        result = formats.read(path)
        assert np.array_equal(result.array, source.array)
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=1e-5)

    def test_scanner_space_refused(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``scanner-xyz`` has no patient orientation: refused, naming the spaces read."""
        source = sources["axial_oblique_3d"]
        path = tmp_path / "scanner.nrrd"
        header = {"space": "scanner-xyz", "space directions": np.eye(3), "space origin": [0, 0, 0]}
        nrrd.write(str(path), np.asarray(source.array), header)
        with pytest.raises(FormatError, match=r"'scanner-xyz' is not supported.*posterior") as exc:
            formats.read(path)
        assert str(path) in str(exc.value)


class TestDetachedData:
    """``.nhdr`` headers whose ``data file`` is elsewhere or split over files."""

    def test_data_in_subfolder(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A relative data file path is relative to the header's folder."""
        source = sources["axial_oblique_3d"]
        (tmp_path / "data").mkdir()
        raw = np.asarray(source.array).astype("<i2").tobytes(order="F")
        (tmp_path / "data" / "vol.raw").write_bytes(raw)
        path = tmp_path / "sub.nhdr"
        path.write_text(_detached_header(source, "data/vol.raw"))
        assert_read_like_itk(path, source)

    def test_list_of_slices(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``data file: LIST``: one slice per line after it."""
        source = sources["axial_oblique_3d"]
        names = _slice_files(source, tmp_path, "s%03d.raw")
        path = tmp_path / "list.nhdr"
        path.write_text(_detached_header(source, "LIST") + "".join(f"{n}\n" for n in names))
        assert_read_like_itk(path, source)

    def test_printf_pattern(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``data file: parts/s%03d.raw 0 34 1``: one slice per index."""
        source = sources["axial_oblique_3d"]
        _slice_files(source, tmp_path, "s%03d.raw")
        path = tmp_path / "pattern.nhdr"
        path.write_text(_detached_header(source, "parts/s%03d.raw 0 34 1 2"))
        assert_read_like_itk(path, source)

    def test_list_too_short(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A LIST that names fewer files than slices is refused with both counts."""
        source = sources["axial_oblique_3d"]
        names = _slice_files(source, tmp_path, "s%03d.raw")[:-2]
        path = tmp_path / "short.nhdr"
        path.write_text(_detached_header(source, "LIST") + "".join(f"{n}\n" for n in names))
        with pytest.raises(FormatError, match=r"gives 33 files.*need 35") as exc:
            formats.read(path)
        assert str(path) in str(exc.value)

    def test_missing_slice_file(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A pattern reaching past the files on disk names the missing one."""
        source = sources["axial_oblique_3d"]
        _slice_files(source, tmp_path, "s%03d.raw")
        path = tmp_path / "gap.nhdr"
        path.write_text(_detached_header(source, "parts/s%03d.raw 1 35 1"))
        with pytest.raises(FormatError, match=r"data file .*s035\.raw: No such file"):
            formats.read(path)

    def test_slice_file_cut_short(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """One slice file shorter than a slice: the error names that file."""
        source = sources["axial_oblique_3d"]
        names = _slice_files(source, tmp_path, "s%03d.raw")
        broken = tmp_path / names[3]
        broken.write_bytes(broken.read_bytes()[:-2])
        path = tmp_path / "cut.nhdr"
        path.write_text(_detached_header(source, "LIST") + "".join(f"{n}\n" for n in names))
        with pytest.raises(FormatError, match=r"data file .*s003\.raw: Size of the data"):
            formats.read(path)
