"""The cloud PACS: two stateless nodes on one PostgreSQL and one object store, behind HAProxy.

Each node has a data folder of its own holding nothing another node needs: the index is
PostgreSQL, the bytes are in the object store (moto's S3 server). Clients talk only to
the balancer. Losing a node mid-ingest loses nothing it acknowledged; the client
reconnects through the balancer and goes on.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from archive.factory import Spec, make_bytes, make_dataset, write_files
from archive.objectstore import ObjectStore, object_store
from dimse.balancer import Balancer, haproxy
from dimse.peers import MedbridgeServer, free_port, fresh_database, run
from medbridge.dimse import scu

HOST = "127.0.0.1"


@dataclass
class Cluster:
    nodes: list[MedbridgeServer]
    balancer: Balancer
    store: ObjectStore
    bucket: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("cluster")
    url = fresh_database(pg_server, "cluster")
    with object_store() as store:
        bucket = store.new_bucket()
        config = work / "medbridge.toml"
        config.write_text(
            "[server]\n"
            f'index_url = "{url}"\n'
            f'storage_url = "s3://{bucket}/pacs"\n'
            f's3_endpoint_url = "{store.endpoint_url}"\n'
            's3_region = "us-east-1"\ns3_access_key_id = "k"\ns3_secret_access_key = "s"\n'
        )
        ports = [(free_port(), free_port()) for _ in range(2)]
        nodes = [
            MedbridgeServer(
                work / f"node{i}",
                config=config,
                args=["--dimse-port", str(d), "--http-port", str(h)],
            )
            for i, (d, h) in enumerate(ports)
        ]
        for node in nodes:
            node.start()
        try:
            spec = [(f"node{i}", d, h) for i, (d, h) in enumerate(ports)]
            with haproxy(work, spec, balance="first") as balancer:
                yield Cluster(nodes, balancer, store, bucket)
        finally:
            for node in nodes:
                node.__exit__()


def _count(port: int, **keys: str) -> int:
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.SOPInstanceUID = ""
    for k, v in keys.items():
        setattr(ident, k, v)
    return len(scu.find(scu.Peer(HOST, port, ae_title="MEDBRIDGE"), ident))


def test_ingest_through_the_balancer_is_seen_by_every_node(cluster: Cluster, tmp_path: Path):
    """Four storescu processes through HAProxy; each node answers for all instances.

    (HAProxy fills node0 first here; deploy/haproxy.cfg spreads with leastconn.)
    """
    specs = [
        Spec(patient_id="CL1", study=700, series=s, number=n) for s in (1, 2) for n in range(20)
    ]
    folders = [tmp_path / f"s{k}" for k in range(4)]
    for k, folder in enumerate(folders):
        write_files(folder, specs[k::4])
    cmd = ["storescu", "-aec", "MEDBRIDGE", "+sd", HOST, str(cluster.balancer.dimse_port)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda f: run([*cmd, str(f)]), folders))
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    for node in cluster.nodes:
        assert _count(node.port, StudyInstanceUID=Spec(study=700).study_uid) == len(specs)
    keys = cluster.store.client().list_objects_v2(Bucket=cluster.bucket, Prefix="pacs/")
    assert keys["KeyCount"] >= len(specs)
    # nothing of it in the nodes' own folders
    for node in cluster.nodes:
        assert not list(node.data_dir.glob("objects/**/*.dcm"))
    assert httpx.get(f"{cluster.balancer.http_url}/health").json() == {"status": "ok"}


def _send_all(cluster: Cluster, datasets: list[Dataset], kill_after: int) -> list[str]:
    """Send each dataset through the balancer, reconnecting on loss; kill node0 midway.

    Returns the SOP Instance UIDs the archive acknowledged with Success.
    """
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage)
    acked: list[str] = []
    assoc = None
    killed = False
    associations = 0
    for ds in datasets:
        for _attempt in range(40):
            if assoc is None or not assoc.is_established:
                assoc = ae.associate(HOST, cluster.balancer.dimse_port, ae_title="MEDBRIDGE")
                associations += 1
                if not assoc.is_established:
                    time.sleep(0.25)
                    continue
            if len(acked) == kill_after and not killed:
                killed = True
                cluster.nodes[0].stop(sig=signal.SIGKILL)
            try:
                status = assoc.send_c_store(ds)
            except RuntimeError:  # the association died under us (the node was killed)
                status = None
            if status and int(status.Status) == 0:
                acked.append(ds.SOPInstanceUID)
                break
            assoc.abort()
            assoc = None
            time.sleep(0.1)
        else:
            raise AssertionError(f"{ds.SOPInstanceUID} never stored")
    if assoc is not None and assoc.is_established:
        assoc.release()
    # the kill hit the association's node (HAProxy's "first" fills node0): it reconnected
    assert associations >= 2
    return acked


def test_losing_a_node_mid_ingest_loses_nothing_acknowledged(cluster: Cluster, tmp_path: Path):
    specs = [Spec(patient_id="CL2", study=701, number=n) for n in range(60)]
    datasets = [make_dataset(s) for s in specs]
    acked = _send_all(cluster, datasets, kill_after=15)
    assert len(acked) == len(specs)
    survivor = cluster.nodes[1]
    assert _count(survivor.port, StudyInstanceUID=specs[0].study_uid) == len(specs)
    # and each acknowledged instance reads back, byte for byte, from the object store
    out = tmp_path / "got"
    result = scu.get(
        scu.Peer(HOST, survivor.port, ae_title="MEDBRIDGE"),
        _study_identifier(specs[0].study_uid),
        out,
    )
    assert result.failed == 0 and len(result.received) == len(specs)
    # the dead node comes back on its ports and takes its share again
    cluster.nodes[0].start()
    assert _count(cluster.nodes[0].port, StudyInstanceUID=specs[0].study_uid) == len(specs)


def _study_identifier(uid: str) -> Dataset:
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = uid
    return ident


def test_same_bytes_stored_twice_on_two_nodes(cluster: Cluster):
    """An identical resend to the other node is a success, not a conflict."""
    data = make_bytes(Spec(patient_id="CL3", study=702))
    folder_file = Path(cluster.nodes[0].data_dir).parent / "one.dcm"
    folder_file.write_bytes(data)
    for node in cluster.nodes:
        result = run(["storescu", "-aec", "MEDBRIDGE", HOST, str(node.port), str(folder_file)])
        assert result.returncode == 0, result.stderr
    assert _count(cluster.nodes[1].port, StudyInstanceUID=Spec(study=702).study_uid) == 1


def test_two_nodes_store_one_uid_at_once(cluster: Cluster, tmp_path: Path):
    """Both nodes receive the same SOP Instance UID (two contents) many times at once.

    The duplicate policy decides (keep: the first stored wins, the other is refused with
    the policy's status); never a unique-key failure, and the object always holds the
    bytes its index row describes.
    """

    def sender(node: MedbridgeServer, tag: str) -> list[int]:
        ae = AE(ae_title=f"SEND{tag}")
        ae.add_requested_context(CTImageStorage)
        statuses = []
        assoc = ae.associate(HOST, node.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        for n in range(15):
            ds = make_dataset(
                Spec(patient_id="CL4", study=703, number=n, description=f"FROM {tag}")
            )
            statuses.append(int(assoc.send_c_store(ds).Status))
        assoc.release()
        return statuses

    live = [node for node in cluster.nodes if node.proc and node.proc.poll() is None]
    assert len(live) == 2
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(sender, live, ["A", "B"])
    for first, second in zip(a, b, strict=True):
        # exactly one of each pair was stored; the other met the keep policy's refusal
        assert sorted([first, second])[0] == 0, (a, b)
        assert {first, second} <= {0x0000, 0x0111, 0xA900, 0xB000, 0xC000}, (a, b)
    assert _count(live[1].port, StudyInstanceUID=Spec(study=703).study_uid) == 15
    report = run(
        [
            sys.executable, "-m", "medbridge", "archive", "check",
            "--config", str(live[0].config), "--data-dir", str(tmp_path / "checker"),
        ]
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr


def test_stow_through_the_balancer_survives_a_node(cluster: Cluster) -> None:
    """STOW-RS through HAProxy's HTTP side, one node killed midway: every 200 holds."""
    from dicomweb_client.api import DICOMwebClient

    url = f"{cluster.balancer.http_url}/dicom-web"
    specs = [Spec(patient_id="CL5", study=704, number=n) for n in range(30)]
    acked: list[str] = []
    for k, spec in enumerate(specs):
        if k == 10:
            victim = next(n for n in cluster.nodes if n.proc and n.proc.poll() is None)
            victim.stop(sig=signal.SIGKILL)
        for _attempt in range(40):
            try:
                DICOMwebClient(url).store_instances([make_dataset(spec)])
            except Exception:  # 502/503 while HAProxy notices the dead node: send again
                time.sleep(0.25)
                continue
            acked.append(spec.sop_uid)
            break
    assert len(acked) == len(specs)
    survivor = next(n for n in cluster.nodes if n.proc and n.proc.poll() is None)
    found = DICOMwebClient(f"{survivor.http_url}/dicom-web").search_for_instances(
        study_instance_uid=specs[0].study_uid
    )
    assert {ds["00080018"]["Value"][0] for ds in found} == set(acked)
    for node in cluster.nodes:  # bring the cluster back whole for the next test
        if node.proc is None or node.proc.poll() is not None:
            node.start()
