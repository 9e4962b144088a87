"""MetaImage headers in the forms ITK reads but seldom writes: data split over files,
file names with spaces, ``ElementSize`` without ``ElementSpacing``.

Each file is made from a real volume written by medbridge as ``.mhd`` + ``.raw``, with
its ``ElementDataFile`` (or spacing) line rewritten the way MetaIO documents
(``metaImage.cxx``); SimpleITK reads the same file, so the expected voxels and grid
come from ITK, not from our reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats.oracles import assert_read_like_itk
from medbridge import formats
from medbridge.errors import FormatError
from medbridge.volume import Volume


def _mhd(volume: Volume, folder: Path) -> str:
    """The header text of ``volume`` as ``.mhd``, its ``ElementDataFile`` line removed."""
    formats.write(volume, folder / "base.mhd")
    text = (folder / "base.mhd").read_text(encoding="ascii")
    (folder / "base.mhd").unlink()
    (folder / "base.raw").unlink()
    return text[: text.index("ElementDataFile")]


def _slices(volume: Volume, folder: Path, name: str) -> list[str]:
    """One raw file per index of the volume's last axis (k, or frames for 4D)."""
    array = np.asarray(volume.array)
    (folder / "parts").mkdir(exist_ok=True)
    names = []
    for index in range(array.shape[-1]):
        relative = f"parts/{name % index}"
        (folder / relative).write_bytes(array[..., index].astype("<i2").tobytes(order="F"))
        names.append(relative)
    return names


def _lines(names: list[str]) -> str:
    """File names one per line, each ended (MetaIO drops a last line without newline)."""
    return "".join(f"{name}\n" for name in names)


class TestDataFiles:
    """``ElementDataFile`` forms other than LOCAL and one plain name."""

    def test_list_of_slices(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``LIST``: one 2D slice per listed file, names relative to the header."""
        source = sources["axial_oblique_3d"]
        names = _slices(source, tmp_path, "s%03d.raw")
        path = tmp_path / "list.mhd"
        path.write_text(_mhd(source, tmp_path) + "ElementDataFile = LIST\n" + _lines(names))
        assert_read_like_itk(path, source)

    def test_list_of_volumes(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """``LIST 3D`` in a 4D image: one 3D volume (a frame) per listed file."""
        source = sources["coronal_oblique_4d"]
        names = _slices(source, tmp_path, "t%d.raw")
        path = tmp_path / "list4d.mhd"
        text = _mhd(source, tmp_path) + "ElementDataFile = LIST 3D\n" + _lines(names)
        path.write_text(text)
        assert_read_like_itk(path, source)

    @pytest.mark.parametrize(
        ("pattern", "first"),
        [("parts/s%03d.raw", 0), ("parts/s%03d.raw 0 34 1", 0), ("parts/s%d.raw 5", 5)],
        ids=["default-range", "explicit-range", "first-only"],
    )
    def test_printf_pattern(
        self, pattern: str, first: int, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """A printf pattern with optional first, last and step indices."""
        source = sources["axial_oblique_3d"]
        array = np.asarray(source.array)
        (tmp_path / "parts").mkdir()
        template = pattern.split()[0]
        start = first if " " in pattern else 1  # MetaIO counts from 1 by default
        for k in range(array.shape[2]):
            data = array[:, :, k].astype("<i2").tobytes(order="F")
            (tmp_path / (template % (start + k))).write_bytes(data)
        path = tmp_path / "pattern.mhd"
        path.write_text(_mhd(source, tmp_path) + f"ElementDataFile = {pattern}\n")
        assert_read_like_itk(path, source)

    def test_name_with_spaces(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A single data file whose name has spaces (the rest of the line is the name)."""
        source = sources["axial_oblique_3d"]
        formats.write(source, tmp_path / "my scan.mhd")
        text = (tmp_path / "my scan.mhd").read_text()
        assert "ElementDataFile = my scan.raw" in text
        assert_read_like_itk(tmp_path / "my scan.mhd", source)

    def test_list_names_too_few_files(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A LIST shorter than the last axis is refused with both counts."""
        source = sources["axial_oblique_3d"]
        names = _slices(source, tmp_path, "s%03d.raw")[:-1]
        path = tmp_path / "short.mhd"
        path.write_text(_mhd(source, tmp_path) + "ElementDataFile = LIST\n" + _lines(names))
        with pytest.raises(FormatError, match=r"names 34 data files.*needs 35") as exc:
            formats.read(path)
        assert str(path) in str(exc.value)

    def test_listed_file_cut_short(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """One listed slice file shorter than a slice: the error names that file."""
        source = sources["axial_oblique_3d"]
        names = _slices(source, tmp_path, "s%03d.raw")
        broken = tmp_path / names[7]
        broken.write_bytes(broken.read_bytes()[:-2])
        path = tmp_path / "cut.mhd"
        path.write_text(_mhd(source, tmp_path) + "ElementDataFile = LIST\n" + _lines(names))
        with pytest.raises(FormatError, match=r"data file .*s007\.raw holds 8190 bytes.*8192"):
            formats.read(path)

    def test_pattern_with_missing_file(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A pattern whose range reaches a file that does not exist."""
        source = sources["axial_oblique_3d"]
        _slices(source, tmp_path, "s%03d.raw")
        path = tmp_path / "gap.mhd"
        path.write_text(_mhd(source, tmp_path) + "ElementDataFile = parts/s%03d.raw 1 35 1\n")
        with pytest.raises(FormatError, match=r"data file .*s035\.raw: No such file"):
            formats.read(path)


def test_element_size_stands_for_spacing(sources: dict[str, Volume], tmp_path: Path) -> None:
    """Without ``ElementSpacing``, ``ElementSize`` gives the voxel size, as in MetaIO."""
    source = sources["axial_oblique_3d"]
    path = tmp_path / "size.mhd"
    formats.write(source, path)
    text = path.read_text()
    assert "ElementSpacing = " in text
    path.write_text(text.replace("ElementSpacing = ", "ElementSize = "))
    assert_read_like_itk(path, source)
