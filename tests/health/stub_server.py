"""A scripted HTTP server on 127.0.0.1 for health gate tests (test double, never in the package).

Each path has a script: a list of answers served in order, the last one repeated forever. An answer
is ``(status, body)`` or ``(status, body, headers)``; a dict or list body is sent as JSON. Requests are
recorded (path and lower-cased headers) so tests can assert what the gate sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[Any, ...]


class ScriptedServer:
    def __init__(self, *, fallback: Callable[[str], Answer] | None = None) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fallback = fallback or (lambda path: (404, {"error": f"no script for {path}"}))
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                answer = server.next_answer(path, {k.lower(): v for k, v in self.headers.items()})
                status, body = answer[0], answer[1]
                headers = dict(answer[2]) if len(answer) > 2 else {}
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                    headers.setdefault("Content-Type", "application/json")
                else:
                    data = str(body).encode()
                    headers.setdefault("Content-Type", "text/plain")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self.scripts[path] = list(answers)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def next_answer(self, path: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append((path, headers))
            script = self.scripts.get(path)
            if not script:
                return self.fallback(path)
            return script.pop(0) if len(script) > 1 else script[0]

    def start(self) -> ScriptedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
