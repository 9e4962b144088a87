"""Scan speed: ``medbridge.dicom.scan`` against a plain ``pydicom.dcmread`` loop.

Generates a folder of N instances (default 10,000) from a template file, then times
both readers over the same files, warm cache, best of ``--repeat`` runs. The pydicom
loop reads each file and the same attributes the scan returns; the ratio is the
figure the foundation issue sets a target for (≥ 3×).

    .venv/bin/python benchmarks/scan.py [--count 10000] [--rows 256] [--template FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from medbridge.dicom import InstanceRecord, scan

HERE = Path(__file__).resolve().parent
KEYWORDS = [
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
    "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "Modality", "SOPInstanceUID", "SOPClassUID",
    "InstanceNumber", "NumberOfFrames", "Rows", "Columns",
]  # fmt: skip


def generate(folder: Path, count: int, rows: int, template: Path) -> None:
    """Write ``count`` instances: 10 patients, 100 series of ``count/100`` instances each."""
    stamp = folder / ".complete"
    if stamp.exists() and stamp.read_text() == f"{count} {rows} {template}":
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = pydicom.dcmread(template)
    base.Rows = base.Columns = rows
    base.BitsAllocated, base.BitsStored, base.HighBit = 16, 12, 11
    base.SamplesPerPixel, base.PhotometricInterpretation, base.PixelRepresentation = (
        1,
        "MONOCHROME2",
        0,
    )
    base.PixelData = np.random.default_rng(0).integers(0, 4096, (rows, rows), np.uint16).tobytes()
    base.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    per_series = max(1, count // 100)
    for i in range(count):
        series, patient = i // per_series, i // max(1, count // 10)
        base.PatientID = f"PAT{patient:03d}"
        base.PatientName = f"Patient^{patient:03d}"
        base.StudyInstanceUID = f"2.25.1{patient:03d}"
        base.SeriesInstanceUID = f"2.25.2{series:04d}"
        base.SeriesNumber = series
        base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = f"2.25.3{i:06d}"
        base.InstanceNumber = i % per_series + 1
        sub = folder / f"s{series:03d}"
        sub.mkdir(exist_ok=True)
        base.save_as(sub / f"{i:06d}.dcm", enforce_file_format=True)
    stamp.write_text(f"{count} {rows} {template}")


def time_medbridge(folder: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = sum(isinstance(r, InstanceRecord) for r in scan([folder]))
    return time.perf_counter() - start, n


def time_pydicom(files: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for path in files:
        ds = pydicom.dcmread(path)
        values = [ds.get(k) for k in KEYWORDS]
        n += values[13] is not None
    return time.perf_counter() - start, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument(
        "--template", type=Path, default=Path(str(get_testdata_file("CT_small.dcm")))
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "scan")
    args = parser.parse_args()

    print(f"generating {args.count} instances ({args.rows}x{args.rows}) in {args.work} ...")
    generate(args.work, args.count, args.rows, args.template)
    files = sorted(str(p) for p in args.work.rglob("*.dcm"))
    size = sum(os.path.getsize(f) for f in files)
    time_medbridge(args.work)  # warm the page cache
    ours = min(time_medbridge(args.work) for _ in range(args.repeat))
    theirs = min(time_pydicom(files) for _ in range(args.repeat))
    assert ours[1] == theirs[1] == len(files), (ours, theirs, len(files))
    rate_ours, rate_theirs = len(files) / ours[0], len(files) / theirs[0]
    print(f"files: {len(files)}, {size / 1e6:.0f} MB, template {args.template.name}")
    print("| reader | seconds | files/s |")
    print("| --- | ---: | ---: |")
    print(f"| medbridge.dicom.scan | {ours[0]:.2f} | {rate_ours:,.0f} |")
    print(f"| pydicom.dcmread loop | {theirs[0]:.2f} | {rate_theirs:,.0f} |")
    print(f"ratio: {rate_ours / rate_theirs:.1f}x (target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
