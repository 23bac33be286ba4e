"""A local HTTP server whose misbehaviour each test chooses, and registry builders."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ModelServer", "Route", "entry_data", "make_model", "write_registry"]


@dataclass
class Route:
    """What the server does for one path.

    Attributes:
        body: Bytes it serves.
        status: HTTP status.
        mode: ``ok``; ``truncate`` (announce the whole body, send half, close);
            ``drop`` (send half, then reset the connection); ``stall`` (send the headers,
            then nothing for ``delay`` seconds); ``trickle`` (send the body in 20 pieces
            over ``delay`` seconds).
        content_length: Announced length, when not ``len(body)``.
        delay: Seconds, for ``stall`` and ``trickle``.
    """

    body: bytes
    status: int = 200
    mode: str = "ok"
    content_length: int | None = None
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):  # the tests break connections on purpose
        pass


class ModelServer:
    """An HTTP server on 127.0.0.1 (a free port) that records every request path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                if route.status != 200:
                    self.send_error(route.status)
                    return
                self.send_response(200)
                length = len(route.body) if route.content_length is None else route.content_length
                self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.flush()
                body, half = route.body, len(route.body) // 2
                if route.mode == "ok":
                    self.wfile.write(body)
                elif route.mode == "truncate":
                    self.wfile.write(body[:half])
                    self.close_connection = True
                elif route.mode == "drop":
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    time.sleep(0.05)
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                elif route.mode == "stall":
                    server.stop.wait(route.delay)
                    self.wfile.write(body)
                elif route.mode == "trickle":
                    step = max(1, len(body) // 20)
                    for start in range(0, len(body), step):
                        self.wfile.write(body[start : start + step])
                        self.wfile.flush()
                        server.stop.wait(route.delay / 20)
                else:  # pragma: no cover - a typo in a test
                    raise ValueError(route.mode)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        """The full URL of a path (``/models/a.onnx``)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, **route: Any) -> str:
        """Serve ``body`` at ``path`` (see :class:`Route` for the options); returns its URL."""
        self.routes[path] = Route(body, **route)
        return self.url(path)


def make_model(folder: Path, name: str = "model.onnx", size: int = 50_000, seed: int = 0) -> Path:
    """A file of pseudo-random bytes standing in for a model."""
    data = hashlib.shake_256(f"{name}{seed}".encode()).digest(size)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def entry_data(name: str, data: bytes, urls: list[str], **fields: Any) -> dict[str, Any]:
    """A valid registry entry (as a mapping) for a model's bytes."""
    entry = {
        "name": name,
        "file": fields.pop("file", name.replace(":", "_").replace(".", "_") + ".onnx"),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "urls": urls,
        "license": "MIT",
        "training_data": "synthetic",
        "data_license": "CC0-1.0",
        "input": {"height": 64, "width": 48, "channels": 1},
        "keypoints": ["head", "tail"],
        "metrics": {"error_median_px": 1.25},
    }
    entry.update(fields)
    return entry


def write_registry(path: Path, entries: list[dict[str, Any]]) -> Path:
    """Write a registry YAML file; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path
