"""C-FIND responses written directly (dimse/_direct.py, dicom/flat.py) against pynetdicom's."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_messages import C_FIND_RSP, DIMSEMessage
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import P_DATA_TF

from archive.factory import corpus, make_bytes
from medbridge.archive import Archive, answer_dataset
from medbridge.dicom.flat import NotFlat, encode_flat
from medbridge.dimse import _direct, server
from medbridge.server.config import ServerConfig

HOST = "127.0.0.1"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"

ANSWERS = {
    "study": [
        (0x00080005, "CS", "ISO_IR 192"),
        (0x00080020, "DA", "20240115"),
        (0x00080052, "CS", "STUDY"),
        (0x00080054, "AE", "MEDBRIDGE"),
        (0x00080061, "CS", ["CT", "PT"]),
        (0x00100010, "PN", "Müller^Jürgen=ミュラー"),
        (0x00100020, "LO", "PID1"),
        (0x0020000D, "UI", "1.2.3.45"),
        (0x00201208, "IS", "17"),
    ],
    "empty-values": [
        (0x00080005, "CS", "ISO_IR 192"),
        (0x00080050, "SH", None),
        (0x00080052, "CS", "IMAGE"),
        (0x00200013, "IS", ""),
        (0x00280010, "US", 512),
    ],
}


def _answer_bytes(elements, explicit):
    return encode(answer_dataset(elements), not explicit, True, False)


class TestEncodeFlat:
    @pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "implicit"])
    @pytest.mark.parametrize("name", ANSWERS)
    def test_same_bytes_as_pydicom(self, name, explicit):
        """An answer encodes to exactly what pydicom's writer makes of it."""
        elements = ANSWERS[name]
        assert encode_flat(elements, explicit_vr=explicit) == _answer_bytes(elements, explicit)

    def test_empty_sequence_decodes_like_pydicom(self):
        """An empty SQ (defined length 0) decodes to the empty sequence pydicom writes."""
        elements = [(0x00080052, "CS", "STUDY"), (0x00081110, "SQ", [])]
        ours = decode(BytesIO(encode_flat(elements, explicit_vr=True)), False, True)
        assert ours == decode(BytesIO(_answer_bytes(elements, True)), False, True)

    @pytest.mark.parametrize("value", [b"\x00\x01", 1.5, [1, 2]], ids=["bytes", "float", "ints"])
    def test_other_values_are_refused(self, value):
        """Values outside the flat kinds raise NotFlat, so callers use pydicom."""
        with pytest.raises(NotFlat):
            encode_flat([(0x00100010, "PN", value)], explicit_vr=True)

    def test_non_ascii_uid_is_refused(self):
        """A UID is digits and dots (PS3.5 9.1): anything else is not written."""
        with pytest.raises(NotFlat, match="not ASCII"):
            encode_flat([(0x00080018, "UI", "1.2.٣")], explicit_vr=True)


class TestResponsePdu:
    @pytest.mark.parametrize("uid", [STUDY_FIND, PATIENT_FIND])
    def test_command_set_is_pynetdicoms(self, uid):
        """The command set equals pynetdicom's encoding of the same C-FIND-RSP."""
        rsp = C_FIND()
        rsp.MessageIDBeingRespondedTo = 7
        rsp.AffectedSOPClassUID = uid
        rsp.Status = 0xFF00
        rsp.Identifier = BytesIO(b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
        msg = C_FIND_RSP()
        msg.primitive_to_message(rsp)
        command = next(iter(msg.encode_msg(1, 0))).presentation_data_value_list[0][1][1:]
        assert _direct.find_response_command(uid, 7, 0xFF00) == command

    def test_pdu_decodes_as_one_response(self):
        """A written PDU is a complete C-FIND-RSP to pynetdicom's own decoder."""
        identifier = encode_flat(ANSWERS["study"], explicit_vr=False)
        sent = []

        class Sink:
            def sendall(self, data):
                sent.append(data)

        command = _direct.find_response_command(STUDY_FIND, 3, 0xFF00)
        responder = _direct.DirectResponder(Sink(), 5, command, 0, explicit_vr=False)
        responder.pending(identifier)
        responder.flush()
        pdu = P_DATA_TF()
        pdu.decode(sent[0])
        msg = DIMSEMessage()
        assert msg.decode_msg(pdu.to_primitive())
        assert isinstance(msg, C_FIND_RSP)
        assert msg.context_id == 5
        assert msg.command_set.Status == 0xFF00
        assert msg.command_set.MessageIDBeingRespondedTo == 3
        assert msg.data_set.getvalue() == identifier
        assert responder.sent == 1

    def test_fits_the_peers_maximum(self):
        """An identifier is sent directly only if its PDU fits the peer's maximum length."""
        command = _direct.find_response_command(STUDY_FIND, 1, 0xFF00)
        responder = _direct.DirectResponder(None, 1, command, 4096, explicit_vr=True)
        assert responder.fits(b"x" * 3000)
        assert not responder.fits(b"x" * 4096)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """An in-process server holding the factory corpus."""
    data_dir = tmp_path_factory.mktemp("direct") / "var"
    with Archive(data_dir) as arc:
        for spec in corpus():
            arc.store(make_bytes(spec))
    arc = Archive(data_dir)
    srv = server.start(ServerConfig(data_dir=data_dir, dimse_port=0, bind=HOST), arc)
    yield srv
    srv.stop()
    arc.close()


def _find(port, identifier, syntax, model=STUDY_FIND):
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(model, [syntax])
    assoc = ae.associate(HOST, port, ae_title="MEDBRIDGE")
    assert assoc.is_established
    try:
        got = [(int(st.Status), ds) for st, ds in assoc.send_c_find(identifier, model)]
    finally:
        assoc.release()
    assert got[-1][0] == 0x0000
    return [ds for status, ds in got if status == 0xFF00]


QUERIES = {
    "studies": ("STUDY", ["StudyInstanceUID", "PatientName", "ModalitiesInStudy",
                          "NumberOfStudyRelatedInstances", "StudyDate", "RetrieveAETitle"]),
    "series": ("SERIES", ["SeriesInstanceUID", "Modality", "SeriesNumber",
                          "NumberOfSeriesRelatedInstances"]),
    "images-from-files": ("IMAGE", ["SOPInstanceUID", "InstanceNumber", "Rows", "PixelSpacing"]),
}  # fmt: skip


class TestDirectAgainstPynetdicom:
    @pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    @pytest.mark.parametrize("name", QUERIES)
    def test_same_answers(self, in_process, monkeypatch, name, syntax):
        """Every query gets the same identifiers, in order, directly and through pynetdicom."""
        level, keys = QUERIES[name]
        identifier = Dataset()
        identifier.QueryRetrieveLevel = level
        for kw in keys:
            setattr(identifier, kw, None)
        direct = _find(in_process.port, identifier, syntax)
        monkeypatch.setattr(_direct.DirectResponder, "for_event", classmethod(lambda c, e: None))
        plain = _find(in_process.port, identifier, syntax)
        assert len(direct) == len(plain) > 1
        assert direct == plain
        assert all(ds.RetrieveAETitle == "MEDBRIDGE" for ds in direct)
