"""C-FIND pending responses written straight to the association's socket.

pynetdicom sends each C-FIND response through its whole stack: the identifier is
encoded by pydicom, a C-FIND-RSP message is built and its command set encoded by
pydicom, and the P-DATA primitive travels through the DUL reactor thread, which encodes
the PDU and writes it. That is about 0.6 ms per response here, 3 s for a 5,000-study
answer, where Orthanc needs 0.6 s and issue 7 asks for half of that. Everything in a
pending C-FIND response but the identifier is fixed for a request, so `DirectResponder`
encodes the command set once, wraps each identifier in a P-DATA-TF PDU (PS3.8 9.3.5,
one PDU per response message: a command PDV and a data set PDV, each its message's last
fragment) and writes many PDUs per ``sendall``.

Writing on the socket from the association's thread is safe while the request is being
answered: the DUL reactor only reads then (it sends what the association thread queues,
and that thread is here), and the final response still goes through pynetdicom, after
the pending ones. TLS connections, deflated or big endian syntaxes and identifiers that
do not fit the peer's maximum PDU keep pynetdicom's path (`DirectResponder.for_event`
returns None, `fits` says False).
"""

from __future__ import annotations

import socket
import ssl
import struct
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medbridge.dicom.flat import encode_flat

__all__ = ["DirectResponder", "find_response_command"]

_C_FIND_RSP = 0x8020
_PENDING = 0xFF00
_FLUSH_BYTES = 64 * 1024
_PDU_HEADER = struct.Struct(">BxI")
_PDV_HEADER = struct.Struct(">IBB")


def find_response_command(sop_class_uid: str, message_id: int, status: int) -> bytes:
    """The command set of a C-FIND-RSP with an identifier (PS3.7 9.3.2.2), implicit VR.

    The same elements, in the same order, as pynetdicom's encoding of the message;
    (0000,0800) 'Command Data Set Type' 0x0001 says a data set follows.
    """
    body = encode_flat(
        [
            (0x00000002, "UI", sop_class_uid),
            (0x00000100, "US", _C_FIND_RSP),
            (0x00000120, "US", message_id),
            (0x00000800, "US", 0x0001),
            (0x00000900, "US", status),
        ],
        explicit_vr=False,
    )
    return encode_flat([(0x00000000, "UL", len(body))], explicit_vr=False) + body


class DirectResponder:
    """Buffers pending C-FIND responses as PDUs and writes them to the socket.

    Parameters
    ----------
    sock:
        The association's connected TCP socket (not TLS).
    context_id:
        The presentation context of the request.
    command:
        From `find_response_command`.
    max_pdu:
        The peer's Maximum Length Received (PS3.8 D.1), 0 for no limit.
    explicit_vr:
        Whether the context's transfer syntax is Explicit VR Little Endian.
    """

    def __init__(
        self, sock: socket.socket, context_id: int, command: bytes, max_pdu: int, explicit_vr: bool
    ) -> None:
        self.sock = sock
        self.context_id = context_id
        self.command = command
        self.max_pdu = max_pdu
        self.explicit_vr = explicit_vr
        self.sent = 0
        self._pending: list[bytes] = []
        self._size = 0

    @classmethod
    def for_event(cls, event: Any) -> DirectResponder | None:
        """A responder for a C-FIND request event, or None where pynetdicom must answer."""
        syntax = str(event.context.transfer_syntax)
        if syntax not in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
            return None
        holder = getattr(getattr(event.assoc, "dul", None), "socket", None)
        sock = getattr(holder, "socket", None)
        if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
            return None
        request = event.request
        command = find_response_command(
            str(request.AffectedSOPClassUID), int(request.MessageID), _PENDING
        )
        max_pdu = int(getattr(event.assoc.requestor, "maximum_length", 0) or 0)
        return cls(
            sock,
            int(event.context.context_id),
            command,
            max_pdu,
            explicit_vr=syntax == ExplicitVRLittleEndian,
        )

    def fits(self, identifier: bytes) -> bool:
        """Whether a response with this identifier fits in one PDU the peer accepts."""
        size = 6 + 2 * 6 + len(self.command) + len(identifier)
        return self.max_pdu == 0 or size - 6 <= self.max_pdu

    def pending(self, identifier: bytes) -> None:
        """Queue a pending response; write the queue when it reaches 64 kB."""
        command_pdv = _PDV_HEADER.pack(len(self.command) + 2, self.context_id, 0x03)
        data_pdv = _PDV_HEADER.pack(len(identifier) + 2, self.context_id, 0x02)
        length = len(command_pdv) + len(self.command) + len(data_pdv) + len(identifier)
        pdu = b"".join(
            (_PDU_HEADER.pack(0x04, length), command_pdv, self.command, data_pdv, identifier)
        )
        self._pending.append(pdu)
        self._size += len(pdu)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every queued response.

        Raises
        ------
        OSError
            The connection failed; the association is gone.
        """
        if self._pending:
            self.sock.sendall(b"".join(self._pending))
            self.sent += len(self._pending)
            self._pending.clear()
            self._size = 0
