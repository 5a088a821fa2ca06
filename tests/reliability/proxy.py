"""A loopback TCP proxy that cuts connections on cue, to fault S3 and PostgreSQL traffic for real.

Example::

    proxy = CuttingProxy("127.0.0.1", 5432)   # listens on 127.0.0.1:<proxy.port>
    proxy.cut_after_bytes = 200_000           # each connection dies after 200 kB towards the server
    proxy.cut_after_pattern = b"COMMIT"       # or: pass the COMMIT on, then cut before the reply
    proxy.stop()

A cut ends the connection in both directions at once (shutdown, then a reset), as when a
network path or a server dies.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class CuttingProxy:
    """Forward 127.0.0.1:<port> to ``host:port``; cut connections when the configured cue comes.

    Attributes:
        cut_after_bytes: Cut a connection once it has carried this many bytes towards the server.
        cut_after_pattern: Cut a connection once these bytes went towards the server: they are
            delivered, then after ``pattern_delay`` seconds both sides are reset, so the server
            acts on them but its reply never arrives (with ``forward_pattern=False`` they are
            not delivered at all). One-shot: cleared after the cut.
        link_down_after: ``(pattern, n)``: the link dies for good when a request containing
            ``pattern`` comes for the (n+1)-th time: that request is not delivered, every open
            connection is reset at its next byte and new ones are refused (sets ``refuse``).
        refuse: Reset new connections, and open ones at their next byte.
        cuts: How many connections were cut (or refused).
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut_after_bytes: int | None = None
        self.cut_after_pattern: bytes | None = None
        self.pattern_delay = 0.3
        self.forward_pattern = True
        self.link_down_after: tuple[bytes, int] | None = None
        self.refuse = False
        self.cuts = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stopped = False
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True, name="cutting-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopped = True
        self._server.close()
        with self._lock:
            for sock in list(self._sockets):
                _reset(sock)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.refuse:
                self._count_cut()
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            state = {"sent": 0, "dead": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _count_cut(self) -> None:
        with self._lock:
            self.cuts += 1

    def _cut(self, a: socket.socket, b: socket.socket, state: dict) -> None:
        if not state["dead"]:
            state["dead"] = True
            self._count_cut()
        _reset(a)
        _reset(b)

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, towards_server: bool) -> None:
        try:
            while not state["dead"]:
                data = src.recv(65536)
                if not data:
                    break
                if self.refuse:
                    self._cut(src, dst, state)
                    return
                if towards_server:
                    trigger = self.link_down_after
                    if trigger is not None and trigger[0] in data:
                        with self._lock:
                            self.link_down_after = (trigger[0], trigger[1] - 1)
                            if trigger[1] <= 0:
                                self.refuse = True
                        if self.refuse:
                            self._cut(src, dst, state)
                            return
                    limit = self.cut_after_bytes
                    if limit is not None and state["sent"] + len(data) > limit:
                        dst.sendall(data[: max(0, limit - state["sent"])])
                        self._cut(src, dst, state)
                        return
                    pattern = self.cut_after_pattern
                    if pattern is not None and pattern in data:
                        self.cut_after_pattern = None
                        state["dead"] = True  # the reply must not get through
                        self._count_cut()
                        if self.forward_pattern:
                            dst.sendall(data)
                        time.sleep(self.pattern_delay)
                        _reset(src)
                        _reset(dst)
                        return
                    state["sent"] += len(data)
                elif state["dead"]:
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not state["dead"]:  # a clean end: pass the EOF on; a cut resets instead
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


def _reset(sock: socket.socket) -> None:
    """End a connection now, for both peers.

    ``close()`` alone is not enough: while another thread is blocked in ``recv`` on the socket,
    the kernel keeps it open and the peer never hears of it (a server would keep the client's
    transaction, and its locks, open forever). ``shutdown()`` ends it at once and wakes that
    thread; the zero linger makes the final close a reset.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
