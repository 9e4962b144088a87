"""The one access model on the DIMSE door: known AEs hold a role (or a list of services),
as people and tokens do on the HTTP door, and every request lands in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET_MODEL

from archive.factory import Spec, make_dataset
from dimse.peers import MedbridgeServer
from medbridge.server.config import Role, load_config, services_of

HOST = "127.0.0.1"


def test_roles_map_onto_services(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[aes.A]\nae_title = "A"\nhost = "h"\nport = 1\nrole = "viewer"\n'
        '[aes.B]\nae_title = "B"\nhost = "h"\nport = 1\nrole = "uploader"\n'
        '[aes.C]\nae_title = "C"\nhost = "h"\nport = 1\nservices = ["store"]\n'
        '[aes.D]\nae_title = "D"\nhost = "h"\nport = 1\n'
    )
    loaded = load_config(config, env={})
    assert not loaded.may("A", "store") and loaded.may("A", "get")
    assert loaded.may("B", "store") and loaded.may("B", "mpps") and loaded.may("B", "find")
    assert loaded.may("C", "store") and not loaded.may("C", "find")
    assert all(loaded.may("D", s) for s in services_of(Role.ADMIN))


def _status(ae_title: str, port: int, send: str) -> int:
    ae = AE(ae_title=ae_title)
    if send == "store":
        ae.add_requested_context(CTImageStorage)
    elif send == "find":
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    else:
        ae.add_requested_context(GET_MODEL)
        ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(
        HOST,
        port,
        ae_title="MEDBRIDGE",
        ext_neg=[build_role(CTImageStorage, scp_role=True)] if send == "get" else None,
        evt_handlers=[(evt.EVT_C_STORE, lambda _event: 0x0000)],
    )
    assert assoc.is_established
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = Spec(study=70).study_uid
    try:
        if send == "store":
            return int(
                assoc.send_c_store(make_dataset(Spec(study=70, number=len(ae_title)))).Status
            )
        responses = (
            assoc.send_c_find(ident, StudyRootQueryRetrieveInformationModelFind)
            if send == "find"
            else assoc.send_c_get(ident, GET_MODEL)
        )
        return [int(status.Status) for status, _ in responses if status][-1]
    finally:
        assoc.release()


def test_an_ae_that_may_only_store_cannot_retrieve(tmp_path: Path) -> None:
    config = tmp_path / "medbridge.toml"
    config.write_text(
        "[server]\nrefuse_unknown = true\n"
        f'[aes.MODALITY]\nae_title = "MODALITY"\nhost = "{HOST}"\nport = 104\n'
        'services = ["store"]\n'
        f'[aes.VIEWER]\nae_title = "VIEWER"\nhost = "{HOST}"\nport = 104\nrole = "viewer"\n'
    )
    with MedbridgeServer(tmp_path / "var", config=config) as srv:
        assert _status("MODALITY", srv.port, "store") == 0x0000
        assert _status("MODALITY", srv.port, "find") == 0x0124
        assert _status("MODALITY", srv.port, "get") == 0x0124
        assert _status("VIEWER", srv.port, "store") == 0x0124
        assert _status("VIEWER", srv.port, "find") == 0x0000
        assert _status("VIEWER", srv.port, "get") == 0x0000
        stranger = AE(ae_title="STRANGER")
        stranger.add_requested_context(CTImageStorage)
        assert not stranger.associate(HOST, srv.port, ae_title="MEDBRIDGE").is_established
    trail = [
        json.loads(line) for line in (tmp_path / "var" / "audit.jsonl").read_text().splitlines()
    ]
    seen = [(e["user"], e["event"], e["outcome"]) for e in trail]
    study = Spec(study=70).study_uid
    assert ("MODALITY", "DICOM Instances Transferred", 0) in seen
    assert ("MODALITY", "Security Alert", 4) in seen
    assert ("VIEWER", "Query", 0) in seen
    assert ("VIEWER", "Begin Transferring DICOM Instances", 0) in seen
    assert ("STRANGER", "Security Alert", 4) in seen
    stored = next(e for e in trail if e["event"] == "DICOM Instances Transferred")
    assert stored["studies"] == [study] and stored["door"] == "dimse"
    assert stored["address"] == HOST
