"""Conversion speed and memory: ``medbridge convert`` against dcm2niix, same files, same run.

Generates (once, into ``benchmarks/_work/convert/``) a 1,000-slice 512×512 16-bit CT
series in four transfer syntaxes: Explicit VR Little Endian, RLE Lossless, JPEG-LS
Lossless and JPEG 2000 Lossless. The slices are a smooth phantom with noise, so they
compress like real CT. Encoding is the slow part of generation, so the compressed series
cycle through ``--distinct`` encoded slice images (each file still has its own position
and UIDs, and every file is decoded on conversion).

Each converter runs as a separate process (``medbridge convert -q``, the pinned PyPI
``dcm2niix`` with pigz on PATH when installed), best of ``--repeat`` wall times, for
``.nii`` and ``.nii.gz``. Peak memory is the child's maximum resident set
(``getrusage(RUSAGE_CHILDREN)`` read in a fresh wrapper process per run, so earlier runs
do not leak into it), compared with the size of the NIfTI it writes.

    .venv/bin/python benchmarks/convert.py [--slices 1000] [--size 512] [--repeat 2]
        [--syntax raw rle jpegls j2k] [--distinct 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SYNTAXES = {
    "raw": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
}
_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "dt = time.perf_counter() - t\n"
    "print(rc, dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def phantom(size: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A CT-like slice: air outside, a soft-tissue ellipse, a bright ring, noise (HU + 1024)."""
    y, x = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    r = (x / 0.8) ** 2 + (y / (0.65 + 0.1 * np.sin(k / 90))) ** 2
    hu = np.where(r < 1, 40.0, -1000.0)
    hu = np.where((r > 0.85) & (r < 1), 900.0, hu)
    hu += rng.normal(0, 12, hu.shape)
    return np.clip(hu + 1024, 0, 4095).astype(np.uint16)


def _slice(k: int, size: int, pixels: np.ndarray, uids: tuple[str, str, str]) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = uids
    ds.Modality, ds.Manufacturer = "CT", "GE MEDICAL SYSTEMS"
    ds.PatientName, ds.PatientID = "Bench^Mark", "BENCH1"
    ds.StudyDate, ds.StudyTime, ds.AcquisitionTime = "20240101", "120000", "120001"
    ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = 2, k + 1, 1
    ds.SeriesDescription = ds.ProtocolName = "bench ct"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-250, -250, f"{-k * 0.625:.4f}"]
    ds.PixelSpacing = [0.9765625, 0.9765625]
    ds.SliceThickness = "0.625"
    ds.KVP = "120"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "-1024", "HU"
    ds.PixelData = pixels.tobytes()
    return ds


def generate(folder: Path, syntax: str, slices: int, size: int, distinct: int) -> None:
    """Write the series once; a stamp file records what was generated."""
    stamp = folder / ".complete"
    want = f"{syntax} {slices} {size} {distinct}"
    if stamp.exists() and stamp.read_text() == want:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    uids = (generate_uid(), generate_uid(), generate_uid())
    encoded: dict[int, Dataset] = {}
    for k in range(slices):
        if syntax == "raw":
            ds = _slice(k, size, phantom(size, k, rng), uids)
        else:
            key = k % distinct
            if key not in encoded:
                template = _slice(k, size, phantom(size, k, rng), uids)
                template.compress(SYNTAXES[syntax])
                encoded[key] = template
            template = encoded[key]
            ds = _slice(k, size, np.zeros((1,), np.uint16), uids)
            ds.file_meta.TransferSyntaxUID = template.file_meta.TransferSyntaxUID
            ds.PixelData = template.PixelData
            ds["PixelData"].VR = "OB"
        ds.save_as(folder / f"CT{k:05d}.dcm", enforce_file_format=True)
    stamp.write_text(want)


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of ``cmd`` in a fresh wrapper process."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, check=True
    )
    rc, seconds, maxrss_kib = out.stdout.split()
    if int(rc) != 0:
        raise RuntimeError(f"{cmd[0]} exited {rc}")
    return float(seconds), int(maxrss_kib) * 1024


def commands(tool: str, gz: bool, src: Path, out: Path) -> list[str]:
    z = "y" if gz else "n"
    if tool == "medbridge":
        return [
            str(BIN / "medbridge"),
            "convert",
            "-q",
            "-z",
            z,
            "-f",
            "%s",
            "-o",
            str(out),
            str(src),
        ]
    return [str(BIN / "dcm2niix"), "-z", z, "-f", "%s", "-o", str(out), str(src)]


def measure(tool: str, gz: bool, src: Path, work: Path, repeat: int) -> tuple[float, int, int]:
    """Best wall time, its peak memory, and the output image size."""
    best: tuple[float, int] | None = None
    size = 0
    for _ in range(repeat):
        out = work / f"out_{tool}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        seconds, rss = run(commands(tool, gz, src, out))
        images = list(out.glob("*.nii*"))
        if len(images) != 1:
            raise RuntimeError(f"{tool} wrote {[p.name for p in images]}")
        size = images[0].stat().st_size
        if best is None or seconds < best[0]:
            best = (seconds, rss)
    assert best is not None
    return best[0], best[1], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--syntax", nargs="+", default=list(SYNTAXES), choices=list(SYNTAXES))
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "convert")
    args = parser.parse_args()
    print(f"pigz on PATH: {shutil.which('pigz') or 'no'}; load: {os.getloadavg()}")
    rows = []
    for syntax in args.syntax:
        src = args.work / syntax
        t = time.perf_counter()
        generate(src, syntax, args.slices, args.size, args.distinct)
        print(f"{syntax}: series ready ({time.perf_counter() - t:.0f} s)", flush=True)
        for gz in (False, True):
            ours = measure("medbridge", gz, src, args.work, args.repeat)
            peer = measure("dcm2niix", gz, src, args.work, args.repeat)
            rows.append((syntax, ".nii.gz" if gz else ".nii", ours, peer))
            print(_row(rows[-1]), flush=True)
    print()
    print(
        "| input | output | medbridge s | dcm2niix s | time ratio | medbridge peak MiB "
        "| dcm2niix peak MiB | output MiB | peak / output |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(_row(row))


def _row(row: tuple[str, str, tuple[float, int, int], tuple[float, int, int]]) -> str:
    syntax, ext, (t_ours, m_ours, size), (t_peer, m_peer, _) = row
    mib = 1024 * 1024
    return (
        f"| {syntax} | {ext} | {t_ours:.2f} | {t_peer:.2f} | {t_ours / t_peer:.2f}× "
        f"| {m_ours / mib:.0f} | {m_peer / mib:.0f} | {size / mib:.0f} | {m_ours / size:.2f} |"
    )


if __name__ == "__main__":
    main()
