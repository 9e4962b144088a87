"""Modality Worklist: ``medbridge serve`` against DCMTK's ``wlmscpfs``, same steps, one run.

Builds N scheduled procedure steps (default 10,000: 50 stations, 20 days, CT/MR/US/XA),
stores them in medbridge's index (``Worklist.add_many``, the path ``worklist add``
takes) and writes the same items as ``.wl`` files (pydicom) for ``wlmscpfs``, which
reads its folder on every query. Then times DCMTK's ``findscu -W`` against each server
(median of ``--repeat`` runs, the process start included, as a modality sees it) for:

- a station's query: its AE title and today's date (the everyday query, ~10 matches);
- a department's query: one modality over a date range of three days (~375 matches).

Both answer with the same return keys; the answer counts are checked to agree.

    .venv/bin/python benchmarks/worklist.py                 # 10,000 steps, 7 runs each
    .venv/bin/python benchmarks/worklist.py --steps 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from dimse.peers import MedbridgeServer, free_port, system_tool, wait_port  # noqa: E402
from medbridge.archive import Archive  # noqa: E402
from medbridge.archive.worklist import Worklist, new_item  # noqa: E402

HOST = "127.0.0.1"
MODALITIES = ["CT", "MR", "US", "XA"]
SURNAMES = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILSON", "MÜLLER", "GARCIA", "MARTIN"]
STATIONS = 50
DAYS = 20
MWL_SOP_CLASS = "1.2.840.10008.5.1.4.31"


def items(count: int, first_day: date) -> list[Dataset]:
    """`count` steps over STATIONS stations and DAYS days, ~evenly spread."""
    made = []
    for n in range(count):
        station = n % STATIONS
        day = first_day + timedelta(days=(n // STATIONS) % DAYS)
        made.append(
            new_item(
                patient_id=f"P{n:06d}",
                patient_name=f"{SURNAMES[n % len(SURNAMES)]}^PATIENT{n}",
                birth_date="19700101",
                sex="FO"[n % 2],
                accession=f"A{n:08d}",
                requested_procedure_id=f"RP{n}",
                procedure_description="EXAM",
                study_uid=generate_uid(),
                step_id=f"S{n}",
                station_ae=f"STATION{station:02d}",
                station_name=f"ROOM{station:02d}",
                modality=MODALITIES[station % len(MODALITIES)],
                start_date=day.strftime("%Y%m%d"),
                start_time=f"{8 + (n // (STATIONS * DAYS)) % 10:02d}0000",
                physician="HOUSE^GREGORY",
                step_description="SCHEDULED EXAM",
            )
        )
    return made


def write_wl_files(folder: Path, steps: list[Dataset]) -> None:
    """The same items as wlmscpfs reads them: one DICOM file per step, ``*.wl``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lockfile").touch()  # wlmscpfs wants it in each AE folder
    for n, item in enumerate(steps):
        ds = Dataset()
        ds.update(item)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MWL_SOP_CLASS
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(folder / f"item{n:06d}.wl", enforce_file_format=True)


RETURN_KEYS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "StudyInstanceUID",
    "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription",
    "ScheduledProcedureStepSequence[0].ScheduledPerformingPhysicianName",
]


def findscu(port: int, matching: list[str], out: Path) -> tuple[float, int]:
    """One ``findscu -W`` run: (seconds, answers)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    cmd = [system_tool("findscu") or "findscu", "-W", "-aec", "MEDBRIDGE", "-X", "-od", str(out)]
    for key in RETURN_KEYS + matching:
        cmd += ["-k", key]
    start = time.perf_counter()
    subprocess.run([*cmd, HOST, str(port)], check=True, capture_output=True)
    return time.perf_counter() - start, len(list(out.glob("rsp*.dcm")))


def timed(port: int, matching: list[str], out: Path, repeat: int) -> tuple[float, int, list[float]]:
    findscu(port, matching, out)  # warm-up (caches, connection pools)
    runs = [findscu(port, matching, out) for _ in range(repeat)]
    counts = {n for _t, n in runs}
    assert len(counts) == 1, counts
    times = [t for t, _n in runs]
    return statistics.median(times), counts.pop(), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None, help="Scratch folder (default: temp).")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="wl-bench-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    today = date.today()
    steps = items(args.steps, today - timedelta(days=DAYS // 2))

    t0 = time.perf_counter()
    with Archive(work / "medbridge") as arc:
        Worklist(arc.index).add_many(steps)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_wl_files(work / "wlm" / "MEDBRIDGE", steps)
    t_files = time.perf_counter() - t0
    print(f"{args.steps} steps: medbridge index {t_index:.1f} s, .wl files {t_files:.1f} s")

    day = today.strftime("%Y%m%d")
    first, last = today - timedelta(days=1), today + timedelta(days=1)
    span = f"{first.strftime('%Y%m%d')}-{last.strftime('%Y%m%d')}"
    queries = {
        "station's day (AE title + date)": [
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=STATION07",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={day}",
            "ScheduledProcedureStepSequence[0].Modality",
        ],
        "modality over 3 days (date range)": [
            "ScheduledProcedureStepSequence[0].Modality=CT",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={span}",
        ],
    }
    results: dict[str, dict[str, tuple[float, int, list[float]]]] = {}
    with MedbridgeServer(work / "medbridge") as srv:
        results["medbridge"] = {
            name: timed(srv.port, q, work / "out", args.repeat) for name, q in queries.items()
        }
    port = free_port()
    exe = system_tool("wlmscpfs") or "wlmscpfs"
    proc = subprocess.Popen(
        [exe, "-dfp", str(work / "wlm"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        results["wlmscpfs"] = {
            name: timed(port, q, work / "out", args.repeat) for name, q in queries.items()
        }
    finally:
        proc.terminate()
        proc.wait(10)

    print()
    print(
        f"| query ({args.steps:,} steps) | answers | medbridge s (median) "
        "| wlmscpfs s (median) | medbridge ÷ wlmscpfs |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in queries:
        m_t, m_n, _ = results["medbridge"][name]
        w_t, w_n, _ = results["wlmscpfs"][name]
        assert m_n == w_n, f"{name}: medbridge {m_n} answers, wlmscpfs {w_n}"
        print(f"| {name} | {m_n} | {m_t:.3f} | {w_t:.3f} | {m_t / w_t:.2f}× |")
    for server, rows in results.items():
        for name, (_t, _n, times) in rows.items():
            print(f"  {server} {name}: {', '.join(f'{t:.3f}' for t in times)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
