"""TCP settings that remove the per-message stall of DIMSE request/response traffic.

A C-STORE request is a small command PDU followed by the dataset PDUs, and the sender
waits for the response before the next request. With Nagle's algorithm on at the sender
the dataset's last segment waits for the receiver to acknowledge the command segment,
and the receiver's delayed acknowledgement waits up to 40 ms for data to piggyback on:
every message stalls ~40 ms (PEERS.md sees ~45 ms when both ends are DCMTK). Each end
can break the cycle on its own:

- we set ``TCP_NODELAY``, so nothing we send waits for an acknowledgement;
- we turn on ``TCP_QUICKACK`` after every read, so a peer's Nagle wait ends at once:
  senders we do not control (storescu) as our SCP's callers, and DCMTK receivers
  (storescp, Orthanc) whose responses come in more than one write when we send.
  Linux clears the flag on its own, hence the re-arming on each ``recv``.

Against storescp this takes medbridge's C-STORE (``send``, C-MOVE) from ~20 to ~200
instances/s; into medbridge's SCP from storescu, about threefold.

pynetdicom keeps the connected socket in ``Association.dul.socket.socket``; these
helpers replace it with an equivalent object and do nothing when that layout changes.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from typing import Any

from pynetdicom.transport import AssociationSocket

__all__ = ["QuickAckSocket", "WaitingAssociationSocket", "tune_association_socket"]

#: Longest wait for incoming data per turn of pynetdicom's DUL reactor (seconds). The
#: reactor polls the socket and then sleeps; waiting in ``select`` instead wakes the
#: moment a PDU arrives, where the sleep ends late on a busy machine (a 0.1 ms sleep
#: took ~0.4 ms here) and a 512×512 CT from storescu comes in 32 PDUs of 16 kB.
READY_WAIT = 0.0002

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class QuickAckSocket(socket.socket):
    """A socket that re-arms ``TCP_QUICKACK`` after each read (Linux)."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if data and _QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return data


class WaitingAssociationSocket(AssociationSocket):
    """pynetdicom's association socket whose `ready` waits briefly for data."""

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is not None and self._is_connected:
            try:
                readable, _, _ = select.select([sock], [], [], READY_WAIT)
                return bool(readable)
            except (OSError, ValueError):
                pass  # pynetdicom's own check below reports the closed connection
        found = bool(super().ready)
        if not found:  # the reactor no longer sleeps itself: do not let it spin
            time.sleep(READY_WAIT)
        return found


def tune_association_socket(assoc: Any, *, quick_ack: bool) -> None:
    """Set ``TCP_NODELAY`` on an association's socket, and re-arming quick ACKs if asked.

    TLS sockets keep their object (an ``SSLSocket`` cannot be re-wrapped) and get
    ``TCP_NODELAY`` only.
    """
    holder = getattr(getattr(assoc, "dul", None), "socket", None)
    sock = getattr(holder, "socket", None)
    if holder is None or not isinstance(sock, socket.socket):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not quick_ack or _QUICKACK is None or isinstance(sock, ssl.SSLSocket):
            return
        tuned = QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        tuned.settimeout(sock.gettimeout())
        tuned.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        holder.socket = tuned
        if type(holder) is AssociationSocket:
            holder.__class__ = WaitingAssociationSocket
            if hasattr(assoc.dul, "_run_loop_delay"):
                assoc.dul._run_loop_delay = 0  # the wait in `ready` replaces the sleep
    except OSError:  # the peer went away already; pynetdicom reports that itself
        return
