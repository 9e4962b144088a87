"""PACS: ``medbridge serve`` against Orthanc (Debian package, SQLite), same data, one run.

Measures, for both servers on the same machine:

- ingest of N CT 512×512 instances (default 400): DCMTK storescu (1 association, and 4
  processes at once), a plain pynetdicom sender (1 and 4 associations, one process
  each), and for Orthanc also its REST ``POST /instances`` (1 and 4 clients), its
  fastest path; ``--ingest-repeat`` rounds (default 3), medians reported;
- C-FIND latency with findscu (median of ``--repeat`` runs, the process start included,
  as a user sees it; echoscu is listed as the floor) on an index of ``--find-instances``
  (default 100,000) in ``--find-studies`` (default 5,000) studies;
- C-GET (getscu) and C-MOVE (movescu to a storescp) throughput of the CT study, MB/s.

medbridge runs durable (fsync on, SQLite WAL, synchronous=FULL), as it ships.

Populating the C-FIND indexes: Orthanc gets real instances (header only, no pixel
data, ~1 kB) through ``POST /instances`` from 4 processes; the result is kept in
``--work`` and reused by later runs with the same sizes. medbridge's index gets the
same attribute values as rows, bulk-inserted with SQLAlchemy into the tables
``Archive.store`` fills (the files are not written: a study-level C-FIND never opens
them), which takes seconds instead of the minutes an ingest would.

    .venv/bin/python benchmarks/pacs.py                       # the full run
    .venv/bin/python benchmarks/pacs.py --instances 100 --find-instances 5000 \
        --find-studies 250 --repeat 3                          # a quick one
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from dimse.peers import MedbridgeServer, orthanc, storescp, system_tool  # noqa: E402
from medbridge.archive import Archive  # noqa: E402
from medbridge.archive.index import instance, patient, series, study  # noqa: E402

HOST = "127.0.0.1"
ROOT = "1.2.826.0.1.3680043.10.1337.77"
SURNAMES = [
    "SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES",
    "ROBINSON", "WRIGHT", "THOMPSON", "EVANS", "WALKER", "WHITE", "ROBERTS", "GREEN",
    "HALL", "WOOD", "JACKSON", "CLARKE", "MUELLER", "SCHMIDT", "SCHNEIDER", "FISCHER",
    "WEBER", "MEYER", "WAGNER", "BECKER", "SCHULZ", "HOFFMANN", "MARTIN", "BERNARD",
    "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
    "ROSSI", "RUSSO", "FERRARI", "ESPOSITO", "BIANCHI", "ROMANO", "COLOMBO", "RICCI",
    "NAKAMURA", "TANAKA",
]  # fmt: skip
GIVEN = [f"G{i:02d}" for i in range(50)]


# -- data ------------------------------------------------------------------------------


def ct_dataset(study_uid: str, series_no: int, number: int, pixels: bytes) -> Dataset:
    """A CT Image instance of the ingest set (512×512, 16-bit, explicit VR)."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"{study_uid}.{series_no}.{number}"
    ds.PatientID = "BENCH-CT"
    ds.PatientName = "Bench^Ct"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20250101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = "BENCH1"
    ds.StudyID = "1"
    ds.SeriesInstanceUID = f"{study_uid}.{series_no}"
    ds.SeriesNumber = series_no
    ds.Modality = "CT"
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ImagePositionPatient = [0, 0, float(number)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.PixelData = pixels
    return with_meta(ds)


def with_meta(ds: Dataset) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def make_ct_set(folder: Path, count: int) -> tuple[str, list[Path]]:
    """Write `count` CT instances in one study of 4 series (reused when present)."""
    study_uid = f"{ROOT}.1.{count}"
    stamp = folder.with_name(folder.name + ".complete")  # not inside: storescu +sd reads all
    paths = [folder / f"{i:05d}.dcm" for i in range(count)]
    if stamp.exists() and stamp.read_text() == study_uid:
        return study_uid, paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i, path in enumerate(paths):
        pixels = rng.integers(0, 4096, (512, 512), dtype=np.uint16).tobytes()
        ds = ct_dataset(study_uid, i % 4 + 1, i + 1, pixels)
        ds.save_as(path, enforce_file_format=True)
    stamp.write_text(study_uid)
    return study_uid, paths


def find_rows(n_instances: int, n_studies: int) -> Iterator[dict[str, object]]:
    """The C-FIND population: 2 studies a patient, 2 series a study, header values."""
    per_series = max(1, n_instances // (n_studies * 2))
    day0 = date(2015, 1, 1)
    for s in range(n_studies):
        p = s // 2
        name = f"{SURNAMES[p % 50]}^{GIVEN[(p // 50) % 50]}"
        study_date = (day0 + timedelta(days=(s * 7919) % 3650)).strftime("%Y%m%d")
        for se in (1, 2):
            for n in range(1, per_series + 1):
                yield {
                    "PatientID": f"PID{p:06d}",
                    "PatientName": name,
                    "PatientBirthDate": f"19{50 + p % 50}0101",
                    "PatientSex": "MF"[p % 2],
                    "StudyInstanceUID": f"{ROOT}.2.{s}",
                    "StudyDate": study_date,
                    "StudyTime": "101010",
                    "AccessionNumber": f"A{s:07d}",
                    "StudyID": str(s),
                    "StudyDescription": "BENCH",
                    "SeriesInstanceUID": f"{ROOT}.2.{s}.{se}",
                    "SeriesNumber": se,
                    "Modality": "CT" if se == 1 else "MR",
                    "SOPInstanceUID": f"{ROOT}.2.{s}.{se}.{n}",
                    "InstanceNumber": n,
                }


def small_instance(row: dict[str, object]) -> bytes:
    """A header-only CT instance carrying `row` (what Orthanc's index is built from)."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    for key, value in row.items():
        setattr(ds, key, value)
    buf = io.BytesIO()
    with_meta(ds).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def populate_medbridge(data_dir: Path, n_instances: int, n_studies: int) -> None:
    """Bulk-insert the C-FIND population into a fresh medbridge index."""
    shutil.rmtree(data_dir, ignore_errors=True)
    with Archive(data_dir) as arc:
        patients: dict[str, int] = {}
        studies: dict[str, tuple[int, int]] = {}
        series_pk: dict[str, int] = {}
        rows_p, rows_st, rows_se, rows_in = [], [], [], []
        now = datetime.now(UTC)
        counts: dict[str, int] = {}
        for r in find_rows(n_instances, n_studies):
            if r["PatientID"] not in patients:
                patients[str(r["PatientID"])] = pk = len(patients) + 1
                name = str(r["PatientName"])
                rows_p.append(
                    {"pk": pk, "patient_id": r["PatientID"], "patient_name": name,
                     "patient_name_upper": name.upper(), "patient_birth_date":
                     r["PatientBirthDate"], "patient_sex": r["PatientSex"]}
                )  # fmt: skip
            if r["StudyInstanceUID"] not in studies:
                studies[str(r["StudyInstanceUID"])] = (len(studies) + 1, 0)
                rows_st.append(
                    {"pk": len(studies), "patient_pk": patients[str(r["PatientID"])],
                     "study_instance_uid": r["StudyInstanceUID"], "study_date":
                     r["StudyDate"], "study_time": r["StudyTime"], "accession_number":
                     r["AccessionNumber"], "study_id": r["StudyID"], "study_description":
                     r["StudyDescription"], "referring_physician_name": "",
                     "referring_physician_name_upper": "", "num_series": 2,
                     "num_instances": 0}
                )  # fmt: skip
            if r["SeriesInstanceUID"] not in series_pk:
                series_pk[str(r["SeriesInstanceUID"])] = len(series_pk) + 1
                rows_se.append(
                    {"pk": len(series_pk), "study_pk": len(studies),
                     "series_instance_uid": r["SeriesInstanceUID"], "modality":
                     r["Modality"], "series_number": r["SeriesNumber"],
                     "series_description": "", "series_date": "", "series_time": "",
                     "body_part_examined": "", "num_instances": 0}
                )  # fmt: skip
            counts[str(r["SeriesInstanceUID"])] = counts.get(str(r["SeriesInstanceUID"]), 0) + 1
            rows_in.append(
                {"series_pk": series_pk[str(r["SeriesInstanceUID"])], "sop_instance_uid":
                 r["SOPInstanceUID"], "sop_class_uid": CTImageStorage, "instance_number":
                 r["InstanceNumber"], "transfer_syntax_uid": ExplicitVRLittleEndian,
                 "relpath": f"objects/xx/{r['StudyInstanceUID']}/{r['SOPInstanceUID']}.dcm",
                 "size": 1000, "sha256": "0" * 64, "stored_at": now}
            )  # fmt: skip
        for row in rows_se:
            row["num_instances"] = counts[str(row["series_instance_uid"])]
            rows_st[int(row["study_pk"]) - 1]["num_instances"] += row["num_instances"]
        with arc.index.engine.begin() as conn:
            for table, rows in ((patient, rows_p), (study, rows_st), (series, rows_se)):
                conn.execute(table.insert(), rows)
            for start in range(0, len(rows_in), 20000):
                conn.execute(instance.insert(), rows_in[start : start + 20000])
            conn.execute(sa.text("ANALYZE"))


def _upload_worker(args: tuple[int, int, int, int, int]) -> int:
    port, n_instances, n_studies, k, workers = args
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    sent = 0
    for i, row in enumerate(find_rows(n_instances, n_studies)):
        if i % workers != k:
            continue
        conn.request("POST", "/instances", body=small_instance(row))
        rsp = conn.getresponse()
        rsp.read()
        if rsp.status != 200:
            raise RuntimeError(f"Orthanc answered {rsp.status} to POST /instances")
        sent += 1
    conn.close()
    return sent


def orthanc_count(http_port: int) -> int:
    conn = http.client.HTTPConnection(HOST, http_port, timeout=60)
    conn.request("GET", "/statistics")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    return int(stats["CountInstances"])


def populate_orthanc(http_port: int, n_instances: int, n_studies: int) -> float:
    """Upload the C-FIND population through REST from 4 processes; returns seconds."""
    t0 = time.perf_counter()
    with multiprocessing.Pool(4) as pool:
        pool.map(_upload_worker, [(http_port, n_instances, n_studies, k, 4) for k in range(4)])
    return time.perf_counter() - t0


# -- senders ---------------------------------------------------------------------------


def run(cmd: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    cmd = [system_tool(cmd[0]) or cmd[0], *cmd[1:]]  # DCMTK's, not pynetdicom's apps
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def timed(func: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def storescu(port: int, aec: str, folder: Path) -> None:
    run(["storescu", "-aec", aec, "+sd", HOST, str(port), str(folder)])


def storescu_parallel(port: int, aec: str, paths: list[Path], associations: int) -> None:
    """`associations` storescu processes at once, each sending its share of the files."""
    tool = system_tool("storescu") or "storescu"
    procs = [
        subprocess.Popen(
            [tool, "-aec", aec, HOST, str(port), *map(str, paths[k::associations])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(associations)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"storescu failed ({proc.returncode}): {err[-2000:]}")


def _pynetdicom_worker(args: tuple[int, str, list[str]]) -> int:
    """One association of a plain pynetdicom sender (no medbridge code).

    The files are sent as stored, in chunks (pynetdicom's STORE_SEND_CHUNKED_DATASET),
    as a sender of existing files would; without it pynetdicom decodes and re-encodes
    every dataset and the sender, not the server, sets the pace.
    """
    from pynetdicom import AE, _config

    _config.STORE_SEND_CHUNKED_DATASET = True
    port, aec, paths = args
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(HOST, port, ae_title=aec)
    if not assoc.is_established:
        raise RuntimeError("association refused")
    ok = 0
    for path in paths:
        status = assoc.send_c_store(path)
        ok += int(status.get("Status", 0xFFFF) == 0)
    assoc.release()
    return ok


def pynetdicom_send(port: int, aec: str, paths: list[Path], associations: int) -> None:
    parts = [(port, aec, [str(p) for p in paths[k::associations]]) for k in range(associations)]
    with multiprocessing.Pool(associations) as pool:
        ok = sum(pool.map(_pynetdicom_worker, parts))
    if ok != len(paths):
        raise RuntimeError(f"only {ok} of {len(paths)} C-STOREs succeeded")


def _rest_worker(args: tuple[int, list[str]]) -> None:
    port, paths = args
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    for path in paths:
        conn.request("POST", "/instances", body=Path(path).read_bytes())
        rsp = conn.getresponse()
        rsp.read()
        if rsp.status != 200:
            raise RuntimeError(f"Orthanc answered {rsp.status}")
    conn.close()


def rest_send(port: int, paths: list[Path], clients: int) -> None:
    parts = [(port, [str(p) for p in paths[k::clients]]) for k in range(clients)]
    with multiprocessing.Pool(clients) as pool:
        pool.map(_rest_worker, parts)


# -- servers ---------------------------------------------------------------------------


@contextmanager
def medbridge_server(work: Path, dest_port: int) -> Iterator[int]:
    """A fresh ``medbridge serve`` (durable defaults) that knows DEST; yields its port."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = work / "medbridge.toml"
    config.write_text(f'[aes.DEST]\nae_title = "DEST"\nhost = "{HOST}"\nport = {dest_port}\n')
    with MedbridgeServer(work / "var", config=config) as srv:
        yield srv.port


@contextmanager
def orthanc_server(work: Path, dest_port: int, *, fresh: bool = True) -> Iterator[tuple[int, int]]:
    """Orthanc (SQLite index) knowing our SCUs and DEST; yields (http, dicom) ports."""
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
    modalities = {
        "findscu": ("FINDSCU", HOST, 104),
        "getscu": ("GETSCU", HOST, 104),
        "movescu": ("MOVESCU", HOST, 104),
        "dest": ("DEST", HOST, dest_port),
    }
    with orthanc(work, aet="ORTHANC", modalities=modalities) as ports:
        yield ports


# -- measurements ----------------------------------------------------------------------


def median_run(cmd: list[str], repeat: int) -> tuple[float, int]:
    """Median seconds of `repeat` runs of `cmd`, and the response count of the last."""
    times = []
    out = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run(cmd)
        times.append(time.perf_counter() - t0)
        out = result.stdout + result.stderr
    return statistics.median(times), out.count("Find Response:") or out.count("# Dicom-Data-Set")


def find_queries(port_of: dict[str, int], aec_of: dict[str, str], repeat: int) -> list[dict]:
    """findscu queries of increasing breadth against each server, medians in ms."""
    queries = {
        "echoscu (floor)": None,
        "STUDY PatientID=PID000123": ["-k", "PatientID=PID000123"],
        "STUDY PatientName=NAKAMURA^G0*": ["-k", "PatientName=NAKAMURA^G0*"],
        "STUDY StudyDate=20200101-20200131": ["-k", "StudyDate=20200101-20200131"],
        "STUDY all studies": [],
        "SERIES of one study": None,
    }
    rows = []
    for label, keys in queries.items():
        row: dict[str, object] = {"query": label}
        for name, port in port_of.items():
            aec = aec_of[name]
            if label.startswith("echoscu"):
                cmd = ["echoscu", "-aet", "FINDSCU", "-aec", aec, HOST, str(port)]
            elif label.startswith("SERIES"):
                cmd = ["findscu", "-v", "-S", "-aet", "FINDSCU", "-aec", aec,
                       "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={ROOT}.2.7",
                       "-k", "SeriesInstanceUID", "-k", "Modality",
                       "-k", "NumberOfSeriesRelatedInstances", HOST, str(port)]  # fmt: skip
            else:
                cmd = ["findscu", "-v", "-S", "-aet", "FINDSCU", "-aec", aec,
                       "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID",
                       "-k", "PatientName", "-k", "PatientID", "-k", "StudyDate",
                       "-k", "NumberOfStudyRelatedInstances", *(keys or []),
                       HOST, str(port)]  # fmt: skip
            seconds, count = median_run(cmd, repeat)
            row[f"{name} ms"] = round(seconds * 1000, 1)
            row[f"{name} n"] = count
        rows.append(row)
    return rows


def retrieve(port: int, aec: str, study_uid: str, out: Path, dest_dir: Path) -> dict[str, float]:
    """C-GET with getscu and C-MOVE with movescu to storescp DEST; MB/s of each."""
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    get_cmd = ["getscu", "-S", "-aet", "GETSCU", "-aec", aec, "-od", str(out), *keys]
    get_s = timed(lambda: run([*get_cmd, HOST, str(port)]))
    got = sum(p.stat().st_size for p in out.iterdir())
    for p in dest_dir.iterdir():
        p.unlink()
    move_cmd = ["movescu", "-S", "-aet", "MOVESCU", "-aec", aec, "-aem", "DEST", *keys]
    move_s = timed(lambda: run([*move_cmd, HOST, str(port)]))
    moved = sum(p.stat().st_size for p in dest_dir.iterdir())
    return {
        "get MB/s": got / get_s / 1e6,
        "get files": len(list(out.iterdir())),
        "move MB/s": moved / move_s / 1e6,
        "move files": len(list(dest_dir.iterdir())),
    }


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=400, help="CT instances to ingest")
    parser.add_argument("--find-instances", type=int, default=100_000)
    parser.add_argument("--find-studies", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per C-FIND query")
    parser.add_argument(
        "--ingest-repeat", type=int, default=3, help="rounds of every ingest path (median)"
    )
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "pacs")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ingest", "find", "retrieve"])
    args = parser.parse_args()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    study_uid, paths = make_ct_set(work / "ct", args.instances)
    total_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"CT set: {len(paths)} instances, {total_mb:.0f} MB; uptime: {uptime()}")
    results: dict[str, object] = {"instances": len(paths), "MB": total_mb}
    with storescp(work / "dest", "DEST") as dest_port:
        if "ingest" not in args.skip or "retrieve" not in args.skip:
            results["ingest"] = ingest_all(work, paths, dest_port, study_uid, args)
        if "find" not in args.skip:
            results["find"] = find_all(work, dest_port, args)
    results["uptime"] = uptime()
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print_tables(results)


def ingest_all(
    work: Path, paths: list[Path], dest_port: int, study_uid: str, args: argparse.Namespace
) -> dict[str, object]:
    """Every sender into each server, `--ingest-repeat` rounds (fresh servers each time).

    Rounds interleave the servers, so a load swing on the shared cores falls on both;
    each path's median rate is reported, with every run's rate beside it.
    """
    n = len(paths)
    folder = paths[0].parent
    senders: dict[str, Callable[[int, str], None]] = {
        "storescu, 1 association": lambda port, aec: storescu(port, aec, folder),
        "storescu, 4 associations": lambda port, aec: storescu_parallel(port, aec, paths, 4),
        "pynetdicom, 1 association": lambda port, aec: pynetdicom_send(port, aec, paths, 1),
        "pynetdicom, 4 associations": lambda port, aec: pynetdicom_send(port, aec, paths, 4),
    }
    runs: dict[str, list[float]] = {}
    retrieved: dict[str, object] = {}

    def record(key: str, seconds: float) -> None:
        runs.setdefault(key, []).append(n / seconds)
        print(f"{key}: {n / seconds:.1f} inst/s", flush=True)

    for round_ in range(args.ingest_repeat):
        final = round_ == args.ingest_repeat - 1
        for label, send in senders.items():
            retrieve_now = final and label == list(senders)[-1] and "retrieve" not in args.skip
            with medbridge_server(work / "medbridge", dest_port) as port:
                record(f"medbridge | {label}", timed(lambda p=port, f=send: f(p, "MEDBRIDGE")))
                if retrieve_now:
                    retrieved["medbridge"] = retrieve(
                        port, "MEDBRIDGE", study_uid, work / "got", work / "dest"
                    )
                    print(f"medbridge retrieve: {retrieved['medbridge']}", flush=True)
            with orthanc_server(work / "orthanc", dest_port) as (_http, dicom):
                record(f"Orthanc | {label}", timed(lambda p=dicom, f=send: f(p, "ORTHANC")))
                if retrieve_now:
                    retrieved["Orthanc"] = retrieve(
                        dicom, "ORTHANC", study_uid, work / "got", work / "dest"
                    )
                    print(f"Orthanc retrieve: {retrieved['Orthanc']}", flush=True)
        for clients in (1, 4):
            with orthanc_server(work / "orthanc", dest_port) as (http_port, _dicom):
                label = f"REST POST /instances, {clients} client{'s' if clients > 1 else ''}"
                record(
                    f"Orthanc | {label}",
                    timed(lambda h=http_port, c=clients: rest_send(h, paths, c)),
                )
    rates = {key: statistics.median(values) for key, values in runs.items()}
    return {"rates": rates, "runs": runs, "retrieve": retrieved}


def find_all(work: Path, dest_port: int, args: argparse.Namespace) -> dict[str, object]:
    n, s = args.find_instances, args.find_studies
    key = f"{n}-{s}"
    mb_dir = work / f"find-medbridge-{key}"
    t0 = time.perf_counter()
    populate_medbridge(mb_dir / "var", n, s)
    mb_fill = time.perf_counter() - t0
    print(f"medbridge index filled in {mb_fill:.1f} s", flush=True)
    ortho_dir = work / f"find-orthanc-{key}"
    reuse = (ortho_dir / ".complete").exists()
    with orthanc_server(ortho_dir, dest_port, fresh=not reuse) as (http_port, dicom):
        fill = 0.0
        if not reuse:
            fill = populate_orthanc(http_port, n, s)
            (ortho_dir / ".complete").write_text(str(orthanc_count(http_port)))
        count = orthanc_count(http_port)
        print(f"Orthanc holds {count} instances (filled in {fill:.0f} s)", flush=True)
        config = mb_dir / "medbridge.toml"
        config.write_text("")
        with MedbridgeServer(mb_dir / "var", config=config) as srv:
            rows = find_queries(
                {"medbridge": srv.port, "Orthanc": dicom},
                {"medbridge": "MEDBRIDGE", "Orthanc": "ORTHANC"},
                args.repeat,
            )
    return {
        "rows": rows,
        "orthanc_instances": count,
        "orthanc_fill_s": fill,
        "medbridge_fill_s": mb_fill,
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def print_tables(results: dict[str, object]) -> None:
    ingest = results.get("ingest")
    if isinstance(ingest, dict):
        rates: dict[str, float] = ingest["rates"]
        mb = float(results["MB"]) / int(results["instances"])  # type: ignore[arg-type]
        all_runs: dict[str, list[float]] = ingest.get("runs", {})
        print("\n| server | path | inst/s (median) | MB/s | runs |")
        print("| --- | --- | ---: | ---: | --- |")
        for key, rate in rates.items():
            server, path = key.split(" | ")
            each = ", ".join(f"{r:.0f}" for r in all_runs.get(key, []))
            print(f"| {server} | {path} | {rate:.1f} | {rate * mb:.1f} | {each} |")
        retrieved = ingest["retrieve"]
        if retrieved:
            print("\n| server | C-GET MB/s (getscu) | C-MOVE MB/s (movescu → storescp) |")
            print("| --- | ---: | ---: |")
            for server, r in retrieved.items():
                print(f"| {server} | {r['get MB/s']:.1f} | {r['move MB/s']:.1f} |")
    find = results.get("find")
    if isinstance(find, dict):
        print("\n| findscu query | medbridge ms | Orthanc ms | ratio | answers (mb/Orthanc) |")
        print("| --- | ---: | ---: | ---: | --- |")
        for row in find["rows"]:
            ratio = row["medbridge ms"] / row["Orthanc ms"]
            print(
                f"| {row['query']} | {row['medbridge ms']} | {row['Orthanc ms']} | "
                f"{ratio:.2f} | {row['medbridge n']}/{row['Orthanc n']} |"
            )
    print(f"\n{results['uptime']}")


if __name__ == "__main__":
    main()
