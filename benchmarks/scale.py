"""Scale-out figures: ingest on 1, 2 and 3 nodes, and queries on a 10,000,000-instance index.

Part ``ingest``: N ``medbridge serve`` nodes on one PostgreSQL index and one storage
(a shared folder, or the S3 API of moto's server), behind HAProxy (TCP mode, leastconn,
as deploy/haproxy.cfg), fed by 4 DCMTK storescu associations through the balancer with the
same 400 CT 512×512 instances; instances/s per node count.

Part ``query``: a PostgreSQL index of 10,000,000 instances generated in bulk inside
the database (generate_series: 125,000 patients, 250,000 studies of 2 series of 20
instances), then C-FIND over DIMSE and QIDO-RS over HTTP against one node: a selective
study query (one patient's studies), a patient-level query (one patient), a study by
accession number, and a date range; median milliseconds.

    .venv/bin/python benchmarks/scale.py [--only ingest,query] [--instances 400]
        [--rows 10000000] [--nodes 1 2 3] [--backends folder s3]

Run on the project's 2-core machine, the nodes, PostgreSQL, HAProxy, moto and the
senders share two cores: the figures show what one such machine sustains, not how a
cluster of machines scales (see README for the reasoning).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydicom.dataset import Dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from pacs import make_ct_set, storescu_parallel  # noqa: E402

from archive.objectstore import object_store  # noqa: E402
from dimse.balancer import haproxy  # noqa: E402
from dimse.peers import MedbridgeServer, postgres_cluster  # noqa: E402
from medbridge.archive import Archive  # noqa: E402

HOST = "127.0.0.1"
WORK = HERE / "_work" / "scale"


def fresh_database(server_url: str, name: str) -> str:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


# -- ingest ----------------------------------------------------------------------------


@contextmanager
def nodes_on(config: Path, count: int, work: Path) -> Iterator[list[MedbridgeServer]]:
    """`count` nodes with the shared `config`, each with a data folder of its own."""
    with ExitStack() as stack:
        nodes = []
        for i in range(count):
            node = MedbridgeServer(work / f"node{i}", config=config)
            stack.enter_context(node)
            nodes.append(node)
        yield nodes


def ingest(pg_url: str, backends: list[str], node_counts: list[int], n: int) -> list[dict]:
    """Instances/s through HAProxy for each backend and node count."""
    _study, paths = make_ct_set(WORK / "ct", n)
    rows = []
    for backend in backends:
        for count in node_counts:
            work = WORK / f"ingest-{backend}-{count}"
            work.mkdir(parents=True, exist_ok=True)
            url = fresh_database(pg_url, f"ingest_{backend}_{count}")
            with ExitStack() as stack:
                lines = ["[server]", f'index_url = "{url}"']
                if backend == "s3":
                    store = stack.enter_context(object_store())
                    bucket = store.new_bucket()
                    lines += [
                        f'storage_url = "s3://{bucket}/pacs"',
                        f's3_endpoint_url = "{store.endpoint_url}"',
                        's3_region = "us-east-1"',
                        's3_access_key_id = "k"',
                        's3_secret_access_key = "s"',
                    ]
                else:
                    lines.append(f'storage_url = "{work / "shared"}"')
                config = work / "medbridge.toml"
                config.write_text("\n".join(lines) + "\n")
                nodes = stack.enter_context(nodes_on(config, count, work))
                spec = [
                    (f"n{i}", node.port, int(node.http_url.rsplit(":", 1)[1]))
                    for i, node in enumerate(nodes)
                ]
                balancer = stack.enter_context(haproxy(work, spec))
                t0 = time.perf_counter()
                storescu_parallel(balancer.dimse_port, "MEDBRIDGE", paths, 4)
                seconds = time.perf_counter() - t0
            rows.append(
                {"backend": backend, "nodes": count, "seconds": seconds, "rate": n / seconds}
            )
            print(f"ingest {backend} x{count}: {n / seconds:.0f} inst/s", flush=True)
    return rows


# -- query -----------------------------------------------------------------------------

#: One statement per table; ids are arithmetic on generate_series so every UID is unique.
_GENERATE = [
    """INSERT INTO patient (pk, patient_id, patient_name, patient_name_upper,
         patient_name_fuzzy, patient_birth_date, patient_sex)
       SELECT p, 'PID' || lpad(p::text, 7, '0'), 'NAME' || (p % 997) || '^G' || (p % 89),
         'NAME' || (p % 997) || '^G' || (p % 89), 'NAME' || (p % 997) || '^G' || (p % 89),
         (1930 + p % 80)::text || '0101',
         CASE WHEN p % 2 = 0 THEN 'F' ELSE 'M' END
       FROM generate_series(1, :patients) AS p""",
    """INSERT INTO study (pk, patient_pk, study_instance_uid, study_date, study_time,
         accession_number, study_id, study_description, referring_physician_name,
         referring_physician_name_upper, referring_physician_name_fuzzy, num_series,
         num_instances)
       SELECT s, (s - 1) / 2 + 1, '1.2.826.0.1.3680043.10.1337.9.' || s,
         to_char(date '2005-01-01' + (s * 7919) % 7300, 'YYYYMMDD'), '101010',
         'A' || lpad(s::text, 8, '0'), s::text, 'BENCH', '', '', '', 2, :per_study
       FROM generate_series(1, :studies) AS s""",
    """INSERT INTO series (pk, study_pk, series_instance_uid, modality, series_number,
         series_description, series_date, series_time, body_part_examined, num_instances)
       SELECT se, (se - 1) / 2 + 1, '1.2.826.0.1.3680043.10.1337.9.' || ((se - 1) / 2 + 1)
         || '.' || (2 - se % 2), CASE WHEN se % 2 = 1 THEN 'CT' ELSE 'MR' END,
         2 - se % 2, '', '', '', '', :per_series
       FROM generate_series(1, :series) AS se""",
    """INSERT INTO instance (series_pk, sop_instance_uid, sop_class_uid, instance_number,
         transfer_syntax_uid, relpath, size, sha256, stored_at)
       SELECT (i - 1) / :per_series + 1,
         '1.2.826.0.1.3680043.10.1337.9.i.' || i, '1.2.840.10008.5.1.4.1.1.2',
         (i - 1) % :per_series + 1, '1.2.840.10008.1.2.1',
         'objects/00/x/' || i || '.dcm', 1000, repeat('0', 64), now()
       FROM generate_series(1, :instances) AS i""",
]


def generate_index(url: str, rows: int) -> None:
    """Fill a fresh medbridge index with `rows` instances, in the database itself."""
    Archive(WORK / "gen", index_url=url).close()  # creates the schema medbridge uses
    per_series = 20
    series_n = rows // per_series
    studies = series_n // 2
    params = {
        "instances": series_n * per_series,
        "series": series_n,
        "studies": studies,
        "patients": (studies + 1) // 2,
        "per_series": per_series,
        "per_study": 2 * per_series,
    }
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in _GENERATE:
            t0 = time.perf_counter()
            conn.execute(sa.text(statement), params)
            print(f"  {statement.split()[2]}: {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def _ms(func: Any, repeat: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = func()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), count


def query(pg_url: str, rows: int, repeat: int) -> list[dict]:
    """C-FIND and QIDO-RS latencies against one node on the generated index."""
    import httpx

    from medbridge.dimse import scu

    url = fresh_database(pg_url, "scale_query")
    t0 = time.perf_counter()
    generate_index(url, rows)
    print(f"generated {rows:,} instances in {time.perf_counter() - t0:.0f} s", flush=True)
    work = WORK / "query"
    work.mkdir(parents=True, exist_ok=True)
    with MedbridgeServer(work / "node", env={"MEDBRIDGE_INDEX_URL": url}) as node:
        peer = scu.Peer(HOST, node.port, ae_title="MEDBRIDGE")

        def cfind(level: str, model: str = "STUDY_ROOT", **keys: str):  # type: ignore[no-untyped-def]
            from medbridge.archive import QueryModel

            ident = Dataset()
            ident.QueryRetrieveLevel = level
            for k, v in keys.items():
                setattr(ident, k, v)
            return lambda: len(scu.find(peer, ident, model=QueryModel[model]))

        def qido(path: str):  # type: ignore[no-untyped-def]
            client = httpx.Client(base_url=f"{node.http_url}/dicom-web", timeout=120)

            def go() -> int:
                rsp = client.get(path, headers={"Accept": "application/dicom+json"})
                rsp.raise_for_status()
                return len(rsp.json()) if rsp.status_code == 200 else 0

            return go

        pid = "PID0061234"
        cases = {
            "patient's studies (STUDY, PatientID)": (
                cfind("STUDY", PatientID=pid, StudyInstanceUID="", StudyDate=""),
                qido(f"/studies?PatientID={pid}"),
            ),
            "one patient (PATIENT, PatientID)": (
                cfind("PATIENT", "PATIENT_ROOT", PatientID=pid, PatientName=""),
                None,
            ),
            "study by accession (STUDY)": (
                cfind("STUDY", AccessionNumber="A00123456", StudyInstanceUID=""),
                qido("/studies?AccessionNumber=A00123456"),
            ),
            "date range, one day (STUDY)": (
                cfind("STUDY", StudyDate="20150301-20150301", StudyInstanceUID=""),
                qido("/studies?StudyDate=20150301-20150301&limit=1000"),
            ),
        }
        results = []
        for name, (dimse, web) in cases.items():
            cf, n_cf = _ms(dimse, repeat)
            row = {"query": name, "cfind_ms": cf, "cfind_n": n_cf}
            if web is not None:
                qd, n_qd = _ms(web, repeat)
                row |= {"qido_ms": qd, "qido_n": n_qd}
            results.append(row)
            print(row, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="ingest,query")
    parser.add_argument("--instances", type=int, default=400)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--backends", nargs="+", default=["folder", "s3"])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    parts = set(args.only.split(","))
    with postgres_cluster() as pg:
        if "ingest" in parts:
            table = ingest(pg, args.backends, args.nodes, args.instances)
            print("\n| storage | nodes | seconds | instances/s |\n| --- | ---: | ---: | ---: |")
            for r in table:
                print(f"| {r['backend']} | {r['nodes']} | {r['seconds']:.1f} | {r['rate']:.0f} |")
        if "query" in parts:
            table = query(pg, args.rows, args.repeat)
            print("\n| query | C-FIND ms | answers | QIDO-RS ms | answers |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for r in table:
                print(
                    f"| {r['query']} | {r['cfind_ms']:.1f} | {r['cfind_n']} | "
                    f"{r.get('qido_ms', float('nan')):.1f} | {r.get('qido_n', '')} |"
                )


if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    main()
