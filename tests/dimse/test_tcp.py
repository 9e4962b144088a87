"""TCP tuning of associations (dimse/_tcp.py): no Nagle, quick ACKs, waiting reads."""

from __future__ import annotations

import os
import socket
import time

from pydicom.dataset import Dataset
from pynetdicom import AE

from dimse.peers import MedbridgeServer
from medbridge.archive import Archive, QueryModel
from medbridge.dimse import scu, server
from medbridge.dimse._tcp import QuickAckSocket, WaitingAssociationSocket
from medbridge.server.config import ServerConfig

HOST = "127.0.0.1"


class TestTunedSockets:
    def test_our_associations_are_tuned(self, tmp_path):
        """An association we request has TCP_NODELAY, quick ACKs and the waiting reader."""
        with MedbridgeServer(tmp_path / "var") as srv:
            ae = AE(ae_title="PROBE")
            ae.add_requested_context("1.2.840.10008.1.1")
            peer = scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE")
            with scu._associate(ae, peer) as assoc:
                holder = assoc.dul.socket
                sock = holder.socket
                nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                assert int(assoc.send_c_echo().Status) == 0
        assert nodelay == 1
        assert isinstance(sock, QuickAckSocket)
        assert isinstance(holder, WaitingAssociationSocket)

    def test_every_response_arrives(self, tmp_path, corpus_dir):
        """Tuned sockets on both ends still carry every C-FIND response of a query."""
        with MedbridgeServer(tmp_path / "var") as srv:
            peer = scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE")
            assert scu.send(peer, [corpus_dir]).failed == []
            ident = Dataset()
            ident.QueryRetrieveLevel = "IMAGE"
            ident.SOPInstanceUID = ""
            ident.InstanceNumber = ""
            found = scu.find(peer, ident, model=QueryModel.STUDY_ROOT)
        assert len(found) == 13
        assert len({ds.SOPInstanceUID for ds in found}) == 13


class TestWakeupPipe:
    def test_no_descriptor_left_per_association(self, tmp_path):
        """Associations to an in-process server leave no open descriptors behind."""
        arc = Archive(tmp_path / "var")
        srv = server.start(ServerConfig(data_dir=tmp_path / "var", dimse_port=0, bind=HOST), arc)
        try:

            def echo() -> None:
                ae = AE(ae_title="PROBE")
                ae.add_requested_context("1.2.840.10008.1.1")
                assoc = ae.associate(HOST, srv.port, ae_title="MEDBRIDGE")
                assert int(assoc.send_c_echo().Status) == 0
                assoc.release()

            echo()
            time.sleep(0.3)
            before = len(os.listdir("/proc/self/fd"))
            for _ in range(5):
                echo()
            time.sleep(0.3)
            after = len(os.listdir("/proc/self/fd"))
        finally:
            srv.stop()
            arc.close()
        assert after == before
