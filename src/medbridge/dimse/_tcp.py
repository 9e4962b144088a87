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

import contextlib
import functools
import select
import socket
import ssl
import threading
from typing import Any, cast

from pynetdicom.transport import AssociationSocket

__all__ = [
    "DUL_RUN_LOOP_DELAY",
    "QuickAckSocket",
    "WaitingAssociationSocket",
    "tune_association_socket",
]

#: Longest wait in ``select`` per turn of pynetdicom's DUL reactor (seconds). The wait
#: ends at once when a PDU arrives or when the association's own thread hands the
#: reactor something to send (`WaitingAssociationSocket.wake`), so this bounds only how
#: late the reactor notices its timers and events queued without a wake-up.
READY_WAIT = 0.02

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class QuickAckSocket(socket.socket):
    """A socket that re-arms ``TCP_QUICKACK`` after each read (Linux)."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        if data and _QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return data


class WaitingAssociationSocket(AssociationSocket):
    """pynetdicom's association socket whose `ready` sleeps in ``select`` until needed.

    pynetdicom's DUL reactor polls: it checks the socket with a zero timeout, then the
    queue of primitives to send, then sleeps ``_run_loop_delay`` and starts over. While
    a C-STORE handler waits on its fsyncs (milliseconds), that loop turns hundreds of
    times, each turn taking the GIL from the handler: measured here, a 5 ms wait in the
    handler cost 1.8 ms of CPU and 2 ms of latency per instance. This socket waits in
    ``select`` on the connection and on a wake-up pipe instead; the association thread
    writes to the pipe whenever it queues a primitive for the reactor (`wake`, bound to
    the DUL's ``send_pdu`` by `tune_association_socket`) and when the reactor is told to
    stop, so sending a response is as immediate as receiving a request.

    pynetdicom closes an acceptor's connection without calling this object's ``close``
    (``shutdown_request`` on the raw socket), so the pipe is closed by the reactor
    thread itself as it ends (`_waking_dul`).
    """

    _wake_r: socket.socket | None = None
    _wake_w: socket.socket | None = None

    def arm_wakeup(self) -> None:
        """Create the wake-up pipe (once)."""
        if self._wake_r is None:
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)

    def wake(self) -> None:
        """End the reactor's current wait (from any thread)."""
        wake_w = self._wake_w
        if wake_w is not None:
            with contextlib.suppress(OSError):  # full (a wake-up is pending) or closed
                wake_w.send(b"\0")

    @property
    def ready(self) -> bool:
        sock, wake_r = self.socket, self._wake_r
        if sock is None or not self._is_connected or wake_r is None:
            return bool(super().ready)
        try:
            readable, _, _ = select.select([sock, wake_r], [], [], READY_WAIT)
        except (OSError, ValueError):
            return bool(super().ready)  # pynetdicom's own check reports the closed socket
        if wake_r in readable:
            with contextlib.suppress(OSError):
                wake_r.recv(4096)
        return sock in readable

    def release_wakeup(self) -> None:
        """Close the wake-up pipe; `ready` then waits on the connection alone."""
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        self._wake_r = self._wake_w = None

    def close(self) -> None:
        super().close()
        self.release_wakeup()


#: Seconds pynetdicom's DUL reactor sleeps between polls where it still polls (TLS
#: sockets, which keep their object); its default of 1 ms costs several milliseconds per
#: instance, 0.1 ms keeps ingest near the network's speed at a little idle CPU.
DUL_RUN_LOOP_DELAY = 0.0001


def tune_association_socket(assoc: Any) -> None:
    """Tune an association's connection: no Nagle, quick ACKs, a reactor that waits.

    ``TCP_NODELAY`` always. A plain TCP socket is replaced by a `QuickAckSocket` and its
    holder becomes a `WaitingAssociationSocket` (`_wait_in_select`); TLS sockets keep
    their object (an ``SSLSocket`` cannot be re-wrapped), so their reactor still polls,
    at `DUL_RUN_LOOP_DELAY`. ``_run_loop_delay`` is a private attribute of pynetdicom's
    DUL; when a future version drops it, this leaves the delay alone.
    """
    dul: Any = getattr(assoc, "dul", None)
    holder = getattr(dul, "socket", None)
    sock = getattr(holder, "socket", None)
    if holder is None or not isinstance(sock, socket.socket):
        return
    if hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = DUL_RUN_LOOP_DELAY
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _QUICKACK is None or isinstance(sock, ssl.SSLSocket):
            return
        tuned = QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        tuned.settimeout(sock.gettimeout())
        tuned.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        holder.socket = tuned
        if type(holder) is AssociationSocket:
            _wait_in_select(assoc.dul, holder)
    except OSError:  # the peer went away already; pynetdicom reports that itself
        return


def _wait_in_select(dul: Any, holder: AssociationSocket) -> None:
    """Make `holder` a `WaitingAssociationSocket` woken by what `dul` is given to send.

    Relies on pynetdicom's DUL layout (``send_pdu``, ``_kill_thread``,
    ``_run_loop_delay``); when that changes, the socket stays pynetdicom's own and polls
    as before.
    """
    if not all(hasattr(dul, name) for name in ("send_pdu", "_kill_thread", "_run_loop_delay")):
        return
    holder.__class__ = WaitingAssociationSocket
    waiting = cast(WaitingAssociationSocket, holder)
    waiting.arm_wakeup()
    dul.__dict__["_medbridge_socket"] = waiting
    dul.__class__ = _waking_dul(type(dul))
    send_pdu = dul.send_pdu

    @functools.wraps(send_pdu)
    def send_then_wake(primitive: Any) -> None:
        send_pdu(primitive)
        waiting.wake()

    dul.__dict__["send_pdu"] = send_then_wake
    dul._run_loop_delay = 0  # the wait in `ready` replaces the reactor's sleep


_WAKING: dict[type, type] = {}


def _waking_dul(base: type) -> type:
    """A subclass of pynetdicom's DUL whose stop flag wakes and ends the wait pipe.

    ``_kill_thread`` becomes a property: setting it (``kill_dul``, ``stop_dul``, an
    abort) wakes the reactor so it stops at once, and the reactor reading it as set,
    at the top of its loop just before it returns, closes the pipe from its own thread.
    """

    def get_kill(self: Any) -> bool:
        value = bool(self.__dict__.get("_kill_thread", False))
        if value and threading.current_thread() is self:
            sock = self.__dict__.pop("_medbridge_socket", None)
            if sock is not None:
                sock.release_wakeup()
        return value

    def set_kill(self: Any, value: bool) -> None:
        self.__dict__["_kill_thread"] = value
        sock = self.__dict__.get("_medbridge_socket")
        if value and sock is not None:
            sock.wake()

    if base not in _WAKING:
        attrs = {"_kill_thread": property(get_kill, set_kill)}
        _WAKING[base] = type(f"Waking{base.__name__}", (base,), attrs)
    return _WAKING[base]
