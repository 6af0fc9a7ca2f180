"""A TCP relay on loopback that a test can cut, to stand for a dropped network link.

While cut, it keeps accepting and holding connections but forwards nothing, the way a
dead link swallows packets: callers see deadlines expire rather than a refusal.
"""

from __future__ import annotations

import selectors
import socket
import threading


class CuttableRelay:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        self.listener.setblocking(False)
        selector.register(self.listener, selectors.EVENT_READ)
        peer: dict[socket.socket, socket.socket] = {}
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    upstream = socket.create_connection(self.target)
                    for s in (client, upstream):
                        s.setblocking(False)
                        selector.register(s, selectors.EVENT_READ)
                    peer[client], peer[upstream] = upstream, client
                    self._pairs.append((client, upstream))
                    continue
                if self.cut.is_set():
                    continue  # leave the bytes unread: the link is dead
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for s in (sock, peer[sock]):
                        try:
                            selector.unregister(s)
                        except (KeyError, ValueError):
                            pass
                        s.close()
                    continue
                try:
                    peer[sock].sendall(data)
                except OSError:
                    pass
            if self.cut.is_set():
                self._stop.wait(0.01)  # nothing is read while cut; do not spin
        selector.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()
        for a, b in self._pairs:
            a.close()
            b.close()
