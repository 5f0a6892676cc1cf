"""A tiny webhook endpoint for the sandbox tests: it records every call and answers POSTs with the
queued ``statuses`` (then 200) and HEAD checks with ``head_status``."""
from __future__ import annotations

import json
import threading
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Headers, bytes]] = []
        self.statuses: list[int] = []
        self.head_status = 200
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        with self._lock:
            self.calls.append((req.method, Headers(req.headers), req.get_data()))
            if req.method == "HEAD":
                status = self.head_status
            else:
                status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)

    @property
    def requests(self) -> list[tuple[Headers, bytes]]:
        """The POSTed deliveries, oldest first."""
        return [(headers, body) for method, headers, body in self.calls if method == "POST"]

    def posts(self) -> list[tuple[Headers, bytes]]:
        return self.requests

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _, body in self.requests]

    def topics(self) -> list[str]:
        return [body["topic"] for body in self.bodies()]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
