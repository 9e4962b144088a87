"""De-identification speed: medbridge against ``dicognito`` and ``deid`` (PyPI).

Generates N instances (default 5,000) from pydicom's ``CT_small.dcm`` (GE CT with a
private block) and ``MR_small.dcm``, with distinct patients, studies, series, instance
UIDs, dates and positions, then de-identifies the same files with each tool in the same
run, each writing a new file per input:

- ``medbridge anonymize`` as a process, one worker (``-j 1``) and one per core;
- ``python -m dicognito -o OUT --seed 1`` as a process (one process, its only mode);
- ``deid.dicom.replace_identifiers(files, save=True, output_folder=OUT)`` with its
  default recipe, in a process of its own (one process, its only mode).

Times are wall clock including interpreter start-up. The ratio is against the faster
peer; the issue's target is at least 2x.

    .venv/bin/python benchmarks/deid.py [--count 5000] [--skip-deid] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PATIENTS = 25
STUDIES_PER_PATIENT = 2
SERIES_PER_STUDY = 2

DEID_SCRIPT = """
import logging, sys
from pathlib import Path
from deid.dicom import replace_identifiers
from deid.logger import bot
bot.level = 0  # quiet: deid prints one line per element otherwise
files = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.dcm"))
out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
replace_identifiers(files, save=True, output_folder=str(out), overwrite=True)
"""


def generate(folder: Path, count: int) -> None:
    """Write ``count`` instances, half CT and half MR, for 25 patients in 100 series.

    Each instance gets its own SOP Instance UID, position and instance number; each
    series its own UIDs and description; each patient a name, ID, birth date and study
    dates, so every tool has real work (UIDs to map, dates, names) on every file. File
    names are unique across folders because ``deid`` writes outputs by base name.
    """
    stamp = folder / ".complete"
    if stamp.exists() and stamp.read_text() == str(count):
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    templates = [
        pydicom.dcmread(str(get_testdata_file(n))) for n in ("CT_small.dcm", "MR_small.dcm")
    ]
    series_count = PATIENTS * STUDIES_PER_PATIENT * SERIES_PER_STUDY
    per_series = -(-count // series_count)
    for i in range(count):
        series = i // per_series
        study = series // SERIES_PER_STUDY
        patient = study // STUDIES_PER_PATIENT
        ds = templates[series % 2]
        ds.PatientID = f"BENCH{patient:04d}"
        ds.PatientName = f"Benchpatient{patient:04d}^Given{patient:04d}"
        ds.PatientBirthDate = f"19{40 + patient % 50:02d}0{1 + patient % 9}1{patient % 9}"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = f"2019{1 + study % 12:02d}14"
        ds.AccessionNumber = f"ACC{study:06d}"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.999.1.{study}"
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.999.2.{series}"
        ds.FrameOfReferenceUID = f"1.2.826.0.1.3680043.10.999.3.{study}"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.999.4.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = series % SERIES_PER_STUDY + 1
        ds.SeriesDescription = f"bench series {series}"
        ds.InstanceNumber = i % per_series + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(i % per_series)]
        sub = folder / f"p{patient:03d}" / f"s{series:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        ds.save_as(sub / f"i{i:06d}.dcm", enforce_file_format=True)
    stamp.write_text(str(count))


@dataclass(frozen=True)
class Timing:
    """One tool's run: its label, seconds and the files it wrote."""

    label: str
    seconds: float
    written: int

    def rate(self) -> float:
        """Files per second."""
        return self.written / self.seconds


def _run(label: str, argv: list[str], out: Path) -> Timing:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    written = sum(1 for _ in out.rglob("*.dcm"))
    return Timing(label, seconds, written)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-deid", action="store_true", help="leave out deid (slowest)")
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "deid")
    args = parser.parse_args()

    data = args.work / "in"
    print(f"generating {args.count} instances in {data} ...", flush=True)
    generate(data, args.count)
    files = list(data.rglob("*.dcm"))
    size = sum(f.stat().st_size for f in files)
    key = args.work / "key"
    key.write_text("benchmark key, not a secret: 0123456789abcdef\n")
    for f in files:  # warm the page cache
        f.read_bytes()

    medbridge = [str(BIN / "medbridge"), "anonymize", str(data), "--key", str(key)]
    runs = [
        ("medbridge anonymize -j 1", [*medbridge, "-j", "1", "-o"], "mb1"),
        (f"medbridge anonymize -j {args.jobs}", [*medbridge, "-j", str(args.jobs), "-o"], "mbj"),
        (
            "dicognito",
            [sys.executable, "-m", "dicognito", "--seed", "1", "--quiet", str(data), "-o"],
            "dicognito",
        ),
    ]
    if not args.skip_deid:
        runs.append(("deid", [sys.executable, "-c", DEID_SCRIPT, str(data)], "deid"))
    timings = []
    for label, argv, name in runs:
        out = args.work / "out" / name
        print(f"running {label} ...", flush=True)
        timings.append(_run(label, [*argv, str(out)], out))
    for t in timings:
        if t.written != len(files):
            raise SystemExit(f"{t.label} wrote {t.written} of {len(files)} files")

    print(f"files: {len(files)}, {size / 1e6:.0f} MB (CT_small and MR_small templates)")
    print("| tool | seconds | files/s |")
    print("| --- | ---: | ---: |")
    for t in timings:
        print(f"| {t.label} | {t.seconds:.1f} | {t.rate():,.0f} |")
    peer = max((t for t in timings if not t.label.startswith("medbridge")), key=Timing.rate)
    for t in timings[:2]:
        print(f"ratio {t.label} / {peer.label}: {t.rate() / peer.rate():.1f}x (target >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
