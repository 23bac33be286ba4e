"""The annotation page's server: standard-library HTTP on 127.0.0.1 only.

One ``dpk annotate`` per project (a lock file beside it, ``PROJECT.lock``, names the
process) and one writing tab per server: the first tab to open the page gets a write
token; another tab is read-only until the first is closed (it gives the token back) or
has been silent for ``STALE_SECONDS``. Every change the page sends is saved at once (atomically).

API (JSON): ``GET /api/project``, ``POST /api/claim``, ``GET /api/frame/I``,
``PUT /api/frame/I`` (header ``X-Dpk-Token``), ``GET /api/image/I.png``,
``POST /api/heartbeat``, ``POST /api/release`` (a closing tab).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dpk.trainer.labelling.project import (
    PREDICTED,
    Project,
    ProjectError,
    read_frame,
)

__all__ = ["STALE_SECONDS", "AnnotationServer", "ProjectLock", "prefill"]

STALE_SECONDS = 75.0
"""A write token unused this long can be taken by another tab (a tab in the background
sends its heartbeat about once a minute; a closed tab gives its token back at once)."""

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}


class ProjectLock:
    """``PROJECT.lock`` holding the pid of the ``dpk annotate`` serving the project.

    A lock left by a process that is gone (killed) is taken over.
    """

    def __init__(self, project: Path):
        self.path = project.with_name(project.name + ".lock")
        self.held = False

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            ProjectError: Another live process holds it.
        """
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid) and pid != os.getpid():
                    raise ProjectError(
                        f"{self.path.with_suffix('')}: already open in dpk annotate (process "
                        f"{pid}); use that page, or stop it first (delete {self.path} if that "
                        "process is not dpk)"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            self.held = True
            return

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prefill(project: Project, model: str, progress: bool = True) -> int:
    """Fill every frame without labelled points with the model's predictions, marked
    predicted-unreviewed.

    Returns:
        The number of frames filled.

    Raises:
        ProjectError: The model's keypoints differ from the project's.
    """
    from tqdm import tqdm

    from dpk.runtime.predictor import Predictor, resolve_model

    predictor = Predictor(resolve_model(model)[0])
    names = list(predictor.skeleton.names)
    if names != list(project.skeleton.names):
        raise ProjectError(
            f"{model}: its keypoints {names} are not the project's {list(project.skeleton.names)}"
        )
    todo = [f for f in project.frames.values() if not f.n_labelled and not f.done]
    cache: dict = {}
    for frame in tqdm(todo, desc="pre-filling", unit="frame", disable=not progress):
        image = read_frame(project.videos[frame.video], frame.index, cache)
        points = np.asarray(predictor.predict(image, frame_order="bgr"), np.float64)
        frame.xy = points[:, :2].copy()
        frame.score = points[:, 2].astype(np.float32)
        finite = np.isfinite(frame.xy).all(axis=1)
        frame.state = np.where(finite, PREDICTED, 0).astype(np.int8)
    return len(todo)


class AnnotationServer:
    """Serve one project's annotation page.

    Args:
        project: The project (its videos checked by the caller).
        port: The port (0 = any free port).
        host: Always 127.0.0.1 unless a caller really means otherwise.
    """

    def __init__(self, project: Project, port: int = 0, host: str = "127.0.0.1"):
        self.project = project
        self.host = host
        self.order = list(project.frames)
        self.lock = threading.Lock()
        self.token: str | None = None
        self.token_seen = 0.0
        self.captures: dict = {}
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        """The page's address."""
        port = self.httpd.server_address[1]
        return f"http://{self.host}:{port}/"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or Ctrl-C in the caller)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> threading.Thread:
        """Serve in a background thread (for tests and notebooks)."""
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        """Stop serving and close the videos."""
        self.httpd.shutdown()
        self.httpd.server_close()
        for capture in self.captures.values():
            capture.release()

    # ------------------------------------------------------------------ API
    def claim(self, token: str | None) -> dict[str, Any]:
        """Give the write token to a tab (its own again after a reload), or read-only."""
        now = time.monotonic()
        with self.lock:
            if token and token == self.token:
                self.token_seen = now
                return {"token": token, "readonly": False}
            if self.token is None or now - self.token_seen > STALE_SECONDS:
                self.token = secrets.token_hex(16)
                self.token_seen = now
                return {"token": self.token, "readonly": False}
        return {
            "token": None,
            "readonly": True,
            "reason": "this project is open in another tab: this tab is read-only",
        }

    def release(self, token: str | None) -> None:
        """A tab closed (or reloads): its write token is free at once."""
        with self.lock:
            if token and token == self.token:
                self.token = None

    def heartbeat(self, token: str | None) -> bool:
        """Keep a tab's write token; False when the token is not (any longer) the writer's."""
        with self.lock:
            if token and token == self.token:
                self.token_seen = time.monotonic()
                return True
        return False

    def project_json(self) -> dict[str, Any]:
        """Skeleton and frame list."""
        sk = self.project.skeleton
        names = list(sk.names)
        return {
            "path": str(self.project.path),
            "names": names,
            "edges": [[p, c] for c, p in sk.edges],
            "swaps": sk.swap_indices,
            "frames": [
                {
                    "video": self.project.videos[k[0]].name,
                    "index": k[1],
                    "status": self.project.frames[k].status,
                    "added": self.project.frames[k].added,
                }
                for k in self.order
            ],
        }

    def frame(self, i: int) -> dict[str, Any]:
        """One frame's points."""
        data = self.project.frames[self.order[i]].to_json()
        data["position"] = i
        return data

    def update(self, i: int, data: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Apply and save one frame's points.

        Raises:
            PermissionError: The token is not the writer's.
        """
        with self.lock:
            if not token or token != self.token:
                raise PermissionError("this tab is read-only (the project is open in another tab)")
            self.token_seen = time.monotonic()
            frame = self.project.frames[self.order[i]]
            before = (frame.xy.copy(), frame.state.copy(), frame.score.copy(), frame.done)
            frame.update_from_json(data)
            try:
                self.project.save()
            except Exception:
                frame.xy, frame.state, frame.score, frame.done = before
                raise
        return self.frame(i)

    def image_png(self, i: int) -> bytes:
        """The frame's pixels as PNG."""
        import cv2

        video, index = self.order[i]
        with self.lock:
            image = read_frame(self.project.videos[video], index, self.captures)
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise ProjectError(f"frame {index}: cannot encode as PNG")
        return encoded.tobytes()


def _handler(server: AnnotationServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the terminal shows only dpk's own lines

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: Any, status: int = 200) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _error(self, status: int, message: str) -> None:
            self._json({"error": message}, status)

        def _position(self, prefix: str, suffix: str = "") -> int | None:
            text = self.path[len(prefix) :]
            if suffix and text.endswith(suffix):
                text = text[: -len(suffix)]
            try:
                i = int(text)
            except ValueError:
                return None
            return i if 0 <= i < len(server.order) else None

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            try:
                if self.path in _STATIC:
                    name, kind = _STATIC[self.path]
                    body = resources.files("dpk.trainer.labelling").joinpath("static", name)
                    self._send(200, body.read_bytes(), kind)
                elif self.path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                elif self.path == "/api/project":
                    self._json(server.project_json())
                elif self.path.startswith("/api/frame/"):
                    i = self._position("/api/frame/")
                    if i is None:
                        return self._error(404, "no such frame")
                    self._json(server.frame(i))
                elif self.path.startswith("/api/image/"):
                    i = self._position("/api/image/", ".png")
                    if i is None:
                        return self._error(404, "no such frame")
                    self._send(200, server.image_png(i), "image/png")
                else:
                    self._error(404, "not found")
            except ProjectError as error:
                self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError:
                return self._error(400, "the request is not JSON")
            token = self.headers.get("X-Dpk-Token")
            if self.path == "/api/claim":
                self._json(server.claim(body.get("token") if isinstance(body, dict) else None))
            elif self.path == "/api/release":
                server.release(body.get("token") if isinstance(body, dict) else None)
                self._json({})
            elif self.path == "/api/heartbeat":
                self._json({"writer": server.heartbeat(token)})
            else:
                self._error(404, "not found")

        def do_PUT(self) -> None:
            if not self.path.startswith("/api/frame/"):
                return self._error(404, "not found")
            i = self._position("/api/frame/")
            if i is None:
                return self._error(404, "no such frame")
            try:
                body = self._body()
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                return self._error(400, "the request is not a JSON object")
            try:
                self._json(server.update(i, body, self.headers.get("X-Dpk-Token")))
            except PermissionError as error:
                self._error(HTTPStatus.CONFLICT, str(error))
            except ProjectError as error:
                self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))
            except Exception as error:  # a failed save: the page keeps the change and retries
                self._error(500, f"not saved: {error}")

    return Handler
