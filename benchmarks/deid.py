"""De-identification speed: medbridge against ``dicognito`` and ``deid`` (PyPI).

Generates N instances (default 5,000) from pydicom's ``CT_small.dcm`` (GE CT with a
private block) and ``MR_small.dcm``, with distinct patients, studies, series, instance
UIDs, dates and positions, then de-identifies the same files with each tool in the same
run, each writing a new file per input:

- ``medbridge anonymize`` as a process, one worker (``-j 1``) and one per core;
- ``python -m dicognito -o OUT --seed 1`` as a process (one process, its only mode);
- ``deid.dicom.replace_identifiers(files, save=True, output_folder=OUT)`` with its
  default recipe, in a process of its own (one process, its only mode).

The files are split by patient into ``--rounds`` parts (default 3); each round runs
every tool on the same part, one tool after the other, so a change in the machine's load
(the cores are shared) falls on all tools alike instead of on whichever ran last. Times
are wall clock summed over the rounds, interpreter start-up included; the load average
seen after each tool's rounds is printed beside its rate. The ratio is against the
faster peer; the issue's target is at least 2x.

    .venv/bin/python benchmarks/deid.py [--count 5000] [--rounds 3] [--skip-deid] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
*inputs, _, out = sys.argv[1:]
files = sorted(str(p) for i in inputs for p in Path(i).rglob("*.dcm"))
Path(out).mkdir(parents=True, exist_ok=True)
replace_identifiers(files, save=True, output_folder=out, overwrite=True)
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


@dataclass
class Tool:
    """One tool: its label, its command (inputs and output folder appended) and its time."""

    label: str
    argv: list[str]
    out_flag: list[str]
    out: Path
    seconds: float = 0.0
    load: list[float] = field(default_factory=list)

    def run(self, inputs: list[Path]) -> None:
        """Run over ``inputs`` (one round), adding the wall-clock time."""
        argv = [*self.argv, *map(str, inputs), *self.out_flag, str(self.out)]
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.seconds += time.perf_counter() - start
        self.load.append(os.getloadavg()[0])
        if done.returncode != 0:
            raise SystemExit(f"{self.label} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def written(self) -> int:
        """Output files so far."""
        return sum(1 for _ in self.out.rglob("*.dcm"))


def _tools(work: Path, key: Path, jobs: int, with_deid: bool) -> list[Tool]:
    out = work / "out"
    medbridge = [str(BIN / "medbridge"), "anonymize", "--key", str(key)]
    tools = [
        Tool("medbridge anonymize -j 1", [*medbridge, "-j", "1"], ["-o"], out / "mb1"),
        Tool(f"medbridge anonymize -j {jobs}", [*medbridge, "-j", str(jobs)], ["-o"], out / "mbj"),
        Tool(
            "dicognito",
            [sys.executable, "-m", "dicognito", "--seed", "1", "--quiet"],
            ["-o"],
            out / "dicognito",
        ),
    ]
    if with_deid:
        tools.append(Tool("deid", [sys.executable, "-c", DEID_SCRIPT], ["--"], out / "deid"))
    for tool in tools:
        shutil.rmtree(tool.out, ignore_errors=True)
        tool.out.mkdir(parents=True)
    return tools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (by patient)")
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

    tools = _tools(args.work, key, args.jobs, not args.skip_deid)
    patients = sorted(p for p in data.iterdir() if p.is_dir())
    for r in range(args.rounds):
        inputs = patients[r :: args.rounds]
        for tool in tools:  # every tool on the same files, one after the other
            print(f"round {r + 1}/{args.rounds}: {tool.label} ...", flush=True)
            tool.run(inputs)
    for tool in tools:
        if tool.written() != len(files):
            raise SystemExit(f"{tool.label} wrote {tool.written()} of {len(files)} files")

    print(f"files: {len(files)}, {size / 1e6:.0f} MB (CT_small and MR_small templates)")
    print("| tool | seconds | files/s | load average (1 min) during its rounds |")
    print("| --- | ---: | ---: | --- |")
    for tool in tools:
        load = f"{min(tool.load):.1f}-{max(tool.load):.1f}"
        print(f"| {tool.label} | {tool.seconds:.1f} | {len(files) / tool.seconds:,.0f} | {load} |")
    peer = min((t for t in tools if not t.label.startswith("medbridge")), key=lambda t: t.seconds)
    for tool in tools[:2]:
        ratio = peer.seconds / tool.seconds
        print(f"ratio {tool.label} / {peer.label}: {ratio:.1f}x (target >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
