"""``dump_file``: a dcmdump-like listing, checked against DCMTK's own dump."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from medbridge.dicom import dump_file
from medbridge.errors import InvalidDicomError


def _mosaic(dcm_qa: Path) -> Path:
    return sorted((dcm_qa / "dcm_qa_mosaic" / "In").rglob("*.dcm"))[0]


class TestDump:
    """Every element is listed with tag, VR, name and value."""

    def test_same_top_level_tags_as_dcmdump(self, dcm_qa: Path) -> None:
        """The tags listed at depth 0 are those DCMTK lists at depth 0, in order."""
        path = _mosaic(dcm_qa)
        out = subprocess.run(
            [require_tool("dcmdump"), "-q", "+L", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = re.finditer(r"^(\([0-9a-f]{4},[0-9a-f]{4}\))", out, re.M)
        dcmtk_tags = [m.group(1).upper() for m in found if not m.group(1).startswith("(fffe")]
        ours = [line.tag for line in dump_file(path) if line.depth == 0]
        assert ours == dcmtk_tags

    def test_private_tags_carry_their_creator(self, dcm_qa: Path) -> None:
        """Siemens CSA headers are named with their private creator, values as lengths."""
        lines = {line.tag: line for line in dump_file(_mosaic(dcm_qa)) if line.depth == 0}
        assert lines["(0029,0010)"].name == "Private Creator"
        assert lines["(0029,1010)"].name == "CSA Image Header Info [SIEMENS CSA HEADER]"
        assert re.fullmatch(r"<\d+ bytes>", lines["(0029,1010)"].value)
        assert re.fullmatch(r"<\d+ bytes>", lines["(7FE0,0010)"].value)

    def test_nested_sequences_are_indented(self, pydicom_data: Path) -> None:
        """Items and their elements sit one and two levels below their sequence."""
        lines = list(dump_file(pydicom_data / "nested_priv_SQ.dcm"))
        depths = [(line.tag, line.depth) for line in lines if line.tag.startswith("(0001")]
        assert depths[:2] == [("(0001,0001)", 0), ("(0001,0001)", 2)]
        assert any(line.name == "Item 1" and line.depth == 1 for line in lines)

    def test_not_dicom(self, tmp_path: Path) -> None:
        """A text file is refused with the file named."""
        path = tmp_path / "a.dcm"
        path.write_text("hello world\n" * 50)
        with pytest.raises(InvalidDicomError, match=str(path)):
            list(dump_file(path))
