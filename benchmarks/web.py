"""DICOMweb: ``medbridge serve`` against Orthanc + its DICOMweb plugin, same data, one run.

Both servers run as processes on this machine (medbridge with its durable defaults:
fsync'ed files, SQLite WAL with synchronous=FULL; Orthanc 1.10 from Debian with
``orthanc-dicomweb``, SQLite index). Parts, each runnable alone with ``--only``:

- ``stow``: STOW-RS ingest of N CT 512×512 instances of one series (default 400),
  one and four clients at once (raw httpx, ``--stow-batch`` instances per request);
  every run starts fresh servers, ``--rounds`` rounds interleave the servers, medians;
- ``best``: the fastest ingest each server offers, for the "best against best" ratio:
  Orthanc's REST ``POST /instances`` (1 and 4 clients), medbridge's C-STORE with four
  storescu associations at once (STOW-RS ×4 is in ``stow``);
- ``read``: on one server pair holding the series: WADO-RS of the series read as a raw
  stream (MB/s), ``/metadata`` of the series, QIDO-RS of its instances, ``/rendered``
  JPEG of one frame (each a different instance); ``--repeat`` runs, interleaved;
- ``qido``: QIDO-RS latency on ``--qido-instances`` (default 100,000) in
  ``--qido-studies`` (default 5,000) studies: a selective study search, a name
  wildcard, a date range, all studies (paged through when the server pages).

How the 100,000-instance archives are filled: the rows of ``benchmarks/pacs.py``
(header-only CT instances, ~1 kB). medbridge's through ``Archive.store`` in-process
(the code under test builds its own index rows; fsync off while filling, 4 threads),
Orthanc's through ``POST /instances`` from 4 processes. Both are kept in ``--work``
and reused by later runs with the same sizes (medbridge's only while its index
schema is unchanged).

    .venv/bin/python benchmarks/web.py                                 # everything
    .venv/bin/python benchmarks/web.py --only stow,read --instances 100 --rounds 1
    .venv/bin/python benchmarks/web.py --only qido --qido-instances 5000 --qido-studies 250
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from pacs import (  # noqa: E402
    ROOT,
    ct_dataset,
    find_rows,
    orthanc_count,
    populate_orthanc,
    rest_send,
    small_instance,
    storescu_parallel,
    timed,
    uptime,
)

from dimse.peers import MedbridgeServer  # noqa: E402
from medbridge.web._related import encode_parts, new_boundary  # noqa: E402
from web.orthanc import orthanc_dicomweb  # noqa: E402

PARTS = ("stow", "best", "read", "qido")
DICOM_STREAM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
JSON = "application/dicom+json"


# -- data ------------------------------------------------------------------------------


def make_series(folder: Path, count: int) -> tuple[str, str, list[Path]]:
    """`count` CT 512×512 instances in ONE series (reused when present)."""
    study_uid = f"{ROOT}.3.{count}"
    series_uid = f"{study_uid}.1"
    stamp = folder.with_name(folder.name + ".complete")
    paths = [folder / f"{i:05d}.dcm" for i in range(count)]
    if not (stamp.exists() and stamp.read_text() == study_uid):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        rng = np.random.default_rng(2)
        for i, path in enumerate(paths):
            pixels = rng.integers(0, 4096, (512, 512), dtype=np.uint16).tobytes()
            ct_dataset(study_uid, 1, i + 1, pixels).save_as(path, enforce_file_format=True)
        stamp.write_text(study_uid)
    return study_uid, series_uid, paths


# -- servers ---------------------------------------------------------------------------


@contextmanager
def medbridge_server(work: Path, *, fresh: bool = True) -> Iterator[tuple[str, int]]:
    """``medbridge serve`` (durable defaults); yields (DICOMweb root, DIMSE port)."""
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    config = work / "medbridge.toml"
    config.write_text("")
    with MedbridgeServer(work / "var", config=config) as srv:
        yield f"{srv.http_url}/dicom-web", srv.port


@contextmanager
def orthanc_server(work: Path, *, fresh: bool = True) -> Iterator[tuple[str, int]]:
    """Orthanc with its DICOMweb plugin; yields (DICOMweb root, REST port)."""
    if fresh:
        shutil.rmtree(work, ignore_errors=True)
    with orthanc_dicomweb(work) as orth:
        yield orth.dicomweb, orth.http_port


# -- clients ---------------------------------------------------------------------------


def _stow_worker(args: tuple[str, list[str], int]) -> int:
    """One STOW-RS client: its share of the files, `batch` instances per request."""
    root, paths, batch = args
    stored = 0
    with httpx.Client(timeout=300) as client:
        for start in range(0, len(paths), batch):
            chunk = paths[start : start + batch]
            boundary = new_boundary()
            related = f'multipart/related; type="application/dicom"; boundary={boundary}'
            body = encode_parts(
                [Path(p).read_bytes() for p in chunk], "application/dicom", boundary
            )
            rsp = client.post(
                f"{root}/studies",
                content=body,
                headers={
                    "Content-Type": related,
                    "Accept": JSON,
                },
            )
            if rsp.status_code != 200:
                raise RuntimeError(f"STOW-RS answered {rsp.status_code}: {rsp.text[:300]}")
            stored += len(chunk)
    return stored


def stow_send(root: str, paths: list[Path], clients: int, batch: int) -> None:
    parts = [(root, [str(p) for p in paths[k::clients]], batch) for k in range(clients)]
    with multiprocessing.Pool(clients) as pool:
        stored = sum(pool.map(_stow_worker, parts))
    if stored != len(paths):
        raise RuntimeError(f"only {stored} of {len(paths)} instances stored")


def read_stream(client: httpx.Client, url: str, accept: str) -> int:
    """GET `url` and count the bytes as they arrive (no parsing); returns the byte count."""
    size = 0
    with client.stream("GET", url, headers={"Accept": accept}) as rsp:
        if rsp.status_code != 200:
            rsp.read()
            raise RuntimeError(f"GET {url}: {rsp.status_code} {rsp.text[:300]}")
        for chunk in rsp.iter_raw(1 << 20):
            size += len(chunk)
    return size


def qido_all(client: httpx.Client, url: str) -> int:
    """A QIDO-RS search followed through its pages (Warning + offset); returns the count."""
    count = 0
    while True:
        sep = "&" if "?" in url else "?"
        rsp = client.get(f"{url}{sep}offset={count}" if count else url, headers={"Accept": JSON})
        if rsp.status_code != 200:
            raise RuntimeError(f"GET {url}: {rsp.status_code} {rsp.text[:300]}")
        page = rsp.json() if rsp.content.strip() else []
        count += len(page)
        if not page or "warning" not in rsp.headers:
            return count


# -- parts -----------------------------------------------------------------------------


def ingest_part(work: Path, paths: list[Path], args: argparse.Namespace) -> dict[str, object]:
    """Every ingest path into fresh servers, `--rounds` rounds interleaved; medians."""
    n = len(paths)
    folder = paths[0].parent
    batch = args.stow_batch
    plans: list[tuple[str, str, Callable[[str, int], None]]] = []
    if "stow" in args.only:
        for clients in (1, 4):
            label = f"STOW-RS, {clients} client{'s' if clients > 1 else ''}"

            def stow(root: str, _port: int, c: int = clients) -> None:
                stow_send(root, paths, c, batch)

            plans += [("medbridge", label, stow), ("Orthanc", label, stow)]
    if "best" in args.only:
        plans.append(
            (
                "medbridge",
                "C-STORE, storescu ×4",
                lambda _root, port: storescu_parallel(port, "MEDBRIDGE", paths, 4),
            )
        )
        for clients in (1, 4):
            label = f"REST POST /instances, {clients} client{'s' if clients > 1 else ''}"
            plans.append(
                ("Orthanc", label, lambda _root, port, c=clients: rest_send(port, paths, c))
            )
    runs: dict[str, list[float]] = {}
    print(f"ingest: {n} instances from {folder}", flush=True)
    for _round in range(args.rounds):
        for server, label, send in plans:
            start = medbridge_server if server == "medbridge" else orthanc_server
            with start(work / server) as (root, port):
                seconds = timed(lambda r=root, p=port, f=send: f(r, p))
            key = f"{server} | {label}"
            runs.setdefault(key, []).append(n / seconds)
            print(f"{key}: {n / seconds:.1f} inst/s", flush=True)
    return {"rates": {k: statistics.median(v) for k, v in runs.items()}, "runs": runs}


def read_part(
    work: Path, study: str, series: str, paths: list[Path], args: argparse.Namespace
) -> dict[str, object]:
    """WADO-RS, /metadata, QIDO of the series and /rendered on both servers, interleaved."""
    mb = sum(p.stat().st_size for p in paths) / 1e6
    base = f"studies/{study}/series/{series}"
    sops = [f"{study}.1.{i + 1}" for i in range(len(paths))]
    timings: dict[str, dict[str, list[float]]] = {}
    notes: dict[str, str] = {}
    with (
        medbridge_server(work / "read-medbridge") as (mb_root, _p),
        orthanc_server(work / "read-orthanc") as (or_root, _q),
    ):
        stow_send(mb_root, paths, 4, args.stow_batch)
        stow_send(or_root, paths, 4, args.stow_batch)
        servers = {"medbridge": mb_root, "Orthanc": or_root}
        clients = {name: httpx.Client(timeout=300) for name in servers}
        accept: dict[str, str] = {}
        for name, root in servers.items():  # warm-up, and the Accept each one takes
            client = clients[name]
            rsp = client.get(
                f"{root}/{base}/instances/{sops[0]}/metadata", headers={"Accept": JSON}
            )
            rsp.raise_for_status()
            accept[name] = DICOM_STREAM
            probe = client.get(
                f"{root}/{base}/instances/{sops[0]}", headers={"Accept": DICOM_STREAM}
            )
            if probe.status_code != 200:
                accept[name] = 'multipart/related; type="application/dicom"'
                notes[name] = f"refuses transfer-syntax=* ({probe.status_code}); asked without it"
        for run in range(args.repeat):
            for name, root in servers.items():
                client = clients[name]
                t = timings.setdefault(name, {})
                t0 = time.perf_counter()
                size = read_stream(client, f"{root}/{base}", accept[name])
                t.setdefault("wado MB/s", []).append(size / 1e6 / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                meta = client.get(f"{root}/{base}/metadata", headers={"Accept": JSON})
                t.setdefault("metadata ms", []).append((time.perf_counter() - t0) * 1000)
                assert meta.status_code == 200 and len(meta.json()) == len(paths), name
                t0 = time.perf_counter()
                found = qido_all(client, f"{root}/{base}/instances")
                t.setdefault("qido ms", []).append((time.perf_counter() - t0) * 1000)
                assert found == len(paths), (name, found)
                sop = sops[(run * 37) % len(sops)]
                t0 = time.perf_counter()
                img = client.get(
                    f"{root}/{base}/instances/{sop}/rendered", headers={"Accept": "image/jpeg"}
                )
                t.setdefault("rendered ms", []).append((time.perf_counter() - t0) * 1000)
                assert img.status_code == 200 and img.content[:2] == b"\xff\xd8", (
                    name,
                    img.status_code,
                )
        for client in clients.values():
            client.close()
    medians = {name: {k: statistics.median(v) for k, v in t.items()} for name, t in timings.items()}
    print(json.dumps(medians, indent=2), flush=True)
    return {"medians": medians, "runs": timings, "MB": mb, "notes": notes}


def _fill_medbridge(data_dir: Path, n: int, s: int) -> float:
    """The QIDO population stored through Archive.store in-process (4 threads, no fsync)."""
    from medbridge.archive import Archive
    from medbridge.archive import index as index_module

    columns = sorted(
        f"{t.name}.{c.name}" for t in index_module.metadata.sorted_tables for c in t.columns
    )
    stamp = data_dir.with_name(data_dir.name + ".complete")
    key = json.dumps({"n": n, "s": s, "columns": columns})
    if stamp.exists() and stamp.read_text() == key:
        return 0.0
    shutil.rmtree(data_dir, ignore_errors=True)
    t0 = time.perf_counter()
    with Archive(data_dir, fsync=False) as arc, ThreadPoolExecutor(4) as pool:
        done = 0
        lock = threading.Lock()

        def store(row: dict[str, object]) -> None:
            nonlocal done
            arc.store(small_instance(row))
            with lock:
                done += 1
                if done % 10000 == 0:
                    print(f"  medbridge: {done} stored", flush=True)

        list(pool.map(store, find_rows(n, s), chunksize=256))
    seconds = time.perf_counter() - t0
    stamp.write_text(key)
    return seconds


def qido_part(work: Path, args: argparse.Namespace) -> dict[str, object]:
    """QIDO-RS latency at `--qido-instances`, medians of `--repeat`, interleaved."""
    n, s = args.qido_instances, args.qido_studies
    mb_dir = work / f"qido-medbridge-{n}-{s}"
    mb_fill = _fill_medbridge(mb_dir / "var", n, s)
    print(f"medbridge archive filled in {mb_fill:.0f} s (0: reused)", flush=True)
    or_dir = work / f"qido-orthanc-{n}-{s}"
    reuse = (or_dir / ".complete").exists()
    queries = {
        "study, PatientID=PID000123": "studies?PatientID=PID000123",
        "study, PatientName=NAKAMURA*": "studies?PatientName=NAKAMURA*",
        "study, StudyDate=20200101-20200131": "studies?StudyDate=20200101-20200131",
        "series of one study": f"studies/{ROOT}.2.7/series",
        "all studies": "studies",
    }
    rows: dict[str, dict[str, object]] = {q: {} for q in queries}
    with orthanc_server(or_dir, fresh=not reuse) as (or_root, or_port):
        or_fill = 0.0
        if not reuse:
            or_fill = populate_orthanc(or_port, n, s)
            (or_dir / ".complete").write_text(str(orthanc_count(or_port)))
        print(f"Orthanc holds {orthanc_count(or_port)} instances (filled in {or_fill:.0f} s)")
        with medbridge_server(mb_dir, fresh=False) as (mb_root, _port):
            servers = {"medbridge": mb_root, "Orthanc": or_root}
            clients = {name: httpx.Client(timeout=600) for name in servers}
            for label, query in queries.items():
                for name in servers:  # warm-up
                    qido_all(clients[name], f"{servers[name]}/{query}")
                times: dict[str, list[float]] = {name: [] for name in servers}
                for _ in range(args.repeat):
                    for name, root in servers.items():
                        t0 = time.perf_counter()
                        count = qido_all(clients[name], f"{root}/{query}")
                        times[name].append((time.perf_counter() - t0) * 1000)
                        rows[label][f"{name} n"] = count
                for name in servers:
                    rows[label][f"{name} ms"] = round(statistics.median(times[name]), 1)
                print(f"{label}: {rows[label]}", flush=True)
            for client in clients.values():
                client.close()
    return {
        "rows": rows,
        "instances": n,
        "studies": s,
        "medbridge_fill_s": mb_fill,
        "orthanc_fill_s": or_fill,
    }


# -- the run -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=400, help="CT instances, one series")
    parser.add_argument("--qido-instances", type=int, default=100_000)
    parser.add_argument("--qido-studies", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per read or query")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each ingest path")
    parser.add_argument("--stow-batch", type=int, default=16, help="instances per STOW request")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    parser.add_argument("--work", type=Path, default=HERE / "_work" / "web")
    args = parser.parse_args()
    args.only = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := args.only - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    study, series, paths = make_series(work / f"ct-{args.instances}", args.instances)
    total_mb = sum(p.stat().st_size for p in paths) / 1e6
    print(f"CT series: {len(paths)} instances, {total_mb:.0f} MB; uptime: {uptime()}")
    results: dict[str, object] = {"instances": len(paths), "MB": total_mb, "args": sys.argv[1:]}
    results["uptime_before"] = uptime()
    if args.only & {"stow", "best"}:
        results["ingest"] = ingest_part(work, paths, args)
    if "read" in args.only:
        results["read"] = read_part(work, study, series, paths, args)
    if "qido" in args.only:
        results["qido"] = qido_part(work, args)
    results["uptime"] = uptime()
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print_tables(results)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def print_tables(results: dict[str, object]) -> None:
    """Markdown tables: each medbridge figure beside Orthanc's, and their ratio."""
    ingest = results.get("ingest")
    if isinstance(ingest, dict):
        rates: dict[str, float] = ingest["rates"]
        all_runs: dict[str, list[float]] = ingest["runs"]
        mb = float(results["MB"]) / int(results["instances"])  # type: ignore[arg-type]
        print("\n| server | path | inst/s (median) | MB/s | runs | medbridge ÷ Orthanc |")
        print("| --- | --- | ---: | ---: | --- | ---: |")
        for key, rate in rates.items():
            server, path = key.split(" | ")
            each = ", ".join(f"{r:.0f}" for r in all_runs[key])
            other = rates.get(f"Orthanc | {path}") if server == "medbridge" else None
            print(
                f"| {server} | {path} | {rate:.1f} | {rate * mb:.1f} | {each} | "
                f"{_ratio(rate, other) if other else ''} |"
            )
        best_mb = max((r for k, r in rates.items() if k.startswith("medbridge")), default=None)
        best_or = max((r for k, r in rates.items() if k.startswith("Orthanc")), default=None)
        if best_mb and best_or:
            print(
                f"\nbest ingest: medbridge {best_mb:.0f} inst/s, Orthanc {best_or:.0f} inst/s: "
                f"**{best_mb / best_or:.2f}×** (target ≥ 1)"
            )
    read = results.get("read")
    if isinstance(read, dict):
        med = read["medians"]
        mbr, orr = med.get("medbridge", {}), med.get("Orthanc", {})
        head = f"{results['instances']}-instance series"
        print(f"\n| {head} | medbridge | Orthanc | medbridge ÷ Orthanc | target |")
        print("| --- | ---: | ---: | ---: | --- |")
        for key, target in (
            ("wado MB/s", "≥ 1 (higher is better)"),
            ("metadata ms", "≤ 0.2"),
            ("qido ms", "≤ 0.5"),
            ("rendered ms", "≤ 0.5"),
        ):
            a, b = mbr.get(key), orr.get(key)
            print(f"| {key} | {a or 0:.1f} | {b or 0:.1f} | {_ratio(a, b)} | {target} |")
        for name, note in read.get("notes", {}).items():
            print(f"\nnote: {name} {note}")
    qido = results.get("qido")
    if isinstance(qido, dict):
        size = f"{qido['instances']:,} instances, {qido['studies']:,} studies"
        print(f"\n| QIDO-RS at {size} | medbridge ms | Orthanc ms | ratio | answers |")
        print("| --- | ---: | ---: | ---: | --- |")
        for label, row in qido["rows"].items():
            a, b = row.get("medbridge ms"), row.get("Orthanc ms")
            print(
                f"| {label} | {a} | {b} | {_ratio(a, b)} | "
                f"{row.get('medbridge n')}/{row.get('Orthanc n')} |"
            )
    print(f"\n{results['uptime']}")


if __name__ == "__main__":
    main()
