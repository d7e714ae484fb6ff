"""A TCP forwarder between memhub and the PostgreSQL server that can cut a connection on cue.

``cut_on(marker, forward=True)`` arms a one-shot cut: the next client-to-server chunk holding
``marker`` (e.g. ``b"COMMIT"``) is forwarded, the server's reply to it is swallowed, and both
sockets of that connection are closed: the server did carry the command out (it replied), the
client never learns it. That is the one fault where a client cannot know what happened without
asking. With ``forward=False`` the chunk is dropped instead and the connection closed: the
server never saw the command.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self


class Proxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self._target = (host, target_port)
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._forward = True
        self.cuts = 0
        self._swallow: set[int] = set()  # downstream sockets whose next reply is dropped
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_on(self, marker: bytes, *, forward: bool = True) -> None:
        with self._lock:
            self._marker, self._forward = marker, forward

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if not upstream:
                    with self._lock:
                        if src.fileno() in self._swallow:
                            break  # the reply to the cut command: never delivered
                    dst.sendall(chunk)
                    continue
                with self._lock:
                    cut = self._marker is not None and self._marker in chunk
                    forward = self._forward
                    if cut:
                        self._marker = None
                        self.cuts += 1
                        if forward:
                            self._swallow.add(dst.fileno())
                if cut and not forward:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
