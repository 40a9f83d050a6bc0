"""A threaded TCP proxy that injects network faults between Locust and a database.

Fault tests need the faults a real network produces after a failover, which a
restarted server cannot give: a peer that goes silent without a FIN or RST (a
hard-fenced old writer, a dead NAT entry), every connection reset at once, added
latency, an endpoint that refuses connections for a few seconds (DNS and the
proxy fleet moving), and an endpoint that leads to another server. Plain threads
and sockets, so it runs inside the pytest process without gevent or locust.

Bounded: it listens only on 127.0.0.1 and connects only to a backend on
127.0.0.1. Contract: /work/wt/_notes/proxy_api.md.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

LOOPBACK = "127.0.0.1"


def _rst_close(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: SO_LINGER on with a zero timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close_listener(listener: socket.socket | None) -> None:
    """Stop listening now: shutdown wakes a thread blocked in accept(), close alone would not."""
    if listener is None:
        return
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    listener.close()


class _Pipe:
    """One proxied connection: the client's socket, the backend's, two pump threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, backend: socket.socket):
        self.proxy = proxy
        self.client = client
        self.backend = backend
        self.silent = False   # set by silence(): this connection never passes a byte again
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        for src, dst in ((self.client, self.backend), (self.backend, self.client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.closed:
                try:
                    ready, _, _ = select.select([src], [], [], 0.2)
                except (OSError, ValueError):
                    break
                if self.closed:
                    break
                if self.silent:
                    # A silent peer: bytes stay unread in the kernel's buffers, nothing
                    # is answered, nothing closed. Sleeping keeps the thread cheap.
                    time.sleep(0.2)
                    continue
                if not ready:
                    continue
                try:
                    data = src.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                delay = self.proxy._delay
                if delay > 0:
                    time.sleep(delay)
                while self.silent and not self.closed:
                    time.sleep(0.1)   # silenced while this chunk was in flight: held until heal()
                try:
                    dst.sendall(data)
                except OSError:
                    break
        finally:
            if not self.silent:
                self.close()

    def drop_backend(self) -> None:
        """Close the server's side only; the client's stays open and unanswered."""
        try:
            self.backend.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, rst: bool = False) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.backend):
            if rst:
                _rst_close(sock)
            else:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
        self.proxy._forget(self)


class FaultProxy:
    """Listens on 127.0.0.1:self.port and forwards every connection to the backend."""

    def __init__(self, backend_port: int, backend_host: str = LOOPBACK):
        self._check_host(backend_host)
        self.backend = (backend_host, int(backend_port))
        self._delay = 0.0
        self._refuse_until = 0.0
        self._pipes: set[_Pipe] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.events: list[tuple[float, str]] = []
        self.port = 0
        self._listener: socket.socket | None = self._listen()
        self.port = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None

    def _listen(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.port))
        sock.listen(256)
        sock.settimeout(0.2)
        return sock

    @staticmethod
    def _check_host(host: str) -> None:
        if host not in (LOOPBACK, "localhost"):
            raise ValueError(f"fault proxy: backend {host!r}: only 127.0.0.1 is allowed")

    def _event(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        self._event("start")
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._lock:
            listener, self._listener = self._listener, None
        _close_listener(listener)
        for pipe in self._snapshot():
            pipe.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._event("stop")

    def __enter__(self) -> FaultProxy:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------
    def silence(self, drop_backend: bool = False) -> None:
        """Every open connection goes silent; new connections still work normally.

        The client sees no answer and no close either way. ``drop_backend``
        also closes the server's side, as a fenced old writer's sessions end:
        the server rolls back their open transactions and frees their locks
        (without it they hold them until heal(), which then cannot resume them).
        """
        for pipe in self._snapshot():
            pipe.silent = True
            if drop_backend:
                pipe.drop_backend()
        self._event("silence")

    def reset_all(self) -> None:
        """Every open connection is closed with an RST on both sides."""
        for pipe in self._snapshot():
            pipe.close(rst=True)
        self._event("reset_all")

    def delay(self, seconds: float) -> None:
        """Add this latency to every chunk in both directions (0 clears it)."""
        self._delay = max(0.0, float(seconds))
        self._event(f"delay {self._delay}")

    def refuse(self, seconds: float) -> None:
        """For this long new connections are refused (ECONNREFUSED: nothing listens), then accepted again.

        Open connections are left alone, as a DNS flip or a proxy fleet moving leaves them.
        """
        with self._lock:
            self._refuse_until = time.monotonic() + float(seconds)
            listener, self._listener = self._listener, None
        _close_listener(listener)
        self._event(f"refuse {seconds}")

    def swap(self, backend_port: int, backend_host: str = LOOPBACK, drop_existing: bool = True) -> None:
        """New connections go to another backend; with drop_existing the open ones are reset."""
        self._check_host(backend_host)
        self.backend = (backend_host, int(backend_port))
        if drop_existing:
            for pipe in self._snapshot():
                pipe.close(rst=True)
        self._event(f"swap {backend_port}")

    def heal(self) -> None:
        """Undo silence and delay: from now on every chunk passes at once (held bytes flow again)."""
        self._delay = 0.0
        for pipe in self._snapshot():
            pipe.silent = False
        self._event("heal")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for p in self._pipes if not p.closed)

    # -- internals -------------------------------------------------------------
    def _snapshot(self) -> list[_Pipe]:
        with self._lock:
            return list(self._pipes)

    def _forget(self, pipe: _Pipe) -> None:
        with self._lock:
            self._pipes.discard(pipe)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:   # refusing: reopen the same port when the time is up
                if time.monotonic() < self._refuse_until:
                    time.sleep(0.05)
                    continue
                with self._lock:
                    if self._stopped.is_set():
                        break
                    self._listener = listener = self._listen()
                self._event("accepting")
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                continue   # closed by refuse() or stop(); the loop decides
            if self._stopped.is_set():
                _rst_close(client)
                break
            client.settimeout(None)
            try:
                backend = socket.create_connection(self.backend, timeout=5)
                backend.settimeout(None)
            except OSError:
                _rst_close(client)
                continue
            for s in (client, backend):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pipe = _Pipe(self, client, backend)
            with self._lock:
                self._pipes.add(pipe)
            pipe.start()
