"""Reading instances: the fast scan converts exactly as pydicom-parsed headers do.

Every case is converted twice in the same test: as users run it (headers from the fast
scan, full headers parsed only where something reads them) and with the fast path
switched off (every header parsed by pydicom, as before the fast path existed). Every
written byte and every report line must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian, JPEGLSLossless, RLELossless

from convert.synth import SeriesSpec, write
from medbridge.convert import _inputs
from medbridge.convert._pipeline import ConvertOptions, _write_one, convert_files, plan_outputs


def _reencode(paths: list[Path], change: Any) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path, enforce_file_format=True)


def _implicit(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian


def _philips_dwi(ds: Dataset) -> None:
    """Philips private diffusion values; the last slice becomes an isotropic trace image."""
    block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    block.add_new(0x03, "FL", 1000.0 if ds.InstanceNumber == 6 else 0.0)
    block.add_new(0x04, "CS", "I" if ds.InstanceNumber == 6 else "N")


CASES: dict[str, tuple[list[SeriesSpec], Any]] = {
    "explicit": ([SeriesSpec("axial")], None),
    "implicit": ([SeriesSpec("axial", descending=True)], _implicit),
    "rle": ([SeriesSpec("rle", transfer_syntax=RLELossless, bits_stored=12, signed=True)], None),
    "jpegls": ([SeriesSpec("jls", transfer_syntax=JPEGLSLossless, modality="CT")], None),
    "rescaled_ct": ([SeriesSpec("ct", modality="CT", slope=0.5, intercept=-1024)], None),
    "philips_trace": ([SeriesSpec("dwi", manufacturer="Philips")], _philips_dwi),
    "mixed_folder": (
        [
            SeriesSpec("main", series_number=3),
            SeriesSpec("derived", series_number=4, image_type=("DERIVED", "SECONDARY")),
            SeriesSpec("scout", series_number=5, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")),
            SeriesSpec("gap", series_number=6, skip_slices=(2,)),
            SeriesSpec("twice", series_number=7, duplicate_slices=(1,)),
            SeriesSpec("single", series_number=8, slices=1),
            SeriesSpec("nogeometry", series_number=9, drop=("ImagePositionPatient",)),
        ],
        None,
    ),
}


def _convert(folder: Path, out: Path, options: ConvertOptions) -> tuple[Any, dict[str, bytes]]:
    report = convert_files([folder], out, options)
    summary = (
        sorted((o.name, o.shape, o.series_number, o.description) for o in report.outputs),
        sorted((s.name.replace(str(folder), ""), s.reason, s.incomplete) for s in report.skipped),
        report.not_dicom,
    )
    return summary, {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, folder: Path, tmp_path: Path, options: ConvertOptions
) -> None:
    fast = _convert(folder, tmp_path / "fast", options)
    with monkeypatch.context() as m:
        m.setattr(_inputs, "fast_values_usable", lambda: False)
        parsed = _convert(folder, tmp_path / "parsed", options)
    assert fast[0] == parsed[0]
    assert fast[1].keys() == parsed[1].keys()
    for name, data in fast[1].items():
        assert data == parsed[1][name], name


class TestSameConversion:
    @pytest.mark.parametrize("case", sorted(CASES))
    @pytest.mark.parametrize("ignore_derived", [False, True], ids=["all", "-i y"])
    def test_generated_series(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str, ignore_derived: bool
    ) -> None:
        """Synthetic series (encodings, compression, rescale, refusals): same bytes, same report."""
        specs, change = CASES[case]
        for spec in specs:
            paths = write(spec, tmp_path / "in" / spec.name)
            if change is not None:
                _reencode(paths, change)
        options = ConvertOptions(template="%s_%d", ignore_derived=ignore_derived, provenance=True)
        _both_ways(monkeypatch, tmp_path / "in", tmp_path, options)

    def test_real_classic_series(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dcm_qa: Path
    ) -> None:
        """dcm_qa_nih (classic Siemens/GE/Philips EPI slices): same bytes, same report."""
        _both_ways(monkeypatch, dcm_qa / "dcm_qa_nih" / "In", tmp_path, ConvertOptions())


class TestLazyHeaders:
    def test_only_the_headers_read_are_parsed(self, tmp_path: Path) -> None:
        """Converting a 20-slice series parses the sidecar's source header, not all 20."""
        write(SeriesSpec("lazy", slices=20), tmp_path / "in")
        options = ConvertOptions()
        planned, _ = plan_outputs([tmp_path / "in"], options)
        (item,) = planned
        _write_one(item, str(tmp_path / "out"), options)
        parsed = [i for i in item.group.instances if i._ds is not None]
        assert len(item.group.instances) == 20
        assert 1 <= len(parsed) <= 2

    def test_a_header_pydicom_cannot_parse_is_reported(self, tmp_path: Path) -> None:
        """A file the fast scan read but pydicom refuses names the file and the reason."""
        (path,) = write(SeriesSpec("one", slices=1), tmp_path)
        instance = _inputs._scanned(str(path))
        assert instance is not None
        path.write_bytes(b"not DICOM any more")
        with pytest.raises(_inputs.InvalidDicomError, match="header unreadable"):
            _ = instance.ds
